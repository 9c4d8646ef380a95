package redis

import (
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/kombu"
)

// TestDeferKeepsHeldMessage: a deferred delivery is left alone by the
// visibility sweep until its Until plus the visibility timeout, then
// restored; a deferral of an acknowledged delivery brings nothing back.
func TestDeferKeepsHeldMessage(t *testing.T) {
	const vt = time.Second
	c, srv := newTestClient(t, WithVisibilityTimeout(vt))
	ctx := testCtx(t)
	for range 2 {
		if _, err := c.SendTask(ctx, "tasks.add", celery.Args(1, 2), celery.Queue("defer")); err != nil {
			t.Fatal(err)
		}
	}
	cons := c.Broker().NewConsumer("defer")
	defer cons.Close()
	held, err := cons.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acked, err := cons.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Broker().Ack(ctx, acked); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(2 * vt)
	if err := c.Broker().Defer(ctx, celery.Deferral{Delivery: held, Until: until}, celery.Deferral{Delivery: acked, Until: until}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Do(t, "ZCARD", kombu.UnackedIndexKey); n != int64(1) {
		t.Fatalf("unacked_index holds %v entries, want 1 (ZADD XX must not bring back an acked tag)", n)
	}
	// Past the visibility timeout, but not past Until + it: kept.
	time.Sleep(vt + 200*time.Millisecond)
	if n, err := c.Broker().RestoreVisible(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before until+vt restored %d (%v)", n, err)
	}
	time.Sleep(time.Until(until.Add(vt + 100*time.Millisecond)))
	if n, err := c.Broker().RestoreVisible(ctx); err != nil || n != 1 {
		t.Fatalf("sweep after until+vt restored %d (%v), want 1", n, err)
	}
	if n, err := c.Broker().QueueLength(ctx, "defer"); err != nil || n != 1 {
		t.Fatalf("queue length %d (%v), want 1", n, err)
	}
}
