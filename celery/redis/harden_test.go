package redis

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/redistest"
)

// unackedValues returns every entry of the unacked hash.
func unackedValues(t *testing.T, srv *redistest.Server) []string {
	t.Helper()
	vals, err := redigo.Strings(srv.Do(t, "HVALS", "unacked"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

// TestOnlyJSONEntersUnacked: messages that look like a JSON object but are
// not valid JSON (for Python's json, which a Python worker's restore sweep
// uses) never enter unacked, by the blocking pop or by a batch, and come
// out as malformed deliveries.
func TestOnlyJSONEntersUnacked(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	garbage := []string{`{not json}`, `{"a": 1,}`, `{"a": 0x10}`, `{"a": inf}`, `{"a":1} {"b":2}`}
	cons := c.Broker().NewConsumer("celery")
	defer cons.Close()
	// Blocking pop: one message at a time on an idle queue.
	for _, g := range garbage {
		srv.Do(t, "LPUSH", "celery", g)
		d, err := cons.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Err == nil || d.Tracked || d.Settle() != nil {
			t.Errorf("%s by BRPOP: err %v, tracked %v", g, d.Err, d.Tracked)
		}
	}
	// Batch: the script takes them between two envelopes.
	c.SendTask(ctx, "t", celery.TaskID("ok1"))
	for _, g := range garbage {
		srv.Do(t, "LPUSH", "celery", g)
	}
	c.SendTask(ctx, "t", celery.TaskID("ok2"))
	first, err := cons.ReceiveBatch(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := cons.ReceiveBatch(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	all := append(first, rest...)
	if len(all) != len(garbage)+2 {
		t.Fatalf("got %d deliveries, want %d", len(all), len(garbage)+2)
	}
	tracked := 0
	for _, d := range all {
		if d.Tracked {
			tracked++
		}
		if (d.Err == nil) != d.Tracked {
			t.Errorf("delivery %.30q: err %v, tracked %v", d.Raw, d.Err, d.Tracked)
		}
	}
	if tracked != 2 {
		t.Errorf("%d tracked deliveries, want the 2 envelopes", tracked)
	}
	// Before any ack, unacked holds exactly the two envelopes, valid JSON.
	vals := unackedValues(t, srv)
	if len(vals) != 2 {
		t.Fatalf("unacked holds %d entries, want 2", len(vals))
	}
	for _, v := range vals {
		if !json.Valid([]byte(v)) {
			t.Errorf("unacked entry is not JSON: %.60q", v)
		}
	}
}

// TestRecordRefusedInsideExec: a record that fails inside EXEC (unacked
// holds a string) is not taken as recorded: the delivery settles with
// ErrNotRecorded, the message goes back to the front of its queue, and a
// batch pop refuses before popping anything.
func TestRecordRefusedInsideExec(t *testing.T) {
	c, srv := newTestClient(t, WithPollTimeout(time.Second))
	ctx := testCtx(t)
	b := c.Broker()
	srv.Do(t, "SET", "unacked", "not a hash")
	if _, err := c.SendTask(ctx, "t", celery.TaskID("one")); err != nil {
		t.Fatal(err)
	}
	cons := b.NewConsumer("celery")
	defer cons.Close()
	d, err := cons.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Settle(); !errors.Is(err, celery.ErrNotRecorded) {
		t.Fatalf("Settle = %v, want ErrNotRecorded", err)
	}
	if err := b.Ack(ctx, d); !errors.Is(err, celery.ErrNotRecorded) {
		t.Errorf("Ack = %v, want ErrNotRecorded", err)
	}
	// The next receive gives it back first, then pauses: each delivery
	// while unacked is of the wrong type settles not recorded, and after
	// Close the message is on its queue again and the half-written record
	// (the index entry) is gone.
	givenBack(t, ctx, cons)
	cons = b.NewConsumer("celery")
	defer cons.Close()
	if n, _ := redigo.Int(srv.Do(t, "LLEN", "celery"), nil); n != 1 {
		t.Fatalf("queue holds %d messages, want the one given back", n)
	}
	if n, _ := redigo.Int(srv.Do(t, "ZCARD", "unacked_index"), nil); n != 0 {
		t.Errorf("unacked_index holds %d entries, want 0", n)
	}
	// A batch pop refuses before it pops.
	if _, err := c.SendTask(ctx, "t", celery.TaskID("two")); err != nil {
		t.Fatal(err)
	}
	cons.conn = srv.Dial(t)
	if _, err := cons.popBatch(10); err == nil {
		t.Fatal("batch pop with unacked of the wrong type succeeded")
	}
	if n, _ := redigo.Int(srv.Do(t, "LLEN", "celery"), nil); n != 2 {
		t.Fatalf("queue holds %d messages after a refused batch, want 2", n)
	}
	// Once unacked is usable again, both come, recorded, oldest first.
	srv.Do(t, "DEL", "unacked")
	var ids []string
	for len(ids) < 2 {
		ds, err := cons.ReceiveBatch(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Settle() != nil || !d.Tracked {
				t.Errorf("delivery %s not recorded", d.Content())
			}
			m, _ := d.Decode()
			ids = append(ids, m.ID)
		}
	}
	if ids[0] != "one" || ids[1] != "two" {
		t.Errorf("order %v, want one, two", ids)
	}
}

// TestRecordRefusedAtMaxmemory: at maxmemory (noeviction) the blocking
// pop's record is refused; the message goes back to its queue unrun and
// the consumer pauses until Redis takes writes again.
func TestRecordRefusedAtMaxmemory(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs("--maxmemory-policy", "noeviction"))
	c, err := newURLClient(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	b := c.Broker()
	cons := b.NewConsumer("celery")
	defer cons.Close()
	if _, err := c.SendTask(ctx, "t", celery.TaskID("one")); err != nil {
		t.Fatal(err)
	}
	// A delivery recorded before Redis filled up can still be acked: acks
	// only free memory (no MULTI, which Redis refuses whole when full).
	if _, err := c.SendTask(ctx, "t", celery.TaskID("held"), celery.Queue("other")); err != nil {
		t.Fatal(err)
	}
	other := b.NewConsumer("other")
	defer other.Close()
	held, err := other.Receive(ctx)
	if err != nil || held.Settle() != nil {
		t.Fatalf("Receive(other) = %v", err)
	}
	srv.Do(t, "CONFIG", "SET", "maxmemory", "1")
	if err := b.Ack(ctx, held); err != nil {
		t.Errorf("Ack at maxmemory = %v", err)
	}
	if n, _ := redigo.Int(srv.Do(t, "HLEN", "unacked"), nil); n != 0 {
		t.Errorf("unacked holds %d entries after the ack at maxmemory", n)
	}
	if _, err := c.SendTask(ctx, "t", celery.TaskID("refused")); err == nil {
		t.Fatal("publish accepted at maxmemory: the test does not reach maxmemory")
	}
	d, err := cons.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Settle(); !errors.Is(err, celery.ErrNotRecorded) {
		t.Fatalf("Settle = %v, want ErrNotRecorded", err)
	}
	givenBack(t, ctx, cons)
	cons = b.NewConsumer("celery")
	defer cons.Close()
	if n, _ := redigo.Int(srv.Do(t, "LLEN", "celery"), nil); n != 1 {
		t.Fatalf("queue holds %d messages, want the one given back", n)
	}
	srv.Do(t, "CONFIG", "SET", "maxmemory", "0")
	d, err = cons.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Settle(); err != nil || !d.Tracked {
		t.Fatalf("after memory was freed: Settle = %v, tracked %v", err, d.Tracked)
	}
	if m, _ := d.Decode(); m.ID != "one" {
		t.Errorf("got %s, want one", m.ID)
	}
}

// givenBack receives for a while from a consumer whose records Redis
// refuses: every delivery must settle with ErrNotRecorded, and the
// consumer must pause between them. Then it closes the consumer, which
// gives back the last one.
func givenBack(t *testing.T, ctx context.Context, cons *Consumer) {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	defer cancel()
	n := 0
	for {
		d, err := cons.Receive(rctx)
		if err != nil {
			break
		}
		n++
		if err := d.Settle(); !errors.Is(err, celery.ErrNotRecorded) {
			t.Fatalf("Settle = %v, want ErrNotRecorded", err)
		}
	}
	// Pauses of 50-100, 100-200, 200-400 ms: at most 4 pops in 400 ms.
	if n > 4 {
		t.Errorf("%d pops in 400 ms while records are refused: no pause", n)
	}
	cons.Close()
}

func TestValidateQueue(t *testing.T) {
	for _, q := range []string{"celery", "default", "high.priority", "emails:outbound", "queue-1", "ünïcode", "celeryev", "celeriac-jobs", "x.reply"} {
		if err := celery.ValidateQueue(q); err != nil {
			t.Errorf("ValidateQueue(%q) = %v, want nil", q, err)
		}
	}
	for _, q := range []string{
		"", strings.Repeat("q", celery.MaxQueueNameLen+1), "bad\xff", "tab\there", "nl\n", "del\x7f",
		"celery\x06\x163", "celery\x06\x16", // priority buckets and the separator
		"unacked", "unacked_index", "unacked_mutex", "unacked2",
		"_kombu.binding.celery", "_kombu.binding.reply.celery.pidbox", "_kombu.binding_permanent.celery",
		"celery-task-meta-123", "celery-taskset-meta-g1", "celery-taskset-meta-g1.j",
		"0f3a.reply.celery.pidbox", "node@host.celery.pidbox", "celery.pidbox",
		"_celeriac.wake.x", "celeriac.beat.lock", "celeriac:flaky:k",
	} {
		err := celery.ValidateQueue(q)
		if !errors.Is(err, celery.ErrInvalidQueue) {
			t.Errorf("ValidateQueue(%q) = %v, want ErrInvalidQueue", q, err)
		}
	}
	// With a global key prefix, the prefixed key must not be reserved either.
	b := newBroker(nil, 0, []Option{WithKeyPrefix("celery-task-")})
	if err := b.ValidateQueue("meta-x"); !errors.Is(err, celery.ErrInvalidQueue) {
		t.Errorf("prefixed ValidateQueue = %v, want ErrInvalidQueue", err)
	}
	if err := b.ValidateQueue("jobs"); err != nil {
		t.Errorf("prefixed ValidateQueue(jobs) = %v", err)
	}
}

// TestPublishRefusesReservedKeys: no publish path writes to a reserved key,
// a batch with one bad name sends nothing, and a queue key that holds
// something else than a list is left as it was.
func TestPublishRefusesReservedKeys(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	b := c.Broker()
	for _, q := range []string{"unacked", "unacked_mutex", "_kombu.binding.reply.celery.pidbox", "celery-task-meta-x", "x.reply.celery.pidbox"} {
		if _, err := c.SendTask(ctx, "t", celery.Queue(q)); !errors.Is(err, celery.ErrInvalidQueue) {
			t.Errorf("SendTask(queue %q) = %v, want ErrInvalidQueue", q, err)
		}
		if typ, _ := redigo.String(srv.Do(t, "TYPE", q), nil); typ != "none" {
			t.Errorf("key %q is a %s after a refused publish", q, typ)
		}
	}
	err := b.PublishBatch(ctx, []celery.Publishing{{Queue: "celery", Body: []byte(`{}`)}, {Queue: "unacked", Body: []byte(`{}`)}})
	if !errors.Is(err, celery.ErrInvalidQueue) {
		t.Errorf("PublishBatch = %v, want ErrInvalidQueue", err)
	}
	if n, _ := redigo.Int(srv.Do(t, "LLEN", "celery"), nil); n != 0 {
		t.Errorf("a refused batch pushed %d messages", n)
	}
	// A binding to a reserved name (someone declared it by hand) is not
	// followed either.
	srv.Do(t, "SADD", "_kombu.binding.ex", "rk\x06\x16\x06\x16unacked")
	if _, err := c.SendTask(ctx, "t", celery.Route("ex", "rk")); !errors.Is(err, celery.ErrInvalidQueue) {
		t.Errorf("routed SendTask = %v, want ErrInvalidQueue", err)
	}
	// LPUSH never turns another kind of key into a list.
	srv.Do(t, "SET", "strq", "a string")
	if _, err := c.SendTask(ctx, "t", celery.Queue("strq")); !errors.Is(err, celery.ErrNotAQueue) {
		t.Errorf("SendTask onto a string = %v, want ErrNotAQueue", err)
	}
	if v, _ := redigo.String(srv.Do(t, "GET", "strq"), nil); v != "a string" {
		t.Errorf("the string key became %q", v)
	}
	if _, err := c.SendTask(ctx, "t"); err != nil {
		t.Errorf("a valid publish after refused ones: %v", err)
	}
	// Purge deletes keys: it refuses the reserved ones.
	srv.Do(t, "HSET", "unacked", "tag", "[{}, \"\", \"celery\"]")
	if _, err := b.Purge(ctx, "unacked"); !errors.Is(err, celery.ErrInvalidQueue) {
		t.Errorf("Purge(unacked) = %v, want ErrInvalidQueue", err)
	}
	if n, _ := redigo.Int(srv.Do(t, "HLEN", "unacked"), nil); n != 1 {
		t.Errorf("unacked holds %d entries after a refused purge", n)
	}
}
