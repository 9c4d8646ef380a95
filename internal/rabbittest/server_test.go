package rabbittest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNode boots a private node, makes a vhost and stops the node.
func TestNode(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a RabbitMQ node (~20 s)")
	}
	n, err := New()
	if errors.Is(err, ErrNoRabbitMQ) && !Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if !amqpAnswers(n.Port()) {
		t.Fatal("AMQP port does not answer")
	}
	url := n.VHost(t)
	if !strings.HasPrefix(url, "amqp://guest:guest@127.0.0.1:") {
		t.Fatalf("URL %q", url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.Ctl(ctx, "list_vhosts")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, url[strings.LastIndex(url, "/")+1:]) {
		t.Fatalf("vhost missing from %q", out)
	}
}
