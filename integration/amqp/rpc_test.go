//go:build integration

package amqp

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/celery"
	camqp "github.com/celeriac/celeriac/celery/amqp"
	"github.com/celeriac/celeriac/internal/pypeer"
)

// The rpc:// result backend: results travel as messages to the reply
// queue of the client that sent the task (docs/wire.md#rpc-result-backend).

// rpcClient returns a Go client on e's vhost with the rpc result backend,
// and the backend.
func rpcClient(t *testing.T, e *env) (*celery.Client, *camqp.RPCBackend) {
	t.Helper()
	br, err := camqp.NewBroker(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	be, err := camqp.NewRPCBackend(br)
	if err != nil {
		t.Fatal(err)
	}
	c := celery.NewClient(br, be, celery.WithOwnership())
	t.Cleanup(func() { c.Close() })
	return c, be
}

// pyRPC is a Python client command with the rpc result backend.
func (e *env) pyRPC() pypeer.Cmd { return pypeer.Cmd{BrokerURL: e.URL, ResultBackend: "rpc://"} }

// rpcStates is what rpc.py states prints.
type rpcStates struct {
	ID        string   `json:"id"`
	States    []string `json:"states"`
	State     string   `json:"state"`
	Result    any      `json:"result"`
	Exception *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"exception"`
}

// TestRPCPythonClientGoWorker: a Python client with backend='rpc://'
// gets from a Go worker the value of a task, the exception of a failed
// one with its type, (track_started) the STARTED state before the
// result, and the RETRY states of a retried task, all on its own reply
// queue.
func TestRPCPythonClientGoWorker(t *testing.T) {
	e := newEnv(t)
	p := startCeleriac(t, "worker", "-b", e.URL, "--result-backend", "rpc://", "--loglevel", "info", "-c", "2", "--track-started", "-n", "gorpc@%h")
	p.WaitLog(t, "ready", 60*time.Second)

	var add rpcStates
	e.pyRPC().RunJSON(t, &add, "rpc.py", "states", "tasks.add", "--args", "[2, 3]")
	if add.State != "SUCCESS" || add.Result != float64(5) {
		t.Errorf("tasks.add(2, 3) over rpc: %+v, want SUCCESS 5", add)
	}
	if strings.Join(add.States, ",") != "STARTED,SUCCESS" {
		t.Errorf("tasks.add states seen by the Python client: %v, want [STARTED SUCCESS]", add.States)
	}
	var fail rpcStates
	e.pyRPC().RunJSON(t, &fail, "rpc.py", "states", "tasks.fail", "--args", `["rpc boom"]`)
	if fail.State != "FAILURE" || fail.Exception == nil || fail.Exception.Type != "ValueError" || fail.Exception.Message != "rpc boom" {
		t.Errorf("tasks.fail over rpc: %+v (exception %+v), want FAILURE ValueError('rpc boom')", fail, fail.Exception)
	}

	// A retried task: its RETRY states reach the client, then the
	// result of the attempt that succeeds (the retry keeps reply_to).
	var flaky rpcStates
	e.pyRPC().RunJSON(t, &flaky, "rpc.py", "states", "tasks.flaky", "--args", `["rpc-flaky", 2]`)
	if flaky.State != "SUCCESS" || flaky.Result != float64(3) || strings.Join(flaky.States, ",") != "STARTED,RETRY,STARTED,RETRY,STARTED,SUCCESS" {
		t.Errorf("tasks.flaky over rpc: %+v, want STARTED,RETRY twice, then SUCCESS 3", flaky)
	}

	// Several tasks sent by one Python process, read back in order.
	var many []struct {
		ID     string `json:"id"`
		State  string `json:"state"`
		Result any    `json:"result"`
	}
	c := e.pyRPC()
	c.Stdin = []byte(`[{"name": "tasks.add", "args": [1, 1]}, {"name": "tasks.echo", "args": ["x"]}, {"name": "tasks.add", "args": [40, 2]}]`)
	c.RunJSON(t, &many, "client.py", "send-get")
	if len(many) != 3 || many[0].Result != float64(2) || toJSON(t, many[1].Result) != `[["x"],{}]` || many[2].Result != float64(42) {
		t.Errorf("send-get over rpc: %+v", many)
	}
}

// TestRPCGoClientPythonWorker: the Go client's rpc backend reads what a
// Python worker sends to its reply queue: a value, a failure, and the
// states on the way (STARTED with track_started).
func TestRPCGoClientPythonWorker(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithResultBackend("rpc://"), pypeer.WithNodeName("pyrpc@%h"), pypeer.WithTrackStarted())
	c, _ := rpcClient(t, e)
	ctx := ctxFor(t, time.Minute)
	res, err := c.SendTask(ctx, "tasks.add", celery.Args(20, 22))
	if err != nil {
		t.Fatal(err)
	}
	var states []celery.State
	meta, err := c.Results().WatchMax(ctx, res.ID, 0, func(m *celery.ResultMeta) { states = append(states, m.Status) })
	if err != nil || meta.Status != celery.StateSuccess {
		t.Fatalf("tasks.add: %+v, %v", meta, err)
	}
	var sum int
	if err := res.Get(ctx, &sum); err != nil || sum != 42 {
		t.Errorf("tasks.add(20, 22) = %d, %v; want 42", sum, err)
	}
	if states[len(states)-1] != celery.StateSuccess || !containsState(states, celery.StateStarted) {
		t.Errorf("states seen: %v, want STARTED then SUCCESS", states)
	}

	res, err = c.SendTask(ctx, "tasks.fail", celery.Args("py rpc boom"))
	if err != nil {
		t.Fatal(err)
	}
	var te *celery.TaskError
	if err := res.Get(ctx, nil); !errors.As(err, &te) || te.Type != "ValueError" || te.Message() != "py rpc boom" {
		t.Errorf("tasks.fail: %v, want a ValueError TaskError", err)
	}

	// PROGRESS states (update_state) come through as well.
	res, err = c.SendTask(ctx, "tasks.progress", celery.Args(3))
	if err != nil {
		t.Fatal(err)
	}
	meta, err = res.Wait(ctx)
	if err != nil || meta.Status != celery.StateSuccess || meta.Result != "done" {
		t.Errorf("tasks.progress: %+v, %v", meta, err)
	}
}

func containsState(states []celery.State, s celery.State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// TestRPCGoClientGoWorker: Go client and Go worker over rpc://: values,
// failures, a task the client was not waiting for, a result for another
// client's task that never reaches this one, and chords refused.
func TestRPCGoClientGoWorker(t *testing.T) {
	e := newEnv(t)
	p := startCeleriac(t, "worker", "-b", e.URL, "--result-backend", "rpc", "--loglevel", "info", "-c", "4", "-n", "gorpc2@%h", "--track-started")
	p.WaitLog(t, "ready", 60*time.Second)
	c, be := rpcClient(t, e)
	other, _ := rpcClient(t, e)
	ctx := ctxFor(t, time.Minute)

	var results []*celery.AsyncResult
	for i := range 20 {
		r, err := c.SendTask(ctx, "tasks.add", celery.Args(i, 1))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	// Read them last to first: states of tasks not waited for are kept.
	for i := len(results) - 1; i >= 0; i-- {
		var n int
		if err := results[i].Get(ctx, &n); err != nil || n != i+1 {
			t.Errorf("tasks.add(%d, 1) = %d, %v", i, n, err)
		}
	}
	fail, err := c.SendTask(ctx, "tasks.fail", celery.Args("go rpc boom"))
	if err != nil {
		t.Fatal(err)
	}
	var te *celery.TaskError
	if err := fail.Get(ctx, nil); !errors.As(err, &te) || te.Type != "ValueError" {
		t.Errorf("tasks.fail: %v, want a ValueError TaskError", err)
	}

	// Another client's result goes to its own queue: this client does
	// not see it (PENDING), the other one does.
	mine, err := other.SendTask(ctx, "tasks.add", celery.Args(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := mine.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := c.AsyncResult(mine.ID).State(ctx); err != nil || st != celery.StatePending {
		t.Errorf("another client's task seen here as %s, %v; want PENDING", st, err)
	}

	// Chords cannot be run with rpc: refused before anything is sent.
	chord := celery.Chord([]celery.Signature{celery.NewSignature("tasks.add", 1, 2)}, celery.NewSignature("tasks.xsum"))
	if _, err := c.ApplyCanvas(ctx, chord, celery.ApplyInfo{}); !errors.Is(err, camqp.ErrNoChords) {
		t.Errorf("chord over rpc: %v, want ErrNoChords", err)
	}
	if err := be.SetChordSize(ctx, "g1", 2); !errors.Is(err, camqp.ErrNoChords) {
		t.Errorf("SetChordSize: %v, want ErrNoChords", err)
	}
	if err := be.Forget(ctx, results[0].ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := results[0].State(ctx); st != celery.StatePending {
		t.Errorf("forgotten task: %s, want PENDING", st)
	}
}

// TestRPCReplyQueueAsPython: the Go client declares its reply queue with
// the same properties as a Python client (durable, auto-delete,
// x-expires of result_expires), and names it in reply_to.
func TestRPCReplyQueueAsPython(t *testing.T) {
	e := newEnv(t)
	var py struct {
		Queue string `json:"queue"`
	}
	e.pyRPC().RunJSON(t, &py, "rpc.py", "declare")
	c, be := rpcClient(t, e)
	ctx := ctxFor(t, time.Minute)
	m, _ := c.BuildMessage("tasks.add")
	if m.Properties.ReplyTo != be.ReplyTo() || m.Properties.CorrelationID != "" && m.Properties.CorrelationID != m.ID {
		t.Errorf("reply_to %q, correlation id %q; want %q, the task id", m.Properties.ReplyTo, m.Properties.CorrelationID, be.ReplyTo())
	}
	if _, err := c.SendTask(ctx, "tasks.add", celery.Args(1, 2), celery.Queue("nobody")); err != nil {
		t.Fatal(err)
	}
	out, err := node.Ctl(ctx, "list_queues", "-q", "-p", vhostOf(e.URL), "name", "durable", "auto_delete", "exclusive", "arguments")
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		props[f[0]] = strings.Join(f[1:], " ")
	}
	pyProps, goProps := props[py.Queue], props[be.ReplyTo()]
	if pyProps == "" || goProps == "" {
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("reply queues: Python %q, Go %q not both listed in %v", py.Queue, be.ReplyTo(), keys)
	}
	t.Logf("reply queues (durable, auto_delete, exclusive, arguments): Python %s, Go %s", pyProps, goProps)
	if pyProps != goProps {
		t.Errorf("Go reply queue declared as %q, Python's as %q", goProps, pyProps)
	}
	if !strings.Contains(goProps, "x-expires") || !strings.Contains(goProps, "86400000") {
		t.Errorf("Go reply queue %q: want x-expires 86400000 (result_expires 1 day)", goProps)
	}
}

// TestRPCCallWait: `celeriac call --wait` with --result-backend rpc://
// prints the result a Go worker sends to its reply queue; with a Redis
// broker rpc:// is refused in one line.
func TestRPCCallWait(t *testing.T) {
	e := newEnv(t)
	p := startCeleriac(t, "worker", "-b", e.URL, "--result-backend", "rpc://", "--loglevel", "info", "-n", "gorpc3@%h")
	p.WaitLog(t, "ready", 60*time.Second)
	out, code := celeriac(t, "call", "tasks.add", "-a", "[20, 22]", "--wait", "--timeout", "60s", "-b", e.URL, "--result-backend", "rpc://")
	if code != 0 || !strings.Contains(out, `"SUCCESS"`) || !strings.Contains(out, "42") {
		t.Errorf("call --wait over rpc: exit %d\n%s", code, out)
	}
	out, code = celeriac(t, "call", "tasks.fail", "-a", `["call boom"]`, "--wait", "--timeout", "60s", "-b", e.URL, "--result-backend", "rpc")
	if code != 1 || !strings.Contains(out, "ValueError") {
		t.Errorf("call --wait of a failing task over rpc: exit %d\n%s", code, out)
	}
	out, code = celeriac(t, "call", "tasks.add", "-a", "[1, 2]", "-b", e.Results, "--result-backend", "rpc://")
	if code == 0 || !strings.Contains(out, "rpc:// needs an AMQP broker") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("rpc:// with a Redis broker: exit %d\n%s", code, out)
	}
}

// TestRPCReplyMessageAsPython: the state messages a Go worker sends to a
// task's reply_to are those of a Python worker: default exchange, routing
// key reply_to, correlation id = task id, JSON content type, transient
// (result_persistent off), and the same meta keys (result_extended on
// both).
func TestRPCReplyMessageAsPython(t *testing.T) {
	e := newEnv(t)
	p := startCeleriac(t, "worker", "-b", e.URL, "--result-backend", "rpc://", "--loglevel", "info", "--result-extended", "-Q", "goq", "-n", "gorpcw@%h")
	p.WaitLog(t, "ready", 60*time.Second)
	pypeer.StartWorker(t, e.URL, pypeer.WithResultBackend("rpc://"), pypeer.WithQueues("pyq"), pypeer.WithNodeName("pyrpcw@%h"))
	ctx := ctxFor(t, time.Minute)
	ch := e.channel(t)
	got := map[string]amqp.Delivery{}
	for _, side := range []string{"go", "py"} {
		q := "replies-" + side
		if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		msgs, err := ch.Consume(q, "", true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(2, 3), celery.Queue(side+"q"), celery.ReplyTo(q))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-msgs:
			if d.CorrelationId != res.ID {
				t.Errorf("%s worker: correlation id %q, want the task id %q", side, d.CorrelationId, res.ID)
			}
			got[side] = d
		case <-ctx.Done():
			t.Fatalf("%s worker: no reply on %s", side, q)
		}
	}
	g, py := got["go"], got["py"]
	for _, c := range []struct {
		what     string
		goV, pyV any
	}{
		{"exchange", g.Exchange, py.Exchange},
		{"content type", g.ContentType, py.ContentType},
		{"content encoding", g.ContentEncoding, py.ContentEncoding},
		{"delivery mode", g.DeliveryMode, py.DeliveryMode},
		{"priority", g.Priority, py.Priority},
		{"reply_to", g.ReplyTo, py.ReplyTo},
	} {
		if c.goV != c.pyV {
			t.Errorf("%s: Go worker %v, Python worker %v", c.what, c.goV, c.pyV)
		}
	}
	if g.RoutingKey != "replies-go" || py.RoutingKey != "replies-py" {
		t.Errorf("routing keys %q, %q: want reply_to", g.RoutingKey, py.RoutingKey)
	}
	keys := func(body []byte) string {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("reply body %s: %v", body, err)
		}
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, ",") + fmt.Sprintf(" status=%v result=%v", m["status"], m["result"])
	}
	if kg, kp := keys(g.Body), keys(py.Body); kg != kp {
		t.Errorf("reply meta: Go worker %s, Python worker %s", kg, kp)
	}
}

// TestRPCConnectionLoss: after RabbitMQ closes every connection (the
// reply queue goes with its consumer), the Go client declares its reply
// queue again before its next task, so the result of a task sent then is
// received; the Go worker sends results again too.
func TestRPCConnectionLoss(t *testing.T) {
	e := newEnv(t)
	p := startCeleriac(t, "worker", "-b", e.URL, "--result-backend", "rpc://", "--loglevel", "info", "-n", "gorpcloss@%h")
	p.WaitLog(t, "ready", 60*time.Second)
	c, _ := rpcClient(t, e)
	ctx := ctxFor(t, time.Minute)
	get := func(x int) {
		t.Helper()
		r, err := c.SendTask(ctx, "tasks.add", celery.Args(x, 1))
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := r.Get(ctx, &n); err != nil || n != x+1 {
			t.Fatalf("tasks.add(%d, 1) = %d, %v", x, n, err)
		}
	}
	get(1)
	if _, err := node.Ctl(ctx, "close_all_connections", "-p", vhostOf(e.URL), "test: connection loss"); err != nil {
		t.Fatal(err)
	}
	p.WaitLog(t, "broker connection restored", 60*time.Second)
	for i := range 5 {
		get(10 + i)
	}
}
