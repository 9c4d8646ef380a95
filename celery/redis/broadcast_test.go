package redis

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/kombu"
)

// TestPublishReplyRouting: a remote-control reply reaches only the queues
// bound with exactly its routing key (a direct exchange: no "#" or ""
// wildcard), may go to a reply queue (which no task may use), and is
// dropped quietly when nobody is bound any more.
func TestPublishReplyRouting(t *testing.T) {
	c, srv := newTestClient(t)
	b := c.Broker()
	ctx := testCtx(t)
	oid := "oid-1"
	queue := oid + "." + kombu.ReplyExchange
	if err := b.DeclareBinding(ctx, kombu.ReplyExchange, oid, queue, kombu.ControlQueueExpires); err != nil {
		t.Fatal(err)
	}
	// A wildcard binding must not catch replies.
	if err := b.DeclareBinding(ctx, kombu.ReplyExchange, "#", "other."+kombu.ReplyExchange, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishReply(ctx, kombu.ReplyExchange, oid, []byte(`{"r":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.PublishReply(ctx, kombu.ReplyExchange, "nobody", []byte(`{"r":2}`)); err != nil {
		t.Fatalf("reply to an unbound key: %v, want dropped quietly", err)
	}
	if n, _ := redigo.Int(srv.Do(t, "LLEN", "other."+kombu.ReplyExchange), nil); n != 0 {
		t.Errorf("wildcard-bound queue got %d replies, want 0", n)
	}
	raw, err := b.Pop(ctx, queue, time.Second)
	if err != nil || string(raw) != `{"r":1}` {
		t.Fatalf("Pop = %q, %v", raw, err)
	}
	// Nothing more: Pop returns nil after its wait.
	if raw, err := b.Pop(ctx, queue, 50*time.Millisecond); raw != nil || err != nil {
		t.Fatalf("Pop on an empty queue = %q, %v; want nil, nil", raw, err)
	}
	if err := b.DeleteQueue(ctx, queue, kombu.ReplyExchange, oid); err != nil {
		t.Fatal(err)
	}
	members, _ := redigo.Strings(srv.Do(t, "SMEMBERS", kombu.BindingKey(kombu.ReplyExchange)), nil)
	if slices.Contains(members, kombu.BindingMember(oid, "", queue)) {
		t.Errorf("binding of %s left after DeleteQueue: %q", queue, members)
	}
}

// TestBroadcastSubscribe: a subscriber gets what is broadcast on its
// exchange while it listens, with the routing key pattern applied, and
// Subscribe returns nil when its context ends.
func TestBroadcastSubscribe(t *testing.T) {
	c, _ := newTestClient(t)
	b := c.Broker()
	ctx, cancel := context.WithCancel(testCtx(t))
	ready := make(chan struct{})
	got := make(chan string, 4)
	done := make(chan error, 1)
	go func() {
		done <- b.Subscribe(ctx, "ex", "task.*", func() { close(ready) }, func(body []byte) { got <- string(body) })
	}()
	<-ready
	if err := b.Broadcast(ctx, "ex",
		celery.BroadcastMessage{RoutingKey: "worker.heartbeat", Body: []byte("w")},
		celery.BroadcastMessage{RoutingKey: "task.succeeded", Body: []byte("t")}); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != "t" {
		t.Fatalf("got %q, want only the task.* message", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Subscribe after cancel = %v, want nil", err)
	}
}

// TestIncr: the counter counts, expires, and takes the key as given.
func TestIncr(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	for want := int64(1); want <= 3; want++ {
		if n, err := c.Broker().Incr(ctx, "celeriac:test:n", time.Minute); err != nil || n != want {
			t.Fatalf("Incr = %d, %v; want %d", n, err, want)
		}
	}
	if ttl, _ := redigo.Int(srv.Do(t, "TTL", "celeriac:test:n"), nil); ttl <= 0 || ttl > 60 {
		t.Errorf("TTL %d, want within a minute", ttl)
	}
}

// TestDeclareBindingExpiry: a binding with an expiry pushes its
// exchange's deadline (kombu.BindingTTL ahead, never back) and writes no
// permanent entry; one without goes to the permanent set, which keeps
// kombu's sweep off the table; DeleteQueue removes both.
func TestDeclareBindingExpiry(t *testing.T) {
	c, srv := newTestClient(t)
	b := c.Broker()
	ctx := testCtx(t)
	before := time.Now().Add(kombu.BindingTTL(kombu.ControlQueueExpires) - time.Minute).UnixMilli()
	if err := b.DeclareBinding(ctx, "ex", "", "q.ex", kombu.ControlQueueExpires); err != nil {
		t.Fatal(err)
	}
	d, err := redigo.Int64(srv.Do(t, "ZSCORE", kombu.BindingDeadlinesKey, "ex"), nil)
	if err != nil || d < before || d > before+2*time.Minute.Milliseconds() {
		t.Fatalf("deadline %d (%v), want about an hour ahead (%d)", d, err, before)
	}
	srv.Do(t, "ZADD", kombu.BindingDeadlinesKey, d+1000, "ex")
	if err := b.DeclareBinding(ctx, "ex", "", "q.ex", kombu.ControlQueueExpires); err != nil {
		t.Fatal(err)
	}
	if d2, _ := redigo.Int64(srv.Do(t, "ZSCORE", kombu.BindingDeadlinesKey, "ex"), nil); d2 != d+1000 {
		t.Errorf("deadline moved back to %d from %d", d2, d+1000)
	}
	if n, _ := redigo.Int(srv.Do(t, "EXISTS", kombu.PermanentBindingKey("ex")), nil); n != 0 {
		t.Error("expiring binding written to the permanent set")
	}
	if err := b.DeclareBinding(ctx, "ex", "k", "p.ex", 0); err != nil {
		t.Fatal(err)
	}
	member := kombu.BindingMember("k", "", "p.ex")
	if ok, _ := redigo.Bool(srv.Do(t, "SISMEMBER", kombu.PermanentBindingKey("ex"), member), nil); !ok {
		t.Error("binding without expiry not in the permanent set")
	}
	if n, _ := redigo.Int(srv.Do(t, "SCARD", kombu.BindingKey("ex")), nil); n != 2 {
		t.Errorf("binding table has %d members, want 2", n)
	}
	if err := b.DeleteQueue(ctx, "p.ex", "ex", "k"); err != nil {
		t.Fatal(err)
	}
	if n, _ := redigo.Int(srv.Do(t, "EXISTS", kombu.PermanentBindingKey("ex")), nil); n != 0 {
		t.Error("DeleteQueue left the permanent entry")
	}
}
