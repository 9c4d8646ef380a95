package redis

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/kombu"
)

// TestQueueInspector lists a queue over its priority buckets in pages in
// the order a worker takes them, then removes, moves and purges by name.
func TestQueueInspector(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	const q = "inspect"
	eta := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	send := func(name string, prio int, opts ...celery.SendOption) string {
		t.Helper()
		r, err := c.SendTask(ctx, name, append(opts, celery.Queue(q), celery.Priority(prio))...)
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	// Taken order: bucket 0 first (oldest first), then bucket 3, 6, 9.
	a := send("tasks.add", 9, celery.Args(1, 2))
	b := send("tasks.mul", 0, celery.Args(3, 4))
	e := send("tasks.add", 6, celery.ETA(eta), celery.Args(5, 6))
	big := send("tasks.echo", 0, celery.Args(strings.Repeat("x", 100<<10)))
	srv.Do(t, "LPUSH", kombu.QueueKey(q, 3), "not json")
	want := []string{b, big, "", e, a}

	var got []celery.PendingMessage
	cursor := ""
	for range 10 {
		page, err := c.PendingMessages(ctx, q, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Messages...)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d messages, want %d: %+v", len(got), len(want), got)
	}
	for i, m := range got {
		if m.TaskID != want[i] {
			t.Errorf("message %d: task id %q, want %q", i, m.TaskID, want[i])
		}
	}
	if m := got[0]; m.Task != "tasks.mul" || m.Args != "(3, 4)" || m.Priority != 0 || m.Size == 0 || m.Error != "" {
		t.Errorf("first message: %+v", m)
	}
	if m := got[1]; m.Task != "tasks.echo" || m.Error == "" || m.Size < 100<<10 || len(m.Args) > celery.MaxReprLen {
		t.Errorf("large message: %+v", m)
	}
	if m := got[2]; m.Error == "" || m.Size != len("not json") {
		t.Errorf("malformed message: %+v", m)
	}
	if m := got[3]; m.ETA == nil || !m.ETA.Equal(eta) || m.Priority != 6 {
		t.Errorf("ETA message: %+v", m)
	}
	if _, err := c.PendingMessages(ctx, q, "7:0", 2); !errors.Is(err, celery.ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}

	// Remove one by id: REVOKED is stored for it.
	if _, err := c.RemovePending(ctx, q, b); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemovePending(ctx, q, b); !errors.Is(err, celery.ErrMessageNotFound) {
		t.Errorf("second removal: %v", err)
	}
	meta, err := c.Results().GetMax(ctx, b, 0)
	if err != nil || meta.Status != celery.StateRevoked {
		t.Errorf("removed task's state %+v (%v), want REVOKED", meta, err)
	}
	// The large one is removed by id too (read whole to match it).
	if _, err := c.RemovePending(ctx, q, big); err != nil {
		t.Fatal(err)
	}
	// Move the tasks.add messages to another queue, priorities kept.
	if n, err := c.MovePending(ctx, q, "inspect.other", celery.MessageFilter{Task: "tasks.add"}); err != nil || n != 2 {
		t.Fatalf("moved %d (%v), want 2", n, err)
	}
	if l, _ := c.Broker().QueueLengths(ctx, "inspect.other"); l[2] != 1 || l[3] != 1 {
		t.Errorf("moved buckets %v", l)
	}
	// Purge by name.
	if n, err := c.PurgeTask(ctx, "inspect.other", "tasks.add"); err != nil || n != 2 {
		t.Fatalf("purged %d (%v), want 2", n, err)
	}
	if n, _ := c.Broker().QueueLength(ctx, q); n != 1 { // the malformed one
		t.Errorf("left %d in %s, want 1", n, q)
	}
	if n, _ := c.Broker().QueueLength(ctx, "inspect.other"); n != 0 {
		t.Errorf("left %d in inspect.other", n)
	}
}
