//go:build integration

package amqp

// Routing over AMQP, both ways against Python Celery on py-amqp:
// task_routes and task_queues (a topic exchange), kombu Broadcast queues,
// worker_direct, priority queues declared by celeriac, and beat.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	camqp "github.com/celeriac/celeriac/celery/amqp"
	"github.com/celeriac/celeriac/internal/pypeer"
)

// pyRouted runs routing.py send with the routing table and returns the
// task id.
func (e *env) pyRouted(t *testing.T, args ...string) string {
	t.Helper()
	var sent struct{ ID string }
	cmd := e.py()
	cmd.Env = pypeer.RoutingEnv()
	cmd.RunJSON(t, &sent, "routing.py", append([]string{"send"}, args...)...)
	return sent.ID
}

// TestRoutesGoClientPythonWorkerAMQP: a Go client with task_routes
// declares the queues of task_queues (the topic exchange "feeds", the
// queue bound with "feed.#") and sends each task where Celery would: an
// exact name to its queue, a glob through the topic exchange with its
// routing key, a regexp route to the exchange alone; a Python worker
// consuming those queues runs them all. A client that names the exchange
// but not its type publishes to it as it exists.
func TestRoutesGoClientPythonWorkerAMQP(t *testing.T) {
	e := newEnv(t)
	routes, _ := pypeer.LoadRoutes(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithResultBackend(e.Results), pypeer.WithQueues("routed_add", "feed_tasks"), pypeer.WithEnv(pypeer.RoutingEnv()...))
	c := celery.NewClient(e.Broker, e.Backend, celery.WithRouter(routes))
	ctx := ctxFor(t, time.Minute)
	for _, tc := range []struct {
		task string
		args []any
		want string
	}{
		{"tasks.add", []any{2, 3}, "5"},
		{"tasks.mul", []any{4, 5}, "20"},
		{"tasks.xsum", []any{[]any{1, 2, 3}}, "6"},
	} {
		r, err := c.SendTask(ctx, tc.task, celery.Args(tc.args...))
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Wait(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.task, err)
		}
		if got := fmt.Sprint(m.Result); m.Status != celery.StateSuccess || got != tc.want {
			t.Errorf("%s: %s %v, want SUCCESS %s", tc.task, m.Status, m.Result, tc.want)
		}
	}
	// A client naming the exchange without its type (a plain client,
	// no routes) publishes to it as it exists: the topic binding matches.
	r, err := e.Client.SendTask(ctx, "tasks.mul", celery.Args(6, 7), celery.Route("feeds", "feed.any"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := r.Wait(ctx); err != nil || m.Status != celery.StateSuccess || fmt.Sprint(m.Result) != "42" {
		t.Errorf("tasks.mul through the existing topic exchange: %+v, %v", m, err)
	}
}

// TestRoutesPythonClientGoWorkerAMQP: a Go worker started with the
// routing file declares the topic exchange and binds feed_tasks with
// "feed.#" as kombu does; a Python client's task_routes reach it, a
// route through the exchange alone too (RabbitMQ routes by the
// binding, where kombu's Redis emulation would need the exchange's type).
func TestRoutesPythonClientGoWorkerAMQP(t *testing.T) {
	e := newEnv(t)
	_, path := pypeer.LoadRoutes(t)
	w := e.startWorker(t, "--routes", path, "-Q", "routed_add,feed_tasks", "-c", "2", "-n", "routes-go@celeriac")
	for _, tc := range []struct {
		task, args string
		want       float64
	}{{"tasks.add", "[2, 3]", 5}, {"tasks.mul", "[4, 5]", 20}, {"tasks.xsum", "[[1, 2, 3]]", 6}} {
		id := e.pyRouted(t, tc.task, "--args", tc.args)
		r := e.pyGet(t, id)
		if r.State != "SUCCESS" || r.Result != tc.want || r.Worker != "routes-go@celeriac" {
			t.Errorf("%s: %s %v by %q, want SUCCESS %v by the Go worker", tc.task, r.State, r.Result, r.Worker, tc.want)
		}
	}
	if t.Failed() {
		t.Log(w.Log())
	}
}

// TestBroadcastOverAMQP: a kombu Broadcast queue over AMQP is a fanout
// exchange and a queue per consumer ("bcast.<uuid>", auto-deleted): two
// Go workers and a Python worker each run every message once, whether a
// Python client or a Go client sent it.
func TestBroadcastOverAMQP(t *testing.T) {
	e := newEnv(t)
	routes, path := pypeer.LoadRoutes(t)
	py := pypeer.StartWorker(t, e.URL, pypeer.WithResultBackend(e.Results), pypeer.WithQueues("bcast_tasks"), pypeer.WithEnv(pypeer.RoutingEnv()...), pypeer.WithNodeName("bcpy@%h"))
	g1 := e.startWorker(t, "--routes", path, "-Q", "bcast_tasks", "-n", "bc1@celeriac")
	g2 := e.startWorker(t, "--broadcast-queues", "bcast_tasks", "-Q", "none_here", "-n", "bc2@celeriac")
	// Each consumer has a queue of its own, bound to the fanout exchange.
	out, err := node.Ctl(ctxFor(t, 30*time.Second), "list_queues", "-p", vhostOf(e.URL), "name", "auto_delete", "consumers")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "bcast."); n != 3 {
		t.Fatalf("%d bcast.* queues, want 3 (one per worker):\n%s", n, out)
	}
	var ids []string
	for i := range 2 {
		ids = append(ids, e.pyRouted(t, "tasks.echo", "--args", fmt.Sprintf(`["py%d"]`, i), "--declare-exchanges"))
	}
	c := celery.NewClient(e.Broker, e.Backend, celery.WithRouter(routes))
	r, err := c.SendTask(ctxFor(t, 30*time.Second), "tasks.echo", celery.Args("go"))
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, r.ID)
	for _, id := range ids {
		py.WaitLog(t, "Task tasks.echo["+id+"] succeeded", 30*time.Second)
		g1.WaitLog(t, "tasks.echo["+id+"] succeeded", 30*time.Second)
		g2.WaitLog(t, "tasks.echo["+id+"] succeeded", 30*time.Second)
	}
	for _, id := range ids {
		for name, log := range map[string]string{"python": py.Log(), "bc1": g1.Log(), "bc2": g2.Log()} {
			if n := strings.Count(log, "tasks.echo["+id+"] received"); n != 1 {
				t.Errorf("%s received %s %d times, want once", name, id, n)
			}
		}
	}
}

// TestWorkerDirectOverAMQP: a Go worker with --worker-direct declares
// "<node>.dq2" bound to the C.dq2 direct exchange with its node name, as
// Celery's worker_direct does, so a Python client reaches it alone.
func TestWorkerDirectOverAMQP(t *testing.T) {
	e := newEnv(t)
	const name = "direct-go@celeriac"
	e.startWorker(t, "--worker-direct", "-Q", "nothing_here", "-n", name)
	var sent struct{ ID string }
	e.py().RunJSON(t, &sent, "routing.py", "send", "tasks.add", "--args", "[20, 22]", "--direct", name)
	r := e.pyGet(t, sent.ID)
	if r.State != "SUCCESS" || r.Result != float64(42) || r.Worker != name {
		t.Fatalf("got %s %v by %q, want SUCCESS 42 by %s", r.State, r.Result, r.Worker, name)
	}
}

// TestPriorityQueueDeclared: with --queue-max-priority (Celery's
// task_queue_max_priority) celeriac declares its queues with
// x-max-priority, so a higher priority runs first: on a Go worker for a
// Go client's tasks, on a Python worker (configured alike) too, and on a
// Go worker for a Python client's (the queue declared by kombu). A
// worker configured with another maximum stops with a clear
// PRECONDITION_FAILED error instead of redeclaring the queue.
func TestPriorityQueueDeclared(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	br, err := camqp.NewBroker(e.URL, camqp.WithQueueDefaults(camqp.QueueDefaults{MaxPriority: 10}))
	if err != nil {
		t.Fatal(err)
	}
	c := celery.NewClient(br, e.Backend)
	t.Cleanup(func() { c.Close(); br.Close() })
	send := func(queue string) (low, high []*celery.AsyncResult) {
		for i := range 3 {
			r, err := c.SendTask(ctx, "tasks.add", celery.Args(0, i), celery.Queue(queue), celery.Priority(1))
			if err != nil {
				t.Fatal(err)
			}
			low = append(low, r)
		}
		for _, p := range []int{9, 5} {
			r, err := c.SendTask(ctx, "tasks.add", celery.Args(100, p), celery.Queue(queue), celery.Priority(p))
			if err != nil {
				t.Fatal(err)
			}
			high = append(high, r)
		}
		return low, high
	}
	inOrder := func(log string, low, high []*celery.AsyncResult) bool {
		at := func(r *celery.AsyncResult) int { return strings.Index(log, "tasks.add["+r.ID+"] received") }
		return at(high[0]) >= 0 && at(high[0]) < at(high[1]) && at(high[1]) < at(low[0])
	}

	low, high := send("pq")
	w := e.startWorker(t, "-Q", "pq", "-c", "1", "--prefetch-multiplier", "1", "--queue-max-priority", "10", "-n", "goprio@%h")
	for _, r := range append(high, low...) {
		if _, err := r.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !inOrder(w.Log(), low, high) {
		t.Errorf("Go worker: want priority 9, then 5, then the 1s:\n%s", w.Log())
	}

	low, high = send("pypq")
	py := pypeer.StartWorker(t, e.URL, pypeer.WithResultBackend(e.Results), pypeer.WithQueues("pypq"), pypeer.WithConcurrency(1),
		pypeer.WithPrefetchMultiplier(1), pypeer.WithEnv("CELERIAC_QUEUE_MAX_PRIORITY=10"))
	for _, r := range append(high, low...) {
		if _, err := r.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !inOrder(py.Log(), low, high) {
		t.Errorf("Python worker: want priority 9, then 5, then the 1s:\n%s", py.Log())
	}

	// A Python client with task_queue_max_priority declares the queue
	// (kombu, on its first send) and sends the priorities; the Go worker
	// serves them highest first.
	var items []map[string]any
	for i := range 3 {
		items = append(items, map[string]any{"name": "tasks.add", "args": []any{0, i}, "options": map[string]any{"queue": "pyc", "priority": 1}})
	}
	for _, p := range []int{9, 5} {
		items = append(items, map[string]any{"name": "tasks.add", "args": []any{100, p}, "options": map[string]any{"queue": "pyc", "priority": p}})
	}
	cmd := e.py()
	cmd.Env = append(cmd.Env, "CELERIAC_QUEUE_MAX_PRIORITY=10")
	cmd.Stdin = []byte(toJSON(t, items))
	var ids []string
	cmd.RunJSON(t, &ids, "client.py", "raw-publish")
	if len(ids) != len(items) {
		t.Fatalf("Python client published %d tasks, want %d", len(ids), len(items))
	}
	res := make([]*celery.AsyncResult, len(ids))
	for i, id := range ids {
		res[i] = c.AsyncResult(id)
	}
	low, high = res[:3], res[3:]
	w = e.startWorker(t, "-Q", "pyc", "-c", "1", "--prefetch-multiplier", "1", "--queue-max-priority", "10", "-n", "gopyc@%h")
	for _, r := range append(high, low...) {
		if _, err := r.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !inOrder(w.Log(), low, high) {
		t.Errorf("Python client, Go worker: want priority 9, then 5, then the 1s:\n%s", w.Log())
	}

	out, code := celeriac(t, "worker", "-b", e.URL, "--result-backend", e.Results, "-Q", "pq", "--queue-max-priority", "5", "-n", "mismatch@%h", "--without-control")
	if code == 0 || !strings.Contains(out, "PRECONDITION_FAILED") || !strings.Contains(out, "x-max-priority") {
		t.Errorf("worker with another x-max-priority: exit %d, want an error naming PRECONDITION_FAILED and the argument\n%s", code, out)
	}
}

// TestQuorumQueueDeclared: --default-queue-type quorum (Celery 5.5's
// task_default_queue_type) declares the default queue as a quorum queue,
// consumed with a per-consumer prefetch; a Python client so configured
// sends to it.
func TestQuorumQueueDeclared(t *testing.T) {
	e := newEnv(t)
	e.startWorker(t, "--default-queue-type", "quorum", "-n", "goqq@%h", "-c", "1", "--prefetch-multiplier", "1")
	out, err := node.Ctl(ctxFor(t, 30*time.Second), "list_queues", "-p", vhostOf(e.URL), "name", "type")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "celery" {
			found = f[1] == "quorum"
		}
	}
	if !found {
		t.Fatalf("the celery queue is not a quorum queue:\n%s", out)
	}
	// A Python client must be configured alike: kombu declares the
	// queue before it publishes, and RabbitMQ refuses a classic one.
	var sent struct{ ID string }
	cmd := e.py()
	cmd.Env = []string{"CELERIAC_DEFAULT_QUEUE_TYPE=quorum"}
	cmd.RunJSON(t, &sent, "client.py", "send", "tasks.add", "--args", "[1, 2]")
	if r := e.pyGet(t, sent.ID); r.State != "SUCCESS" || r.Result != float64(3) {
		t.Fatalf("tasks.add on the quorum queue: %+v", r)
	}
}

// TestBeatOverAMQP: `celeriac beat` with an AMQP broker keeps its lock
// and last runs in the result backend's Redis and sends its due tasks
// over AMQP, to a Go and a Python worker.
func TestBeatOverAMQP(t *testing.T) {
	e := newEnv(t)
	e.startWorker(t, "-Q", "go", "-n", "gobeat@%h")
	py := pypeer.StartWorker(t, e.URL, pypeer.WithResultBackend(e.Results), pypeer.WithQueues("py"))
	sched := filepath.Join(t.TempDir(), "schedule.yaml")
	if err := os.WriteFile(sched, []byte(`
entries:
  py-add: {task: tasks.add, every: 1s, args: [2, 3], queue: py}
  go-add: {task: tasks.add, every: 1s, kwargs: {x: 4, y: 5}, queue: go}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without a Redis result backend, beat has nowhere to keep its lock.
	out, code := celeriac(t, "beat", "--schedule", sched, "-b", e.URL)
	if code != 2 || !strings.Contains(out, "--result-backend redis://") {
		t.Fatalf("beat over AMQP without a Redis backend: exit %d\n%s", code, out)
	}
	b := startCeleriac(t, "beat", "--schedule", sched, "-b", e.URL, "--result-backend", e.Results, "--lease", "2s")
	b.WaitLog(t, "Sending due task go-add", 30*time.Second)
	b.WaitLog(t, "Sending due task py-add", 30*time.Second)
	py.WaitLog(t, "succeeded", 30*time.Second)
	// The Go worker ran one: its result is in Redis under a beat id.
	ctx := ctxFor(t, 30*time.Second)
	for _, line := range strings.Split(b.Log(), "\n") {
		if !strings.Contains(line, "go-add") || !strings.Contains(line, "id=") {
			continue
		}
		id := strings.Fields(line[strings.Index(line, "id=")+3:])[0]
		m, err := e.Client.AsyncResult(id).Wait(ctx)
		if err != nil || m.Status != celery.StateSuccess || fmt.Sprint(m.Result) != "9" {
			t.Fatalf("go-add %s: %+v, %v", id, m, err)
		}
		return
	}
	t.Fatalf("no go-add id in the beat's log:\n%s", b.Log())
}

// TestQueueArgumentsDeclared: a Go client declares the task_queues of a
// routing file with their arguments (x-max-priority, x-queue-type,
// x-expires, x-message-ttl) before it first sends to them; a client
// whose declaration of one of them differs gets ErrPreconditionFailed,
// and the queue keeps its arguments.
func TestQueueArgumentsDeclared(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	routes, err := celery.ParseRoutes([]byte(`
task_queues:
  prio: {max_priority: 5}
  scratch: {expires: 300, message_ttl: 60}
  qq: {queue_arguments: {x-queue-type: quorum}}
`), false)
	if err != nil {
		t.Fatal(err)
	}
	c := celery.NewClient(e.Broker, e.Backend, celery.WithRouter(routes))
	for _, q := range []string{"prio", "scratch", "qq"} {
		if _, err := c.SendTask(ctx, "tasks.add", celery.Args(1, 1), celery.Queue(q)); err != nil {
			t.Fatalf("send to %s: %v", q, err)
		}
	}
	out, err := node.Ctl(ctx, "list_queues", "-p", vhostOf(e.URL), "name", "type", "arguments")
	if err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string][]string{
		"prio":    {"x-max-priority", "5"},
		"scratch": {"x-expires", "300000", "x-message-ttl", "60000"},
		"qq":      {"quorum"},
	} {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == q {
				line = l
			}
		}
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("queue %s: %q, want %s in it:\n%s", q, line, w, out)
			}
		}
		if n, err := e.Broker.QueueLength(ctx, q); err != nil || n != 1 {
			t.Errorf("queue %s holds %d messages (%v), want 1", q, n, err)
		}
	}

	other := celery.NewRoutes()
	if err := other.DeclareQueue(celery.QueueSpec{Name: "prio", MaxPriority: 9}); err != nil {
		t.Fatal(err)
	}
	br, err := camqp.NewBroker(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	c2 := celery.NewClient(br, e.Backend, celery.WithRouter(other))
	defer c2.Close()
	_, err = c2.SendTask(ctx, "tasks.add", celery.Args(1, 1), celery.Queue("prio"))
	if !errors.Is(err, camqp.ErrPreconditionFailed) || !strings.Contains(err.Error(), "x-max-priority") {
		t.Fatalf("send with another x-max-priority: %v, want ErrPreconditionFailed naming the argument", err)
	}
}
