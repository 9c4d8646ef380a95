package redis

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"

	redigo "github.com/gomodule/redigo/redis"
	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testClient is a celery.Client with the broker and the backend it
// runs on.
type testClient struct {
	*celery.Client
	broker  *Broker
	backend *Backend
}

func (c *testClient) Broker() *Broker   { return c.broker }
func (c *testClient) Backend() *Backend { return c.backend }

// newURLClient is NewClient keeping the broker and the backend at hand.
func newURLClient(url string, opts ...Option) (*testClient, error) {
	br, be, err := Dial(url, opts...)
	if err != nil {
		return nil, err
	}
	c := celery.NewClient(br, be, append([]celery.ClientOption{celery.WithOwnership()}, buildOptions(opts).client...)...)
	return &testClient{Client: c, broker: br, backend: be}, nil
}

func newTestClient(t *testing.T, opts ...Option) (*testClient, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	c, err := newURLClient(srv.URL(0), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv
}

func TestPublishConsumePriorityAndAck(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	for _, p := range []int{9, 6, 0, 3} {
		if _, err := c.SendTask(ctx, "tasks.add", celery.Args(p), celery.Priority(p)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Broker().QueueLength(ctx, "celery"); err != nil || n != 4 {
		t.Fatalf("QueueLength = %d, %v", n, err)
	}
	if got := srv.Do(t, "SISMEMBER", "_kombu.binding.celery", kombu.BindingMember("celery", "", "celery")); got != int64(1) {
		t.Errorf("binding not declared: %v", got)
	}
	cons := c.Broker().NewConsumer("celery")
	defer cons.Close()
	var order []string
	for range 4 {
		d, err := cons.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, err := d.Decode()
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, pyjson.PyRepr(m.Args[0]))
		if !d.Tracked || srv.Do(t, "HEXISTS", "unacked", d.Tag) != int64(1) {
			t.Fatalf("delivery %s not in unacked", d.Tag)
		}
		if err := c.Broker().Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(order, ","); got != "0,3,6,9" {
		t.Errorf("priority order = %s, want 0,3,6,9", got)
	}
	if n := srv.Do(t, "HLEN", "unacked"); n != int64(0) {
		t.Errorf("unacked has %v entries after acks", n)
	}
	if n := srv.Do(t, "ZCARD", "unacked_index"); n != int64(0) {
		t.Errorf("unacked_index has %v entries after acks", n)
	}
}

func TestConsumerRotatesQueues(t *testing.T) {
	c, _ := newTestClient(t)
	ctx := testCtx(t)
	for range 2 {
		for _, q := range []string{"a", "b"} {
			if _, err := c.SendTask(ctx, "t", celery.Queue(q)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cons := c.Broker().NewConsumer("a", "b")
	defer cons.Close()
	var got []string
	for range 4 {
		d, err := cons.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Queue)
	}
	if s := strings.Join(got, ""); s != "abab" {
		t.Errorf("queue order %s, want abab (round robin)", s)
	}
}

// A publisher that reuses a delivery_tag (kombu's tag is the publisher's)
// must not overwrite the unacked entry of the message held under it.
func TestReusedDeliveryTag(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	b := c.Broker()
	if _, err := c.SendTask(ctx, "t", celery.TaskID("first")); err != nil {
		t.Fatal(err)
	}
	c1 := b.NewConsumer("celery")
	defer c1.Close()
	d1, err := c1.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "LPUSH", "celery", d1.Raw) // the same envelope, tag and all
	c2 := b.NewConsumer("celery")
	defer c2.Close()
	d2, err := c2.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d2.Settle()
	if !d1.Tracked || !d2.Tracked || d1.Tag == d2.Tag {
		t.Fatalf("tags %q (tracked %v) and %q (tracked %v), want two tracked tags", d1.Tag, d1.Tracked, d2.Tag, d2.Tracked)
	}
	if n := srv.Do(t, "HLEN", "unacked"); n != int64(2) {
		t.Fatalf("HLEN unacked = %v, want 2", n)
	}
	if err := b.Ack(ctx, d1); err != nil {
		t.Fatal(err)
	}
	if srv.Do(t, "HEXISTS", "unacked", d2.Tag) != int64(1) || srv.Do(t, "ZCARD", "unacked_index") != int64(1) {
		t.Error("acking the first delivery dropped the second's unacked entry")
	}
}

// TestRecordAhead pins the blocking pop's record-ahead: the delivery
// comes back before its unacked record is confirmed, Settle (from any
// goroutine) confirms it, and the next receive takes a batch only when
// the pipelined EXISTS saw more messages waiting.
func TestRecordAhead(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	b := c.Broker()
	if _, err := c.SendTask(ctx, "t", celery.TaskID("one")); err != nil {
		t.Fatal(err)
	}
	cons := b.NewConsumer("celery")
	defer cons.Close()
	d, err := cons.Receive(ctx) // idle consumer: BRPOP
	if err != nil {
		t.Fatal(err)
	}
	env, _ := kombu.ParseEnvelope(d.Raw)
	if !d.Tracked || d.Tag == "" || env == nil || d.Tag == env.Properties.DeliveryTag || d.Exchange != "" || d.RoutingKey != "celery" {
		t.Fatalf("delivery tracked=%v tag=%q exchange=%q routing_key=%q, want a fresh tag, \"\", celery", d.Tracked, d.Tag, d.Exchange, d.RoutingKey)
	}
	settled := make(chan struct{})
	go func() { d.Settle(); close(settled) }() // as the worker's acker does
	<-settled
	d.Settle() // cheap and idempotent
	entry, _ := redigo.Bytes(srv.Do(t, "HGET", "unacked", d.Tag), nil)
	if want := `[` + string(d.Raw) + `, "", "celery"]`; string(entry) != want {
		t.Fatalf("unacked entry = %.120s, want %.120s", entry, want)
	}
	if srv.Do(t, "ZSCORE", "unacked_index", d.Tag) == nil {
		t.Fatal("no unacked_index entry")
	}
	if err := b.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	if n := srv.Do(t, "HLEN", "unacked"); n != int64(0) {
		t.Fatalf("unacked after ack = %v", n)
	}

	evals := func() int64 {
		info, _ := redigo.String(srv.Do(t, "INFO", "commandstats"), nil)
		for line := range strings.SplitSeq(info, "\r\n") {
			if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:calls="); ok {
				n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
				return n
			}
		}
		return 0
	}
	// Nothing more waits: the next receive blocks in BRPOP again, without
	// a batch pop that would find nothing.
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.SendTask(context.WithoutCancel(ctx), "t", celery.TaskID("two"))
	}()
	if d, err = cons.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if n := evals(); n != 0 {
		t.Errorf("%d batch pops on an idle queue, want 0", n)
	}
	// More wait behind a popped message: the next receive takes them in
	// one batch.
	for _, id := range []string{"three", "four", "five"} {
		c.SendTask(ctx, "t", celery.TaskID(id))
	}
	ds, err := cons.ReceiveBatch(ctx, 10) // "two" was the last popped: EXISTS said no, so BRPOP
	if err != nil || len(ds) != 1 {
		t.Fatalf("ReceiveBatch = %d deliveries, %v; want 1 (BRPOP)", len(ds), err)
	}
	ds, err = cons.ReceiveBatch(ctx, 10)
	if err != nil || len(ds) != 2 {
		t.Fatalf("ReceiveBatch = %d deliveries, %v; want the 2 waiting", len(ds), err)
	}
	if n := evals(); n != 1 {
		t.Errorf("%d batch pops, want 1", n)
	}
	// JSON around which a publisher left whitespace is an envelope too:
	// the blocking pop (the queue is empty now) records it like any other.
	padded := " " + string(ds[0].Raw) + "\n"
	go func() {
		time.Sleep(50 * time.Millisecond)
		srv.Do(t, "LPUSH", "celery", padded)
	}()
	if d, err = cons.Receive(ctx); err != nil || d.Err != nil || !d.Tracked || d.Tag == "" {
		t.Fatalf("padded envelope: err %v, delivery err %v, tracked %v", err, d.Err, d.Tracked)
	}
	// In a batch the script leaves such a message unrecorded and the
	// consumer records it itself, in the same shape.
	srv.Do(t, "LPUSH", "celery", padded, padded)
	if _, err := cons.Receive(ctx); err != nil { // BRPOP: EXISTS says one more
		t.Fatal(err)
	}
	if ds, err = cons.ReceiveBatch(ctx, 10); err != nil || len(ds) != 1 || !ds[0].Tracked || ds[0].RoutingKey != "celery" {
		t.Fatalf("batch of a padded envelope: %d deliveries, %v", len(ds), err)
	}
	if entry, _ := redigo.Bytes(srv.Do(t, "HGET", "unacked", ds[0].Tag), nil); string(entry) != "["+padded+`, "", "celery"]` {
		t.Errorf("unacked entry of the padded envelope = %.80q", entry)
	}
}

func TestRejectAndRestore(t *testing.T) {
	c, srv := newTestClient(t, WithVisibilityTimeout(time.Second))
	ctx := testCtx(t)
	b := c.Broker()
	for _, id := range []string{"first", "second"} {
		if _, err := c.SendTask(ctx, "t", celery.TaskID(id)); err != nil {
			t.Fatal(err)
		}
	}
	cons := b.NewConsumer("celery")
	defer cons.Close()
	d, err := cons.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// requeue=true puts it at the back: "second" comes next.
	if err := b.Reject(ctx, d, true); err != nil {
		t.Fatal(err)
	}
	d2, _ := cons.Receive(ctx)
	if m, _ := d2.Decode(); m.ID != "second" {
		t.Fatalf("after requeue got %s, want second", m.ID)
	}
	d3, _ := cons.Receive(ctx)
	m3, _ := d3.Decode()
	if m3.ID != "first" || !m3.Redelivered {
		t.Fatalf("requeued message = %s redelivered=%v", m3.ID, m3.Redelivered)
	}
	// Not acked: the sweep restores both after the visibility timeout.
	if n, err := b.RestoreVisible(ctx); err != nil || n != 0 {
		t.Fatalf("early sweep restored %d, %v", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	restored := 0
	for restored < 2 && time.Now().Before(deadline) {
		n, err := b.RestoreVisible(ctx)
		if err != nil {
			t.Fatal(err)
		}
		restored += n
		if restored < 2 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if restored != 2 {
		t.Fatalf("sweep restored %d, want 2", restored)
	}
	if n, _ := b.QueueLength(ctx, "celery"); n != 2 {
		t.Errorf("queue length after sweep = %d", n)
	}
	if srv.Do(t, "EXISTS", "unacked_mutex") != int64(0) {
		t.Error("sweep left its mutex behind")
	}
	// A mutex held by someone else makes the sweep a no-op.
	srv.Do(t, "SET", "unacked_mutex", "other", "PX", 60000)
	if n, err := b.RestoreVisible(ctx); err != nil || n != 0 {
		t.Errorf("sweep under a foreign lock: %d, %v", n, err)
	}
}

func TestRestoreTagsOrder(t *testing.T) {
	c, _ := newTestClient(t)
	ctx := testCtx(t)
	b := c.Broker()
	for _, id := range []string{"1", "2", "3", "later"} {
		c.SendTask(ctx, "t", celery.TaskID(id))
	}
	cons := b.NewConsumer("celery")
	defer cons.Close()
	var tags []string
	for range 3 {
		d, err := cons.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, d.Tag)
	}
	if n, err := b.RestoreTags(ctx, tags); err != nil || n != 3 {
		t.Fatalf("RestoreTags = %d, %v", n, err)
	}
	var got []string
	for range 4 {
		d, _ := cons.Receive(ctx)
		m, _ := d.Decode()
		got = append(got, m.ID)
	}
	if s := strings.Join(got, ","); s != "1,2,3,later" {
		t.Errorf("order after restore = %s, want 1,2,3,later", s)
	}
}

func TestKeyPrefixAndPurge(t *testing.T) {
	c, srv := newTestClient(t, WithKeyPrefix("p:"))
	ctx := testCtx(t)
	c.SendTask(ctx, "t", celery.Priority(5))
	c.SendTask(ctx, "t")
	if srv.Do(t, "LLEN", "p:celery\x06\x163") != int64(1) || srv.Do(t, "LLEN", "p:celery") != int64(1) {
		t.Fatal("prefixed queue keys not used")
	}
	cons := c.Broker().NewConsumer("celery")
	d, err := cons.Receive(ctx)
	cons.Close()
	if err != nil || d.Queue != "celery" {
		t.Fatalf("Receive = %+v, %v", d, err)
	}
	if srv.Do(t, "HLEN", "p:unacked") != int64(1) {
		t.Error("prefixed unacked not used")
	}
	if n, err := c.Broker().Purge(ctx, "celery"); err != nil || n != 1 {
		t.Errorf("Purge = %d, %v", n, err)
	}
}

func TestMalformedDelivery(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	srv.Do(t, "LPUSH", "celery", "not json")
	cons := c.Broker().NewConsumer("celery")
	defer cons.Close()
	d, err := cons.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(d.Err, kombu.ErrMalformed) || d.Tracked {
		t.Errorf("delivery = %+v", d)
	}
}

func TestReceiveCancel(t *testing.T) {
	c, _ := newTestClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	cons := c.Broker().NewConsumer("celery")
	defer cons.Close()
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	if _, err := cons.Receive(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

// Wake ends a BRPOP at once, long before its poll timeout, and a message
// published afterwards is still received whole by the same consumer.
func TestWake(t *testing.T) {
	srv := redistest.Start(t)
	b, err := NewBroker(srv.URL(0), WithPollTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cons := b.NewConsumer("celery")
	defer cons.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	got := make(chan error, 1)
	go func() {
		_, err := cons.Receive(ctx)
		got <- err
	}()
	time.Sleep(200 * time.Millisecond) // let it block in BRPOP
	cancel()
	if err := cons.Wake(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Receive = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Receive still blocked 10 s after Wake (poll timeout 30 s)")
	}
	// A wake-up nobody waited for is skipped by the next Receive.
	if err := cons.Wake(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := celery.NewClient(b, nil).SendTask(testCtx(t), "t", celery.TaskID("after-wake")); err != nil {
		t.Fatal(err)
	}
	d, err := cons.Receive(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := d.Decode(); err != nil || m.ID != "after-wake" {
		t.Fatalf("received %v (%v), want after-wake", m, err)
	}
}

func TestReconnect(t *testing.T) {
	srv := redistest.Start(t)
	b, err := NewBroker(srv.URL(0), WithPollTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := testCtx(t)
	cons := b.NewConsumer("celery")
	defer cons.Close()
	got := make(chan error, 1)
	go func() {
		_, err := cons.Receive(ctx)
		got <- err
	}()
	srv.Restart(t)
	c, _ := redigo.Dial("tcp", srv.Addr())
	defer c.Close()
	client := celery.NewClient(b, NewBackendOn(b))
	defer client.Close()
	defer client.Results().Close()
	if _, err := client.SendTask(ctx, "t"); err != nil {
		// The pool may hand out a connection that died with the
		// restart; the next attempt must work.
		if _, err := client.SendTask(ctx, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-got; err != nil {
		t.Fatalf("Receive after restart: %v", err)
	}
}

func TestBackendStoreAndWait(t *testing.T) {
	c, srv := newTestClient(t, WithResultExpires(time.Minute))
	ctx := testCtx(t)
	be := c.Backend()
	r := c.AsyncResult("job")
	if s, err := r.State(ctx); err != nil || s != celery.StatePending {
		t.Fatalf("State = %v, %v", s, err)
	}
	var states []celery.State
	done := make(chan *celery.ResultMeta, 1)
	first := make(chan struct{})
	go func() {
		m, err := be.Watch(ctx, "job", func(m *celery.ResultMeta) {
			states = append(states, m.Status)
			if len(states) == 1 {
				close(first)
			}
		})
		if err != nil {
			t.Error(err)
		}
		done <- m
	}()
	// Store only once the watcher is subscribed and has read the current
	// state (PENDING): Watch calls onState with it first.
	select {
	case <-first:
	case <-ctx.Done():
		t.Fatal("watcher never reported the current state")
	}
	be.Store(ctx, &celery.ResultMeta{TaskID: "job", Status: "PROGRESS", Result: map[string]any{"current": 1}})
	be.Store(ctx, &celery.ResultMeta{TaskID: "job", Status: celery.StateSuccess, Result: 42, DateDone: time.Now()})
	m := <-done
	if m.Status != celery.StateSuccess || states[0] != celery.StatePending || states[len(states)-1] != celery.StateSuccess {
		t.Errorf("final %v, states %v", m.Status, states)
	}
	if ttl := srv.Do(t, "TTL", "celery-task-meta-job").(int64); ttl <= 0 || ttl > 60 {
		t.Errorf("TTL = %d, want result_expires", ttl)
	}
	// A stored SUCCESS is never overwritten.
	if ok, err := be.Store(ctx, &celery.ResultMeta{TaskID: "job", Status: celery.StateFailure}); ok || err != nil {
		t.Errorf("Store over SUCCESS = %v, %v", ok, err)
	}
	var v int
	if err := r.Get(ctx, &v); err != nil || v != 42 {
		t.Errorf("Get = %d, %v", v, err)
	}
	if err := r.Forget(ctx); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.State(ctx); s != celery.StatePending {
		t.Errorf("after Forget: %v", s)
	}
}

func TestGetFailure(t *testing.T) {
	c, _ := newTestClient(t)
	ctx := testCtx(t)
	c.Backend().Store(ctx, &celery.ResultMeta{TaskID: "f", Status: celery.StateFailure, Result: celery.Exception("ValueError", "builtins", "nope"), Traceback: "tb"})
	err := c.AsyncResult("f").Get(ctx, nil)
	var te *celery.TaskError
	if !errors.As(err, &te) || te.Type != "ValueError" || te.Message() != "nope" {
		t.Fatalf("Get = %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := c.AsyncResult("never").Get(short, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get(never) = %v", err)
	}
}

func TestUnixSocketAndSentinelURLs(t *testing.T) {
	sock := t.TempDir() + "/redis.sock"
	srv := redistest.Start(t, redistest.WithArgs("--unixsocket", sock, "--unixsocketperm", "700"))
	sentinel := redistest.Start(t, redistest.WithSentinel("mymaster", srv.Addr()))
	ctx := testCtx(t)
	for _, url := range []string{
		"unix://" + sock + "?db=1",
		"sentinel://" + sentinel.Addr() + "/1?master_name=mymaster",
	} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			c, err := newURLClient(url)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.SendTask(ctx, "t", celery.Queue("via-"+url[:4])); err != nil {
				t.Fatal(err)
			}
			c2 := srv.Dial(t)
			if _, err := c2.Do("SELECT", 1); err != nil {
				t.Fatal(err)
			}
			if n, _ := redigo.Int(c2.Do("LLEN", "via-"+url[:4])); n != 1 {
				t.Errorf("message not in db 1 via %s", url)
			}
		})
	}
}

func TestTLSURL(t *testing.T) {
	ca := redistest.NewCA(t)
	tlsPort := strconv.Itoa(redistest.Start(t, redistest.WithTLS(ca, false)).TLSPort())
	ctx := testCtx(t)
	for _, url := range []string{
		"rediss://127.0.0.1:" + tlsPort + "/0?ssl_cert_reqs=required&ssl_ca_certs=" + ca.CA,
		"rediss://127.0.0.1:" + tlsPort + "/0", // kombu's default: CERT_NONE
	} {
		b, err := NewBroker(url)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Ping(ctx); err != nil {
			t.Errorf("Ping over %s: %v", url, err)
		}
		b.Close()
	}
	// Verification on, and the server's CA unknown: refused.
	b, _ := NewBroker("rediss://127.0.0.1:" + tlsPort + "/0?ssl_cert_reqs=required")
	defer b.Close()
	if err := b.Ping(ctx); err == nil {
		t.Error("Ping with an unknown CA succeeded")
	}
}

func TestReceiveBatch(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	b := c.Broker()
	for i := range 6 {
		if _, err := c.SendTask(ctx, "t", celery.TaskID(strconv.Itoa(i)), celery.Priority(9-i)); err != nil {
			t.Fatal(err)
		}
	}
	// A message without a delivery tag or properties: Go records it itself.
	srv.Do(t, "LPUSH", "celery\x06\x169", `{"body": "W1tdLCB7fSwgbnVsbF0=", "headers": {"task": "t", "id": "untagged"}, "properties": {"body_encoding": "base64"}}`)
	cons := b.NewConsumer("celery")
	defer cons.Close()
	first, err := cons.ReceiveBatch(ctx, 1)
	if err != nil || len(first) != 1 {
		t.Fatalf("ReceiveBatch = %v, %v", first, err)
	}
	rest, err := cons.ReceiveBatch(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range append(first, rest...) {
		m, err := d.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if !d.Tracked || d.Tag == "" || d.Queue != "celery" {
			t.Errorf("delivery %s: tracked=%v tag=%q queue=%q", m.ID, d.Tracked, d.Tag, d.Queue)
		}
		ids = append(ids, m.ID)
	}
	// Priorities 9-i: i=4,5 in bucket 3, i=1..3 in bucket 6, i=0 in
	// bucket 9; FIFO within a bucket.
	if got := strings.Join(ids, ","); got != "4,5,1,2,3,0,untagged" {
		t.Errorf("batch order = %s", got)
	}
	if n := srv.Do(t, "HLEN", "unacked"); n != int64(7) {
		t.Errorf("unacked = %v, want 7", n)
	}
	for _, d := range append(first, rest...) {
		if err := b.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Do(t, "HLEN", "unacked"); n != int64(0) {
		t.Errorf("unacked after acks = %v", n)
	}
	if n := srv.Do(t, "ZCARD", "unacked_index"); n != int64(0) {
		t.Errorf("unacked_index after acks = %v", n)
	}
	// Restoring a batch-recorded entry works like any other.
	c.SendTask(ctx, "t", celery.TaskID("again"))
	c.SendTask(ctx, "t", celery.TaskID("again2"))
	ds, _ := cons.ReceiveBatch(ctx, 5)
	if len(ds) == 0 {
		t.Fatal("nothing received")
	}
	if ok, err := b.Restore(ctx, ds[0].Tag, false); !ok || err != nil {
		t.Errorf("Restore(batch entry) = %v, %v", ok, err)
	}
}

func TestReceiveBatchGarbage(t *testing.T) {
	c, srv := newTestClient(t)
	ctx := testCtx(t)
	c.SendTask(ctx, "t", celery.TaskID("ok1"))
	for _, g := range []string{"not json", `{"body": "x", "headers": {`, `{"body": 1}`, `[1]`, ""} {
		srv.Do(t, "LPUSH", "celery", g)
	}
	c.SendTask(ctx, "t", celery.TaskID("ok2"))
	cons := c.Broker().NewConsumer("celery")
	defer cons.Close()
	first, err := cons.ReceiveBatch(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := cons.ReceiveBatch(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	all := append(first, rest...)
	if len(all) != 7 {
		t.Fatalf("got %d deliveries, want 7", len(all))
	}
	bad := 0
	for _, d := range all {
		if d.Err != nil {
			bad++
		}
		if err := c.Broker().Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if bad != 5 {
		t.Errorf("%d malformed deliveries, want 5", bad)
	}
	// Only JSON objects ever enter unacked (a Python sweep must be able to
	// decode every entry), and acks remove them all.
	if n := srv.Do(t, "HLEN", "unacked"); n != int64(0) {
		t.Errorf("unacked after acks = %v", n)
	}
}

// BenchmarkSendTask measures Client.SendTask on a real redis-server: one
// message per round trip.
func BenchmarkSendTask(b *testing.B) {
	srv := redistest.Start(b)
	c, err := newURLClient(srv.URL(0))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := c.SendTask(ctx, "tasks.add", celery.Args(i, i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
