//go:build integration

package amqp

import (
	"errors"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/celery"
	camqp "github.com/celeriac/celeriac/celery/amqp"
	"github.com/celeriac/celeriac/internal/kombu"
)

// TestQueueAdmin: queue lengths are passive declarations (a missing
// queue holds nothing), purge empties a queue (Go API and `celeriac
// purge`), and `celeriac call`/`result` work over AMQP with Redis results.
func TestQueueAdmin(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	if n, err := e.Broker.QueueLength(ctx, "nothing-here"); err != nil || n != 0 {
		t.Fatalf("length of a missing queue: %d, %v", n, err)
	}
	for range 3 {
		if _, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(1, 2), celery.Queue("q1")); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := e.Broker.QueueLength(ctx, "q1"); err != nil || n != 3 {
		t.Fatalf("length of q1: %d, %v; want 3", n, err)
	}
	out, code := celeriac(t, "purge", "-b", e.URL, "-Q", "q1,nothing-here", "-f")
	if code != 0 || !strings.Contains(out, "Purged 3 messages") {
		t.Fatalf("celeriac purge: exit %d\n%s", code, out)
	}
	if n, err := e.Broker.QueueLength(ctx, "q1"); err != nil || n != 0 {
		t.Fatalf("length of q1 after the purge: %d, %v", n, err)
	}
	e.startWorker(t, "-n", "gocall@%h")
	out, code = celeriac(t, "call", "tasks.add", "-a", "[40, 2]", "-b", e.URL, "--result-backend", e.Results, "--wait", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "42") {
		t.Fatalf("celeriac call --wait: exit %d\n%s", code, out)
	}
	// Without a result backend, results are disabled, and asking says so.
	out, code = celeriac(t, "call", "tasks.add", "-a", "[1, 1]", "-b", e.URL, "--wait", "--timeout", "5s")
	if code == 0 || !strings.Contains(out, "no result backend") {
		t.Fatalf("celeriac call --wait without a backend: exit %d\n%s", code, out)
	}
}

// TestDeclaredElsewhere: a queue declared with arguments celeriac would
// not give it (x-max-priority, as a Python worker with
// task_queue_max_priority declares it) is used as it is, never
// redeclared; an exchange declared with another type gives a clear
// PRECONDITION_FAILED error, not a crash loop.
func TestDeclaredElsewhere(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	ch := e.channel(t)
	if _, err := ch.QueueDeclare("prio", true, false, false, false, amqp091.Table{"x-max-priority": int32(10)}); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(kombu.PidboxExchange, amqp091.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	e.startWorker(t, "-Q", "prio", "-n", "goprio@%h", "--without-control")
	r, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(2, 2), celery.Queue("prio"), celery.Priority(7))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := r.Get(ctx, &sum); err != nil || sum != 4 {
		t.Fatalf("tasks.add on the priority queue: %d, %v", sum, err)
	}
	err = e.Broker.Broadcast(ctx, kombu.PidboxExchange, celery.BroadcastMessage{Body: []byte(`{"body": "", "properties": {}}`)})
	if !errors.Is(err, camqp.ErrPreconditionFailed) {
		t.Fatalf("broadcast to an exchange of another type: %v, want ErrPreconditionFailed", err)
	}
}

// TestBadCredentials: a worker whose credentials RabbitMQ refuses says so
// in one line and exits, instead of retrying for ever; so does a vhost
// that does not exist.
func TestBadCredentials(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{
		strings.Replace(e.URL, "guest:guest@", "guest:wrong@", 1),
		strings.TrimSuffix(e.URL, vhostOf(e.URL)) + "no-such-vhost",
	} {
		out, code := celeriac(t, "worker", "-b", u, "--result-backend", e.Results)
		if code == 0 || !strings.Contains(out, "refused the connection") || strings.Contains(out, "wrong") {
			t.Errorf("worker on %s: exit %d\n%s", u, code, out)
		}
	}
}

// TestCountdownFromPython: a Python client's countdown task runs on the
// Go worker once due, not before.
func TestCountdownFromPython(t *testing.T) {
	e := newEnv(t)
	e.startWorker(t, "-n", "goeta@%h")
	sent := time.Now()
	id := e.pySend(t, "tasks.add", "--args", "[3, 4]", "--countdown", "2")
	r := e.pyGet(t, id)
	if r.State != "SUCCESS" || r.Result != float64(7) {
		t.Fatalf("tasks.add with countdown: %+v", r)
	}
	if since := time.Since(sent); since < 2*time.Second {
		t.Errorf("ran %v after sending, before its countdown of 2 s", since)
	}
}

// TestQuorumQueue: a quorum queue (x-queue-type: quorum, declared as a
// Celery 5.5+ app with task_default_queue_type="quorum" declares it) is
// consumed as it is: RabbitMQ refuses a global QoS on it, so the
// consumer falls back to a per-consumer prefetch, as Celery does, and
// the prefetch window holds.
func TestQuorumQueue(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	ch := e.channel(t)
	if _, err := ch.QueueDeclare("qq", true, false, false, false, amqp091.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := e.Client.SendTask(ctx, "tasks.sleep", celery.Args(1), celery.Queue("qq")); err != nil {
			t.Fatal(err)
		}
	}
	w := e.startWorker(t, "-Q", "qq", "-n", "goquorum@%h", "-c", "1", "--prefetch-multiplier", "1")
	w.WaitLog(t, "received", 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	// The prefetch of one holds: the worker's channel holds at most one
	// unacknowledged message (early acks), the rest wait in the queue.
	out, err := node.Ctl(ctx, "list_channels", "-p", vhostOf(e.URL), "prefetch_count", "messages_unacknowledged")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] != "0" && f[1] != "1" && f[1] != "messages_unacknowledged" {
			t.Errorf("a channel holds %s unacknowledged messages (prefetch %s), want at most 1:\n%s", f[1], f[0], out)
		}
	}
	r, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(3, 3), celery.Queue("qq"))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := r.Get(ctx, &sum); err != nil || sum != 6 {
		t.Fatalf("tasks.add on a quorum queue: %d, %v\n%s", sum, err, w.Log())
	}
}

// TestPriorityQueue: on a queue declared with x-max-priority (as a
// Celery app with task_queue_max_priority declares it), messages with a
// higher priority run first on a Go worker (AMQP: 9 is the highest, the
// opposite of Redis' buckets). (A Python client without that setting
// cannot send there: kombu redeclares the queue without the argument and
// RabbitMQ refuses it.)
func TestPriorityQueue(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	ch := e.channel(t)
	if _, err := ch.QueueDeclare("pq", true, false, false, false, amqp091.Table{"x-max-priority": int32(10)}); err != nil {
		t.Fatal(err)
	}
	var low []*celery.AsyncResult
	for i := range 3 {
		r, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(0, i), celery.Queue("pq"), celery.Priority(1))
		if err != nil {
			t.Fatal(err)
		}
		low = append(low, r)
	}
	var high []*celery.AsyncResult
	for _, p := range []int{9, 5} {
		r, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(100, p), celery.Queue("pq"), celery.Priority(p))
		if err != nil {
			t.Fatal(err)
		}
		high = append(high, r)
	}
	w := e.startWorker(t, "-Q", "pq", "-c", "1", "--prefetch-multiplier", "1", "-n", "goprio2@%h")
	for _, r := range append(high, low...) {
		if _, err := r.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	log := w.Log()
	order := func(r *celery.AsyncResult) int { return strings.Index(log, "tasks.add["+r.ID+"] received") }
	if !(order(high[0]) < order(high[1]) && order(high[1]) < order(low[0])) {
		t.Errorf("want priority 9, then 5, then the 1s:\n%s", log)
	}
}
