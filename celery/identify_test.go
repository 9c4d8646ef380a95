package celery

import (
	"errors"
	"strings"
	"testing"

	"github.com/celeriac/celeriac/internal/kombu"
)

func TestIdentify(t *testing.T) {
	for _, tc := range []struct {
		name     string
		d        *Delivery
		id, task string
	}{
		{"parsed envelope", &Delivery{Envelope: &kombu.Envelope{Headers: map[string]any{"id": "a", "task": "t"}}}, "a", "t"},
		{"id of the wrong type: correlation id", &Delivery{Envelope: &kombu.Envelope{Headers: map[string]any{"id": 5}, Properties: kombu.Properties{CorrelationID: "c"}}}, "c", ""},
		{"over the limit", &Delivery{TaskID: "big"}, "big", ""},
		{"JSON that is no envelope", &Delivery{Raw: []byte(`{"headers": {"id": "j", "task": "t"}}`)}, "j", "t"},
		{"JSON with a correlation id only", &Delivery{Raw: []byte(`{"properties": {"correlation_id": "k"}}`)}, "k", ""},
		{"truncated", &Delivery{Raw: []byte(`{"body": "x", "headers": {"task": "t", "id" : "tr", "ret`)}, "tr", ""},
		{"escaped quotes only", &Delivery{Raw: []byte(`{"body": "{\"id\": \"no\"}`)}, "", ""},
		{"control characters", &Delivery{Raw: []byte("{\"id\": \"a\x01b\"")}, "", ""},
		{"too long", &Delivery{TaskID: strings.Repeat("x", 256)}, "", ""},
		{"nothing", &Delivery{Raw: []byte{0xff}}, "", ""},
	} {
		if id, task := tc.d.Identify(); id != tc.id || task != tc.task {
			t.Errorf("%s: Identify() = %q, %q; want %q, %q", tc.name, id, task, tc.id, tc.task)
		}
	}
	// The id is found behind a large body, as the pop script finds it.
	raw := `{"body": "` + strings.Repeat("A", 1<<20) + `", "headers": {"id": "behind"}, "properties": {}}`
	if got := taskIDHint([]byte(raw)); got != "behind" {
		t.Errorf("taskIDHint behind 1 MiB = %q", got)
	}
}

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
	check := func(d *Delivery, id string) {
		t.Helper()
		if !errors.Is(d.Err, ErrMessageTooLarge) || !errors.Is(d.Err, ErrMalformedMessage) || d.Raw != nil || d.Size < 4096 || d.Tracked || d.Queue != "celery" {
			t.Errorf("oversized delivery %+v", d)
		}
		if got, _ := d.Identify(); got != id {
			t.Errorf("Identify() = %q, want %q", got, id)
		}
	}
	check(ds[0], "idle")
	if _, err := c.SendTask(ctx, "t", TaskID("before")); err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "LPUSH", "celery", big("batched"))
	if _, err := c.SendTask(ctx, "t", TaskID("after")); err != nil {
		t.Fatal(err)
	}
	var got []*Delivery
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
