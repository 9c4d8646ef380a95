//go:build integration

package amqp

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/celery"
)

// TestAcksLateKill9LosesNothing: a Go worker with --acks-late is killed
// with SIGKILL in the middle of a drain; RabbitMQ gives its unacknowledged
// messages back, and a second worker finishes the drain: every task has
// its result, and the queue is empty.
func TestAcksLateKill9LosesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 4*time.Minute)
	const n = 1000
	var results []*celery.AsyncResult
	for i := range n {
		r, err := e.Client.SendTask(ctx, "tasks.sleep", celery.Args(0.002+float64(i%3)*0.001))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	w1 := e.startWorker(t, "--acks-late", "-c", "8", "-n", "victim@%h")
	// Kill it once it is part-way through.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left, err := e.Broker.QueueLength(ctx, "celery")
		if err != nil {
			t.Fatal(err)
		}
		if left < n*3/4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not start draining: %d left", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w1.Cmd.Process.Signal(syscall.SIGKILL)
	<-w1.Done()
	e.startWorker(t, "--acks-late", "-c", "8", "-n", "heir@%h")
	redelivered := 0
	for _, r := range results {
		meta, err := r.Wait(ctx)
		if err != nil || meta.Status != celery.StateSuccess {
			t.Fatalf("%s: %+v, %v", r.ID, meta, err)
		}
		if strings.HasPrefix(meta.Worker, "heir@") {
			redelivered++
		}
	}
	if left, err := e.Broker.QueueLength(ctx, "celery"); err != nil || left != 0 {
		t.Errorf("queue length after the drain: %d, %v", left, err)
	}
	t.Logf("%d tasks, %d finished by the second worker", n, redelivered)
}

// TestMalformedAMQPMessages: messages a Go worker cannot read (a content
// type it does not accept, a body that is not JSON, a protocol-2 message
// without its headers) are each logged and dropped from the queue, never
// crash the worker nor stay in the queue, and a good task after them
// runs; those whose headers name a task id get a FAILURE stored.
func TestMalformedAMQPMessages(t *testing.T) {
	e := newEnv(t)
	w := e.startWorker(t, "-n", "picky@%h")
	ctx := ctxFor(t, 2*time.Minute)
	ch := e.channel(t)
	// Not declared here: a worker says it is ready once its queues exist
	// (RabbitMQ would drop a message sent to a missing queue).
	bad := []amqp091.Publishing{
		{ContentType: "application/x-python-serialize", ContentEncoding: "binary", Body: []byte("\x80\x04K\x01."),
			Headers: amqp091.Table{"id": "bad-ctype", "task": "tasks.add"}, CorrelationId: "bad-ctype"},
		{ContentType: "application/json", ContentEncoding: "utf-8", Body: []byte("{not json"),
			Headers: amqp091.Table{"id": "bad-body", "task": "tasks.add"}, CorrelationId: "bad-body"},
		{ContentType: "application/json", ContentEncoding: "utf-8", Body: []byte(`[[1, 2], {}, {}]`)},
	}
	for _, p := range bad {
		p.DeliveryMode = amqp091.Persistent
		if err := ch.PublishWithContext(ctx, "", "celery", false, false, p); err != nil {
			t.Fatal(err)
		}
	}
	good, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := good.Get(ctx, &sum); err != nil || sum != 2 {
		t.Fatalf("tasks.add after the malformed messages: %d, %v", sum, err)
	}
	// The worker is alive and said why it dropped each message.
	select {
	case <-w.Done():
		t.Fatalf("the worker exited:\n%s", w.Log())
	default:
	}
	log := w.Log()
	for _, s := range []string{"bad-ctype", "bad-body"} {
		if !strings.Contains(log, s) {
			t.Errorf("no log line names %s", s)
		}
	}
	// Where the message names its task, a client waiting on it gets a
	// FAILURE with the reason, as on Redis.
	for id, exc := range map[string]string{"bad-ctype": "ContentDisallowed", "bad-body": "DecodeError"} {
		m, err := e.Client.AsyncResult(id).Wait(ctx)
		if err != nil || m.Status != celery.StateFailure || !strings.Contains(toJSON(t, m.Result), exc) {
			t.Errorf("%s: %+v, %v; want a FAILURE (%s)", id, m, err, exc)
		}
	}
	if left, err := e.Broker.QueueLength(context.Background(), "celery"); err != nil || left != 0 {
		t.Errorf("queue length: %d, %v; want the malformed messages gone", left, err)
	}
	// Unacknowledged ones would be in messages_unacknowledged: none.
	out, err := node.Ctl(ctx, "list_queues", "-p", vhostOf(e.URL), "name", "messages_ready", "messages_unacknowledged")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "celery" && (f[1] != "0" || f[2] != "0") {
			t.Errorf("celery queue still holds messages: %s", line)
		}
	}
}

func vhostOf(url string) string { return url[strings.LastIndex(url, "/")+1:] }

// TestConnectionLossMidDrain: RabbitMQ closes every connection of the
// vhost (rabbitmqctl close_all_connections) while a Go worker with
// --acks-late drains; the worker logs the loss once and the recovery
// once, reconnects, and every task gets its result. Remote control works
// again afterwards (the node queue, exclusive to the lost connection, is
// declared anew).
func TestConnectionLossMidDrain(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 4*time.Minute)
	const n = 600
	var results []*celery.AsyncResult
	for range n {
		r, err := e.Client.SendTask(ctx, "tasks.sleep", celery.Args(0.003))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	w := e.startWorker(t, "--acks-late", "-c", "4", "-n", "survivor@%h")
	e.waitBelow(ctx, t, "celery", n*3/4)
	if _, err := node.Ctl(ctx, "close_all_connections", "-p", vhostOf(e.URL), "test: connection loss"); err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		meta, err := r.Wait(ctx)
		if err != nil || meta.Status != celery.StateSuccess {
			t.Fatalf("%s: %+v, %v", r.ID, meta, err)
		}
	}
	log := w.Log()
	if c := strings.Count(log, "broker connection lost"); c != 1 {
		t.Errorf("%d lines say the connection was lost, want 1", c)
	}
	if c := strings.Count(log, "broker connection restored"); c != 1 {
		t.Errorf("%d lines say the connection was restored, want 1", c)
	}
	// Remote control again, on a new node queue.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := celeriac(t, "inspect", "ping", "-b", e.URL, "-t", "2", "-j")
		if code == 0 && strings.Contains(out, "survivor@") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("inspect ping after the loss: exit %d\n%s", code, out)
		}
	}
}

// TestWarmShutdownAcksLate: a warm shutdown (SIGTERM) of a Go worker
// with --acks-late lets its running tasks finish and acknowledges them:
// none runs again on the next worker, and the held ones are given back.
func TestWarmShutdownAcksLate(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	var results []*celery.AsyncResult
	for range 6 {
		r, err := e.Client.SendTask(ctx, "tasks.sleep", celery.Args(1.5))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	w1 := e.startWorker(t, "--acks-late", "-c", "2", "-n", "first@%h")
	w1.WaitLog(t, "received", 30*time.Second)
	time.Sleep(200 * time.Millisecond)
	w1.Cmd.Process.Signal(syscall.SIGTERM)
	<-w1.Done()
	w2 := e.startWorker(t, "--acks-late", "-c", "2", "-n", "second@%h")
	for _, r := range results {
		if m, err := r.Wait(ctx); err != nil || m.Status != celery.StateSuccess {
			t.Fatalf("%s: %+v, %v", r.ID, m, err)
		}
	}
	// A task that finished on the first worker did not run again.
	finished := 0
	for _, r := range results {
		if strings.Contains(w1.Log(), "tasks.sleep["+r.ID+"] succeeded") {
			finished++
			if strings.Contains(w2.Log(), r.ID) {
				t.Errorf("task %s finished on the first worker and ran again on the second", r.ID)
			}
		}
	}
	if finished == 0 {
		t.Error("no task finished during the first worker's warm shutdown")
	}
	if strings.Contains(w1.Log(), "level=ERROR") {
		t.Errorf("errors in the first worker's shutdown:\n%s", w1.Log())
	}
}
