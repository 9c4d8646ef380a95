package redis

import (
	"errors"
	"strings"
	"testing"

	"github.com/celeriac/celeriac/celery"
)

// TestMaxMessageSize: a message over the consumer's limit comes as a
// delivery with ErrMessageTooLarge, its size and id, both from the
// blocking pop (idle consumer) and from the batch pop script (measured
// in Redis); it is not recorded in unacked; the messages around it are.
func TestMaxMessageSize(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	big := func(id string) string {
		return `{"body": "` + strings.Repeat("A", 4096) + `", "headers": {"task": "t", "id": "` + id + `"}, "properties": {"correlation_id": "` + id + `", "body_encoding": "base64", "delivery_tag": "tag-` + id + `"}}`
	}
	cons := c.Broker().NewConsumer("celery")
	defer cons.Close()
	cons.SetMaxMessageSize(1024)
	srv.Do(t, "LPUSH", "celery", big("idle"))
	ds, err := cons.ReceiveBatch(ctx, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("ReceiveBatch = %v, %v", ds, err)
	}
	check := func(d *celery.Delivery, id string) {
		t.Helper()
		if !errors.Is(d.Err, celery.ErrMessageTooLarge) || !errors.Is(d.Err, celery.ErrMalformedMessage) || d.Raw != nil || d.Size < 4096 || d.Tracked || d.Queue != "celery" {
			t.Errorf("oversized delivery %+v", d)
		}
		if got, _ := d.Identify(); got != id {
			t.Errorf("Identify() = %q, want %q", got, id)
		}
	}
	check(ds[0], "idle")
	if _, err := c.SendTask(ctx, "t", celery.TaskID("before")); err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "LPUSH", "celery", big("batched"))
	if _, err := c.SendTask(ctx, "t", celery.TaskID("after")); err != nil {
		t.Fatal(err)
	}
	var got []*celery.Delivery
	for len(got) < 3 {
		ds, err := cons.ReceiveBatch(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ds...)
	}
	check(got[1], "batched")
	for _, i := range []int{0, 2} {
		if got[i].Err != nil || !got[i].Tracked {
			t.Errorf("delivery %d around the oversized one: %+v", i, got[i])
		}
	}
	if n := srv.Do(t, "HLEN", "unacked"); n != int64(2) {
		t.Errorf("unacked = %v, want the 2 valid messages", n)
	}
}
