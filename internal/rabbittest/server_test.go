package rabbittest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestNode boots a private node with an AMQPS listener, makes a vhost,
// talks TLS with the client certificate (and is refused without one),
// stops and starts the node again (the vhost survives) and closes it.
func TestNode(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a RabbitMQ node (~20 s)")
	}
	n, err := New(WithTLS())
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

	if err := tlsAnswers(n, true); err != nil {
		t.Fatalf("AMQPS with the client certificate: %v", err)
	}
	if err := tlsAnswers(n, false); err == nil {
		t.Fatal("AMQPS without a client certificate answered")
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if amqpAnswers(n.Port()) {
		t.Fatal("AMQP port answers after Stop")
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	out, err = n.Ctl(ctx, "list_vhosts")
	if err != nil || !strings.Contains(out, url[strings.LastIndex(url, "/")+1:]) {
		t.Fatalf("vhost after a restart: %q, %v", out, err)
	}
}

// tlsAnswers sends the AMQP header over TLS to n's AMQPS port and reads
// the first byte of the answer (a method frame).
func tlsAnswers(n *Node, withCert bool) error {
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(n.TLS().CA)
	if err != nil {
		return err
	}
	pool.AppendCertsFromPEM(ca)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if withCert {
		pair, err := tls.LoadX509KeyPair(n.TLS().ClientCert, n.TLS().ClientKey)
		if err != nil {
			return err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.TLSPort())), cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		return err
	}
	b := make([]byte, 1)
	if _, err := c.Read(b); err != nil {
		return err
	}
	if b[0] != 1 {
		return fmt.Errorf("frame type %d", b[0])
	}
	return nil
}
