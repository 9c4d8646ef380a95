//go:build integration

package amqp

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pypeer"
)

// TestPythonClientGoWorker: a Python client on py-amqp sends to a Go
// worker on the same RabbitMQ vhost; results come back through Redis,
// failures with their exception type.
func TestPythonClientGoWorker(t *testing.T) {
	e := newEnv(t)
	e.startWorker(t, "-c", "2", "-n", "go1@%h")
	add := e.pySend(t, "tasks.add", "--args", "[2, 3]")
	echo := e.pySend(t, "tasks.echo", "--args", `[1, "two", [3.5, null]]`, "--kwargs", `{"k": {"nested": true}}`)
	fail := e.pySend(t, "tasks.fail", "--args", `["boom"]`)
	if r := e.pyGet(t, add); r.State != "SUCCESS" || r.Result != float64(5) {
		t.Errorf("tasks.add: %+v, want SUCCESS 5", r)
	}
	r := e.pyGet(t, echo)
	if r.State != "SUCCESS" || !strings.Contains(r.Worker, "go1@") {
		t.Errorf("tasks.echo: %+v", r)
	}
	if got := toJSON(t, r.Result); got != `[[1,"two",[3.5,null]],{"k":{"nested":true}}]` {
		t.Errorf("tasks.echo result %#v", r.Result)
	}
	if r := e.pyGet(t, fail); r.State != "FAILURE" || r.Traceback == nil {
		t.Errorf("tasks.fail: %+v, want FAILURE with a traceback", r)
	}
	var exc struct {
		State  string         `json:"state"`
		Result map[string]any `json:"result"`
	}
	e.py().RunJSON(t, &exc, "client.py", "get", fail, "--timeout", "30")
	if !strings.Contains(toJSON(t, exc.Result), "Error") {
		t.Errorf("tasks.fail: exception %v, want a typed one", exc.Result)
	}
}

// TestGoClientPythonWorker: the Go client publishes over AMQP to a Python
// worker (py-amqp), which stores the result in Redis for the Go client.
func TestGoClientPythonWorker(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithResultBackend(e.Results), pypeer.WithNodeName("py1@%h"))
	ctx := ctxFor(t, time.Minute)
	res, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(20, 22))
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := res.Get(ctx, &sum); err != nil || sum != 42 {
		t.Fatalf("tasks.add(20, 22) = %d, %v; want 42", sum, err)
	}
	res, err = e.Client.SendTask(ctx, "tasks.echo", celery.Args("a", 1.5), celery.Kwargs(map[string]any{"x": []any{1, 2}}))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := res.Wait(ctx)
	if err != nil || meta.Status != celery.StateSuccess {
		t.Fatalf("tasks.echo: %+v, %v", meta, err)
	}
	res, err = e.Client.SendTask(ctx, "tasks.fail", celery.Args("py boom"))
	if err != nil {
		t.Fatal(err)
	}
	meta, err = res.Wait(ctx)
	if err != nil || meta.Status != celery.StateFailure {
		t.Fatalf("tasks.fail: %+v, %v", meta, err)
	}
}

// TestMixedWorkers: a Go and a Python worker consume the same queue;
// every task of a Python client's batch runs once, on one of them, and
// both take part.
func TestMixedWorkers(t *testing.T) {
	e := newEnv(t)
	e.startWorker(t, "-c", "2", "-n", "gomix@%h", "--prefetch-multiplier", "1")
	pypeer.StartWorker(t, e.URL, pypeer.WithResultBackend(e.Results), pypeer.WithNodeName("pymix@%h"), pypeer.WithPrefetchMultiplier(1))
	ctx := ctxFor(t, 2*time.Minute)
	const n = 40
	var results []*celery.AsyncResult
	for i := range n {
		r, err := e.Client.SendTask(ctx, "tasks.sleep", celery.Args(0.05+float64(i%2)*0.01))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	workers := map[string]int{}
	for _, r := range results {
		meta, err := r.Wait(ctx)
		if err != nil || meta.Status != celery.StateSuccess {
			t.Fatalf("%s: %+v, %v", r.ID, meta, err)
		}
		w := meta.Worker
		workers[w[:strings.Index(w, "@")]]++
	}
	if workers["gomix"] == 0 || workers["pymix"] == 0 || workers["gomix"]+workers["pymix"] != n {
		t.Errorf("tasks per worker %v, want both to take part, %d in all", workers, n)
	}
}

// TestControlOverAMQP: `celeriac inspect ping` and `control` reach Go
// and Python workers through the celery.pidbox fanout exchange, with
// replies on reply.celery.pidbox.
func TestControlOverAMQP(t *testing.T) {
	e := newEnv(t)
	e.startWorker(t, "-n", "goctl@%h")
	pypeer.StartWorker(t, e.URL, pypeer.WithResultBackend(e.Results), pypeer.WithNodeName("pyctl@%h"))
	out, code := celeriac(t, "inspect", "ping", "-b", e.URL, "-t", "5", "-j")
	if code != 0 || !strings.Contains(out, "goctl@") || !strings.Contains(out, "pyctl@") {
		t.Fatalf("inspect ping: exit %d\n%s", code, out)
	}
	out, code = celeriac(t, "control", "rate_limit", "tasks.add", "5/s", "-b", e.URL, "-t", "5")
	if code != 0 || !strings.Contains(out, "goctl@") || !strings.Contains(out, "pyctl@") {
		t.Fatalf("control rate_limit: exit %d\n%s", code, out)
	}
	// A Python client's inspect sees the Go worker too.
	var pong []map[string]any
	e.py().RunJSON(t, &pong, "control.py", "ping", "--timeout", "5")
	if !strings.Contains(toJSON(t, pong), "goctl@") {
		t.Errorf("Python inspect ping: %v, want the Go worker", pong)
	}
}

// TestEventsOverAMQP: a Go worker with -E sends its events to the
// celeryev topic exchange, where `celeriac events` (a queue of its own,
// bound with #) reads them: worker-online and the task's events.
func TestEventsOverAMQP(t *testing.T) {
	e := newEnv(t)
	ev := startCeleriac(t, "events", "-b", e.URL, "--json")
	ev.WaitLog(t, "listening", 30*time.Second)
	e.startWorker(t, "-E", "-n", "goev@%h")
	id := e.pySend(t, "tasks.add", "--args", "[1, 2]")
	if r := e.pyGet(t, id); r.State != "SUCCESS" {
		t.Fatalf("tasks.add: %+v", r)
	}
	ev.WaitLog(t, `"task-succeeded"`, 30*time.Second)
	log := ev.Log()
	for _, s := range []string{`"worker-online"`, `"task-received"`, id} {
		if !strings.Contains(log, s) {
			t.Errorf("no %s in the events:\n%s", s, log)
		}
	}
}

// TestETATasksDoNotFillPrefetch: with a prefetch window of one, tasks
// waiting for their countdown do not block the queue: the prefetch count
// is raised by one for each held ETA task, as Celery does, and a task
// sent after them runs at once.
func TestETATasksDoNotFillPrefetch(t *testing.T) {
	e := newEnv(t)
	e.startWorker(t, "-c", "1", "--prefetch-multiplier", "1", "-n", "goqos@%h")
	ctx := ctxFor(t, time.Minute)
	for range 3 {
		if _, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(0, 0), celery.Countdown(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(5, 6))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var sum int
	if err := r.Get(wctx, &sum); err != nil || sum != 11 {
		t.Fatalf("task behind three ETA tasks: %d, %v", sum, err)
	}
}

// TestHeldETATasksSurviveBatchedAcks: acknowledgements the worker sends
// for many deliveries at once never cover a delivery it still holds. Two
// ETA tasks due in an hour arrive first, then a stream of tasks runs to
// the end, some before them, most after; killed (SIGKILL), the worker
// leaves the two unacknowledged, and RabbitMQ gives them back to the
// queue.
func TestHeldETATasksSurviveBatchedAcks(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	var results []*celery.AsyncResult
	for i := range 400 {
		if i == 100 || i == 101 {
			if _, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(0, 0), celery.Countdown(time.Hour)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		r, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(i, i))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	w := e.startWorker(t, "-c", "8", "-n", "held@%h")
	for _, r := range results {
		if meta, err := r.Wait(ctx); err != nil || meta.Status != celery.StateSuccess {
			t.Fatalf("%s: %+v, %v", r.ID, meta, err)
		}
	}
	w.Cmd.Process.Signal(syscall.SIGKILL)
	<-w.Done()
	// RabbitMQ requeues a closed connection's messages shortly after.
	waitUntil(t, "the two ETA tasks back in the queue", 30*time.Second, func() bool {
		left, err := e.Broker.QueueLength(ctx, "celery")
		return err == nil && left == 2
	})
}
