//go:build integration

package integration

// Routing as Celery configures it, both ways against Python Celery:
// task_routes (names, globs, regexps) and task_queues with topic
// exchanges, kombu Broadcast queues, worker_direct, and the worker's
// event_serializer.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

// TestRoutesGoClientPythonWorker: a Go client with task_routes sends
// each task where a Python client with the same task_routes would: an
// exact name to its queue, a glob to a topic queue through its exchange,
// a regexp route through the topic exchange alone (the Python worker's
// binding pattern matches); a Python worker consuming those queues runs
// them all.
func TestRoutesGoClientPythonWorker(t *testing.T) {
	e := newEnv(t)
	routes, _ := pypeer.LoadRoutes(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues("routed_add", "feed_tasks"), pypeer.WithEnv(pypeer.RoutingEnv()...))
	c := celery.NewClient(e.Broker, e.Backend, celery.WithRouter(routes))
	ctx := ctxFor(t, 60*time.Second)
	for _, tc := range []struct {
		task  string
		args  []any
		queue string // result_extended's queue: the routing key
		want  float64
	}{
		{"tasks.add", []any{2, 3}, "routed_add", 5},
		{"tasks.mul", []any{4, 5}, "feed.mul", 20},
		{"tasks.xsum", []any{[]any{1, 2, 3}}, "feed.xsum.daily", 6},
	} {
		r, err := c.SendTask(ctx, tc.task, celery.Args(tc.args...))
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Wait(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.task, err)
		}
		if got := fmt.Sprint(m.Result); m.Status != celery.StateSuccess || got != fmt.Sprint(tc.want) || m.Queue != tc.queue {
			t.Errorf("%s: %s %v from %q, want SUCCESS %v from %q", tc.task, m.Status, m.Result, m.Queue, tc.want, tc.queue)
		}
	}
	// The CLI routes the same way.
	_, path := pypeer.LoadRoutes(t)
	out, err := exec.Command(binary, "call", "tasks.add", "--broker", e.URL, "--routes", path, "--args", "[40, 2]", "--wait", "--timeout", "30s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "42") {
		t.Fatalf("celeriac call --routes: %v\n%s", err, out)
	}
	// An explicit queue wins over the route.
	startGoWorker(t, e.URL, nil, worker.WithQueues("explicit"), worker.WithResultExtended(true), wkLogger(t))
	r, err := c.SendTask(ctx, "tasks.add", celery.Args(1, 1), celery.Queue("explicit"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := r.Wait(ctx); err != nil || m.Queue != "explicit" {
		t.Fatalf("explicit queue: %v, %+v", err, m)
	}
}

// TestRoutesPythonClientGoWorker: a Python client's task_routes (Celery's
// own routing) reach a Go worker started with the same table as a
// --routes file: it binds the topic queue with kombu's pattern, so the
// Python publisher's lookup finds it.
func TestRoutesPythonClientGoWorker(t *testing.T) {
	e := newEnv(t)
	_, path := pypeer.LoadRoutes(t)
	p := startBinary(t, "worker ready", "worker", "--broker", e.URL, "--routes", path, "-Q", "routed_add,feed_tasks", "-c", "2", "-n", "routes-go@celeriac", "--result-extended")
	// The topic binding is in place before "worker ready".
	members := redisStrings(t, e.URL, "SMEMBERS", "_kombu.binding.feeds")
	if want := kombu.BindingMember("feed.#", `^feed\..*?$`, "feed_tasks"); len(members) != 1 || members[0] != want {
		t.Fatalf("_kombu.binding.feeds = %q, want [%q]", members, want)
	}
	for _, tc := range []struct {
		task, args string
		want       float64
	}{{"tasks.add", "[2, 3]", 5}, {"tasks.mul", "[4, 5]", 20}} {
		// Not tasks.xsum: a Python client publishing through an exchange
		// it never declared (a route without a queue) takes it for a
		// direct one (kombu's typeof default), so the topic binding is
		// not matched and kombu drops the message. The Go client knows
		// the type from the route.
		var sent struct{ ID string }
		pypeer.Cmd{BrokerURL: e.URL, Env: pypeer.RoutingEnv()}.RunJSON(t, &sent, "routing.py", "send", tc.task, "--args", tc.args)
		r := pyGet(t, e.URL, sent.ID)
		if got, _ := r.Result.(float64); r.State != "SUCCESS" || got != tc.want || r.Worker != "routes-go@celeriac" {
			t.Errorf("%s: %s %v by %q, want SUCCESS %v by the Go worker", tc.task, r.State, r.Result, r.Worker, tc.want)
		}
	}
	if t.Failed() {
		t.Log(p.Log())
	}
}

// TestBroadcastInterop: a kombu Broadcast queue reaches every consumer
// once: two Go workers and a Python worker each run every message a
// Python client sends to it, and a Go client's broadcast reaches the
// Python worker too.
func TestBroadcastInterop(t *testing.T) {
	e := newEnv(t)
	routes, _ := pypeer.LoadRoutes(t)
	py := pypeer.StartWorker(t, e.URL, pypeer.WithQueues("bcast_tasks"), pypeer.WithEnv(pypeer.RoutingEnv()...))
	g1 := startGoWorker(t, e.URL, nil, worker.WithHostname("bc1@celeriac"), worker.WithRoutes(routes), worker.WithQueues("bcast_tasks"), wkLogger(t))
	g2 := startGoWorker(t, e.URL, nil, worker.WithHostname("bc2@celeriac"), worker.WithRoutes(routes), worker.WithQueues("bcast_tasks"), wkLogger(t))
	// Each of them subscribed (besides their remote-control nodes, the
	// Python worker's event/pidbox connections vary: count the channel).
	waitNumSub(t, e.URL, "/0.bcast_tasks/celery", 3)

	// A Python client must have declared the fanout exchange in its
	// process (kombu learns an exchange's type from declarations only):
	// Celery does not declare a Broadcast queue's exchange when it sends.
	var ids []string
	for i := range 2 {
		var sent struct{ ID string }
		pypeer.Cmd{BrokerURL: e.URL, Env: pypeer.RoutingEnv()}.RunJSON(t, &sent, "routing.py", "send", "tasks.echo", "--args", `["py`+string(rune('0'+i))+`"]`, "--declare-exchanges")
		ids = append(ids, sent.ID)
	}
	c := celery.NewClient(e.Broker, e.Backend, celery.WithRouter(routes))
	r, err := c.SendTask(ctxFor(t, 30*time.Second), "tasks.echo", celery.Args("go"))
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, r.ID)
	for _, id := range ids {
		py.WaitLog(t, "Task tasks.echo["+id+"] succeeded", 30*time.Second)
	}
	deadline := time.Now().Add(30 * time.Second)
	for g1.Processed() < 3 || g2.Processed() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("Go workers ran %d and %d broadcast tasks, want 3 each", g1.Processed(), g2.Processed())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // no second copy arrives
	if g1.Processed() != 3 || g2.Processed() != 3 {
		t.Fatalf("Go workers ran %d and %d broadcast tasks, want 3 each", g1.Processed(), g2.Processed())
	}
	for _, id := range ids {
		if n := strings.Count(py.Log(), "Task tasks.echo["+id+"] received"); n != 1 {
			t.Errorf("the Python worker received %s %d times, want once", id, n)
		}
	}
}

// TestBroadcastQueuesFlag: `celeriac worker --broadcast-queues` consumes
// a Broadcast queue; two such workers each run a Go client's broadcast
// task once.
func TestBroadcastQueuesFlag(t *testing.T) {
	e := newEnv(t)
	w1 := startBinary(t, "worker ready", "worker", "--broker", e.URL, "--broadcast-queues", "bq", "-Q", "none1", "-n", "bq1@celeriac")
	w2 := startBinary(t, "worker ready", "worker", "--broker", e.URL, "--broadcast-queues", "bq", "-Q", "none2", "-n", "bq2@celeriac")
	waitNumSub(t, e.URL, "/0.bq/celery", 2)
	routes := celery.NewRoutes()
	if err := routes.DeclareQueue(celery.QueueSpec{Name: "bq", ExchangeType: celery.ExchangeFanout}); err != nil {
		t.Fatal(err)
	}
	c := celery.NewClient(e.Broker, e.Backend, celery.WithRouter(routes))
	r, err := c.SendTask(ctxFor(t, 30*time.Second), "tasks.add", celery.Args(1, 2), celery.Queue("bq"))
	if err != nil {
		t.Fatal(err)
	}
	line := "Task tasks.add[" + r.ID + "] succeeded"
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w1.Log(), line) || !strings.Contains(w2.Log(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("both workers should have run %s", r.ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n1, n2 := strings.Count(w1.Log(), line), strings.Count(w2.Log(), line); n1 != 1 || n2 != 1 {
		t.Fatalf("ran %d and %d times, want once each", n1, n2)
	}
}

// TestWorkerDirectInterop: a Python client sends to one named Go worker
// through celery.utils.worker_direct; another worker consuming the
// default queue gets nothing.
func TestWorkerDirectInterop(t *testing.T) {
	e := newEnv(t)
	const node = "direct-go@celeriac"
	startBinary(t, "worker ready", "worker", "--broker", e.URL, "--worker-direct", "-Q", "nothing_here", "-c", "2", "-n", node, "--result-extended")
	var sent struct{ ID string }
	pypeer.Cmd{BrokerURL: e.URL}.RunJSON(t, &sent, "routing.py", "send", "tasks.add", "--args", "[20, 22]", "--direct", node)
	r := pyGet(t, e.URL, sent.ID)
	if got, _ := r.Result.(float64); r.State != "SUCCESS" || got != 42 || r.Worker != node {
		t.Fatalf("got %s %v by %q, want SUCCESS 42 by %s", r.State, r.Result, r.Worker, node)
	}
}

// TestEventSerializerMsgpack: a Go worker with --event-serializer msgpack
// sends msgpack events, which a Python EventReceiver (event_serializer
// msgpack) reads.
func TestEventSerializerMsgpack(t *testing.T) {
	e := newEnv(t)
	const node = "evmp-go@celeriac"
	// The Python receiver, listening before the worker starts.
	cmd := exec.Command(pypeer.Python(t), "routing.py", "events", "--hostname", node, "--timeout", "60")
	cmd.Dir = pypeer.PyAppDir(t)
	cmd.Env = append(os.Environ(), "CELERY_BROKER_URL="+e.URL, "CELERY_RESULT_BACKEND="+e.URL, "CELERIAC_EVENT_SERIALIZER=msgpack")
	var stdout bytes.Buffer
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	waitNumPat(t, e.URL, "/0.celeryev/*", 1)

	// The raw bytes on the wire, read beside it.
	raw := make(chan []byte, 64)
	sctx, stop := context.WithCancel(context.Background())
	subDone := make(chan struct{})
	subReady := make(chan struct{})
	go func() {
		defer close(subDone)
		e.Broker.Subscribe(sctx, "celeryev", "*", func() { close(subReady) }, func(b []byte) {
			select {
			case raw <- b:
			default:
			}
		})
	}()
	t.Cleanup(func() { stop(); <-subDone })
	<-subReady

	startGoWorker(t, e.URL, nil, worker.WithHostname(node), worker.WithQueues("evq"), worker.WithEvents(true),
		worker.WithEventSerializer("msgpack"), wkLogger(t))
	r, err := e.Client.SendTask(ctxFor(t, 30*time.Second), "tasks.add", celery.Args(1, 2), celery.Queue("evq"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctxFor(t, 30*time.Second), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("routing.py events: %v\n%s", waitErr, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the Python receiver saw no task-succeeded from %s:\n%s\n%s", node, stdout.String(), stderr.String())
	}
	var got struct {
		Events []struct{ Type, Hostname string }
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		json.Unmarshal(sc.Bytes(), &got) // the last line holds the events
	}
	types := map[string]bool{}
	for _, ev := range got.Events {
		if ev.Hostname == node {
			types[ev.Type] = true
		}
	}
	for _, want := range []string{"worker-online", "task-received", "task-started", "task-succeeded"} {
		if !types[want] {
			t.Errorf("the Python receiver got no %s from %s: %+v", want, node, got.Events)
		}
	}
	// Each event message from the Go worker is msgpack.
	n := 0
	for len(raw) > 0 {
		env, err := kombu.ParseEnvelope(<-raw)
		if err != nil {
			t.Fatal(err)
		}
		if env.Headers["hostname"] != node {
			continue
		}
		n++
		if env.ContentType != "application/x-msgpack" || env.ContentEncoding != "binary" {
			t.Errorf("event content %s/%s, want application/x-msgpack/binary", env.ContentType, env.ContentEncoding)
		}
	}
	if n == 0 {
		t.Error("no event of the Go worker seen on the wire")
	}
}

// redisStrings runs one command on the test's Redis.
func redisStrings(t *testing.T, url, cmd string, args ...any) []string {
	t.Helper()
	c, err := redis.DialURL(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := redis.Strings(c.Do(cmd, args...))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitNumSub waits until at least n connections subscribe to pattern
// (PUBSUB NUMSUB counts channels, CLIENT LIST patterns: count these).
func waitNumSub(t *testing.T, url, channel string, n int) {
	t.Helper()
	waitNumPat(t, url, channel, n)
}

// waitNumPat waits until at least n connections have pattern among
// their subscriptions (CLIENT LIST counts, one psub per pattern).
func waitNumPat(t *testing.T, url, pattern string, n int) {
	t.Helper()
	c, err := redis.DialURL(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// PUBSUB NUMSUB does not count patterns; publish nothing, count
		// the receivers a PUBLISH would reach instead.
		got, err := redis.Int(c.Do("PUBLISH", pattern, ""))
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers of %s, want %d (%v)", got, pattern, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBeatRoutes: `celeriac beat --routes` sends an entry without a queue
// to its task's route's queue, where a Python worker runs it.
func TestBeatRoutes(t *testing.T) {
	e := newEnv(t)
	_, routes := pypeer.LoadRoutes(t)
	py := pypeer.StartWorker(t, e.URL, pypeer.WithQueues("routed_add"))
	sched := writeSchedule(t, `
entries:
  routed: {task: tasks.add, every: 1s, args: [2, 3]}
`)
	p := startBinary(t, "leadership acquired", "beat", "--schedule", sched, "--broker", e.URL, "--lease", "2s", "--routes", routes)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ids := sentIDs(p.Log())["routed"]
		if len(ids) > 0 && strings.Contains(py.Log(), "Task tasks.add["+ids[0]+"] succeeded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Python worker on routed_add ran none of %v", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
