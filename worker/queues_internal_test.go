package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
)

// TestWorkerRefusesReservedQueues: -Q (WithQueues) and add_consumer refuse
// a queue that is a key of the transport or the result backend.
func TestWorkerRefusesReservedQueues(t *testing.T) {
	broker, err := credis.NewBroker("redis://127.0.0.1:1/0") // never dialled
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := New(broker, nil, NewServeMux(), WithQueues("celery", "unacked"), WithLogger(log))
	if err := w.Run(context.Background()); !errors.Is(err, celery.ErrInvalidQueue) {
		t.Fatalf("Run with queue unacked = %v, want ErrInvalidQueue", err)
	}
	w = New(broker, nil, NewServeMux(), WithLogger(log))
	for _, q := range []string{"_kombu.binding.reply.celery.pidbox", "unacked_mutex", "x.reply.celery.pidbox"} {
		_, err := w.dispatchControl(context.Background(), "add_consumer", map[string]any{"queue": q})
		if err == nil || !strings.Contains(err.Error(), "invalid queue name") {
			t.Errorf("add_consumer(%q) = %v, want a ValueError", q, err)
		}
	}
	if qs := w.Queues(); !slices.Equal(qs, []string{"celery"}) {
		t.Errorf("queues after refused add_consumer: %v", qs)
	}
	if _, err := w.dispatchControl(context.Background(), "add_consumer", map[string]any{"queue": "jobs"}); err != nil {
		t.Errorf("add_consumer(jobs) = %v", err)
	}
}
