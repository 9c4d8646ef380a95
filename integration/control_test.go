//go:build integration

package integration

// Remote control of a Go worker from Python Celery (app.control.inspect()
// and control.*), and of Python and Go workers from the Go control client.

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

const ctlGoNode = "go-ctl@celeriac"

// pyControl runs integration/pyapp/control.py and decodes its JSON.
func pyControl(t *testing.T, url string, out any, args ...string) {
	t.Helper()
	pypeer.RunJSON(t, url, out, "control.py", args...)
}

// pyInspect is app.control.inspect()._request(method, **args) for node.
func pyInspect(t *testing.T, url, node, method string, args map[string]any) any {
	t.Helper()
	a, _ := json.Marshal(args)
	if args == nil {
		a = []byte("{}")
	}
	var out map[string]any
	pyControl(t, url, &out, "inspect", method, "--args", string(a), "--destination", node)
	v, ok := out[node]
	if !ok {
		t.Fatalf("inspect %s: no reply from %s: %v", method, node, out)
	}
	return v
}

// waitFor polls cond (each call does a round trip) until it holds.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestControlPythonAgainstGo(t *testing.T) {
	e := newEnv(t)
	startGoWorker(t, e.URL, nil, worker.WithHostname(ctlGoNode), worker.WithConcurrency(2), worker.WithEvents(true), wkLogger(t), worker.WithResultExtended(true))
	ctx := ctxFor(t, 60*time.Second)
	ctl := control.New(e.Broker)
	waitGoNode(t, ctl, ctlGoNode)

	var pong []map[string]any
	pyControl(t, e.URL, &pong, "ping", "--destination", ctlGoNode)
	if len(pong) != 1 || pong[0][ctlGoNode].(map[string]any)["ok"] != "pong" {
		t.Fatalf("ping = %v", pong)
	}

	stats := pyInspect(t, e.URL, ctlGoNode, "stats", nil).(map[string]any)
	for _, k := range []string{"total", "broker", "pid", "prefetch_count", "pool", "rusage", "clock", "uptime"} {
		if _, ok := stats[k]; !ok {
			t.Errorf("stats lacks %q: %v", k, stats)
		}
	}
	if _, ok := stats["clock"].(string); !ok {
		t.Errorf("stats.clock = %T, want string", stats["clock"])
	}
	if mc := stats["pool"].(map[string]any)["max-concurrency"]; mc != 2.0 {
		t.Errorf("max-concurrency = %v", mc)
	}
	reg := pyInspect(t, e.URL, ctlGoNode, "registered", nil).([]any)
	if !slices.Contains(reg, any("tasks.add")) {
		t.Errorf("registered = %v", reg)
	}
	aq := pyInspect(t, e.URL, ctlGoNode, "active_queues", nil).([]any)
	if len(aq) != 1 || aq[0].(map[string]any)["name"] != "celery" || aq[0].(map[string]any)["exchange"].(map[string]any)["type"] != "direct" {
		t.Errorf("active_queues = %v", aq)
	}
	if c := pyInspect(t, e.URL, ctlGoNode, "conf", nil).(map[string]any); c["worker_concurrency"] == nil {
		t.Errorf("conf = %v", c)
	}
	if c := pyInspect(t, e.URL, ctlGoNode, "clock", nil).(map[string]any); c["clock"] == nil {
		t.Errorf("clock = %v", c)
	}
	if r := pyInspect(t, e.URL, ctlGoNode, "report", nil).(map[string]any); !strings.Contains(r["ok"].(string), "celeriac") {
		t.Errorf("report = %v", r)
	}
	if r := pyInspect(t, e.URL, ctlGoNode, "objgraph", nil).(map[string]any); !strings.Contains(r["error"].(string), "not supported") {
		t.Errorf("objgraph = %v", r)
	}
	var unknown []map[string]any
	pyControl(t, e.URL, &unknown, "call", "no_such_command", "--destination", ctlGoNode)
	if len(unknown) != 1 || unknown[0][ctlGoNode].(map[string]any)["error"] != "KeyError('no_such_command')" {
		t.Errorf("unknown command = %v", unknown)
	}

	// A running task: active, query_task, then revoke(terminate=True).
	running := pySend(t, e.URL, "tasks.sleep", "--args", "[30]")
	waitFor(t, "task active", 10*time.Second, func() bool {
		act, err := ctl.Inspect(ctx, "active", map[string]any{"safe": true}, time.Second, ctlGoNode)
		return err == nil && len(act[ctlGoNode].([]any)) == 1
	})
	act := pyInspect(t, e.URL, ctlGoNode, "active", map[string]any{"safe": true}).([]any)
	info := act[0].(map[string]any)
	if info["id"] != running || info["args"] != "[30]" || info["acknowledged"] != true || info["worker_pid"] == nil || info["time_start"] == nil {
		t.Errorf("active = %v", info)
	}
	qt := pyInspect(t, e.URL, ctlGoNode, "query_task", map[string]any{"ids": []string{running}}).(map[string]any)
	if st := qt[running].([]any); st[0] != "active" {
		t.Errorf("query_task = %v", qt)
	}
	// A scheduled task, revoked before it runs: REVOKED at once (5.6.2+).
	later := pySend(t, e.URL, "tasks.add", "--args", "[1, 1]", "--countdown", "60")
	waitFor(t, "task scheduled", 10*time.Second, func() bool {
		s, err := ctl.Inspect(ctx, "scheduled", nil, time.Second, ctlGoNode)
		return err == nil && len(s[ctlGoNode].([]any)) == 1
	})
	sch := pyInspect(t, e.URL, ctlGoNode, "scheduled", nil).([]any)[0].(map[string]any)
	if sch["request"].(map[string]any)["id"] != later || sch["eta"] == nil {
		t.Errorf("scheduled = %v", sch)
	}
	var okv map[string]any
	pyControl(t, e.URL, &okv, "revoke", later)
	if r := pyGet(t, e.URL, later); r.State != "REVOKED" {
		t.Errorf("revoked scheduled task: %+v", r)
	}
	if rv := pyInspect(t, e.URL, ctlGoNode, "revoked", nil).([]any); !slices.Contains(rv, any(later)) {
		t.Errorf("revoked = %v", rv)
	}
	pyControl(t, e.URL, &okv, "revoke", running, "--terminate", "--signal", "SIGKILL")
	r := pyGet(t, e.URL, running)
	if res, _ := r.Result.(map[string]any); r.State != "REVOKED" || res["type"] != "TaskRevokedError" || !strings.Contains(jsonText(res), "terminated") {
		t.Errorf("terminated task: %+v", r)
	}

	// rate_limit / time_limit, visible in registered.
	call := func(method string, args map[string]any) map[string]any {
		a, _ := json.Marshal(args)
		var out []map[string]any
		pyControl(t, e.URL, &out, "call", method, "--args", string(a), "--destination", ctlGoNode)
		if len(out) != 1 {
			t.Fatalf("%s: replies %v", method, out)
		}
		return out[0][ctlGoNode].(map[string]any)
	}
	if r := call("rate_limit", map[string]any{"task_name": "tasks.add", "rate_limit": "100/m"}); r["ok"] != "new rate limit set successfully" {
		t.Errorf("rate_limit = %v", r)
	}
	if r := call("rate_limit", map[string]any{"task_name": "nope", "rate_limit": "1/s"}); r["error"] != "unknown task" {
		t.Errorf("rate_limit unknown = %v", r)
	}
	if r := call("time_limit", map[string]any{"task_name": "tasks.add", "soft": 5, "hard": 10}); r["ok"] != "time limits set successfully" {
		t.Errorf("time_limit = %v", r)
	}
	reg = pyInspect(t, e.URL, ctlGoNode, "registered", map[string]any{"taskinfoitems": []string{"rate_limit", "soft_time_limit", "time_limit"}}).([]any)
	if !slices.Contains(reg, any("tasks.add [rate_limit=100/m soft_time_limit=5.0 time_limit=10.0]")) {
		t.Errorf("registered after limits = %v", reg)
	}
	// Pool and queues.
	if r := call("pool_grow", map[string]any{"n": 2}); r["ok"] != "pool will grow" {
		t.Errorf("pool_grow = %v", r)
	}
	if r := call("pool_shrink", map[string]any{"n": 1}); r["ok"] != "pool will shrink" {
		t.Errorf("pool_shrink = %v", r)
	}
	stats = pyInspect(t, e.URL, ctlGoNode, "stats", nil).(map[string]any)
	if mc := stats["pool"].(map[string]any)["max-concurrency"]; mc != 3.0 || stats["prefetch_count"] != 12.0 {
		t.Errorf("after grow 2 / shrink 1: max-concurrency %v prefetch %v", mc, stats["prefetch_count"])
	}
	if r := call("autoscale", map[string]any{"max": 4, "min": 1}); r["error"] != "ValueError('Autoscale not enabled')" {
		t.Errorf("autoscale = %v", r)
	}
	if r := call("add_consumer", map[string]any{"queue": "q2"}); r["ok"] != "add consumer q2" {
		t.Errorf("add_consumer = %v", r)
	}
	id := pySend(t, e.URL, "tasks.add", "--args", "[2, 40]", "--queue", "q2")
	if r := pyGet(t, e.URL, id); r.State != "SUCCESS" || r.Worker != ctlGoNode {
		t.Errorf("task on added queue: %+v", r)
	}
	if r := call("cancel_consumer", map[string]any{"queue": "q2"}); r["ok"] != "no longer consuming from q2" {
		t.Errorf("cancel_consumer = %v", r)
	}
	aq = pyInspect(t, e.URL, ctlGoNode, "active_queues", nil).([]any)
	if len(aq) != 1 {
		t.Errorf("active_queues after cancel = %v", aq)
	}
	if r := call("disable_events", nil); r["ok"] != "task events disabled" {
		t.Errorf("disable_events = %v", r)
	}
	if r := call("enable_events", nil); r["ok"] != "task events enabled" {
		t.Errorf("enable_events = %v", r)
	}
	// Still alive after all that; then shutdown (no reply) stops it.
	if p, err := ctl.Ping(ctx, time.Second, ctlGoNode); err != nil || p[ctlGoNode].OK != "pong" {
		t.Fatalf("ping after commands = %v, %v", p, err)
	}
	var none []map[string]any
	pyControl(t, e.URL, &none, "call", "shutdown", "--destination", ctlGoNode, "--timeout", "0.5")
	if len(none) != 0 {
		t.Errorf("shutdown replied: %v", none)
	}
	waitFor(t, "worker gone", 10*time.Second, func() bool {
		p, err := ctl.Ping(ctx, 300*time.Millisecond, ctlGoNode)
		return err == nil && len(p) == 0
	})
}

// waitGoNode waits until node answers ping (its pidbox is subscribed:
// startGoWorker returns before Run has started). It works for Python
// nodes too.
func waitGoNode(t *testing.T, ctl *control.Control, node string) {
	t.Helper()
	ctx := ctxFor(t, 15*time.Second)
	waitFor(t, node+" answering ping", 15*time.Second, func() bool {
		p, err := ctl.Ping(ctx, 200*time.Millisecond, node)
		return err == nil && p[node].OK == "pong"
	})
}

func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestControlGoAgainstMixedFleet: the Go client and the celeriac CLI
// inspect a Python and a Go worker at once.
func TestControlGoAgainstMixedFleet(t *testing.T) {
	e := newEnv(t)
	py := pypeer.StartWorker(t, e.URL, pypeer.WithQueues("pyq"))
	startGoWorker(t, e.URL, nil, worker.WithHostname(ctlGoNode), wkLogger(t))
	ctx := ctxFor(t, 60*time.Second)
	ctl := control.New(e.Broker)
	waitGoNode(t, ctl, ctlGoNode)
	// A Python worker subscribes to the pidbox lazily, after logging
	// "ready.": wait until it answers too.
	waitGoNode(t, ctl, py.NodeName())

	pong, err := ctl.Ping(ctx, 2*time.Second, py.NodeName(), ctlGoNode)
	if err != nil || len(pong) != 2 {
		t.Fatalf("Go ping of the mixed fleet = %v, %v", pong, err)
	}
	stats, err := ctl.Inspect(ctx, "stats", nil, 2*time.Second, py.NodeName())
	if err != nil || stats[py.NodeName()].(map[string]any)["pool"] == nil {
		t.Fatalf("Go inspect stats of Python = %v, %v", stats, err)
	}
	aq, err := ctl.Inspect(ctx, "active_queues", nil, 2*time.Second)
	if err != nil || len(aq) != 2 {
		t.Fatalf("active_queues broadcast = %v, %v", aq, err)
	}
	var pyPong []map[string]any
	pyControl(t, e.URL, &pyPong, "ping", "--timeout", "1.5")
	if len(pyPong) != 2 {
		t.Errorf("Python ping of the mixed fleet = %v", pyPong)
	}
	// Go rate_limit on the Python worker.
	rl, err := ctl.RateLimit(ctx, "tasks.add", "5/s", 2*time.Second, py.NodeName())
	if err != nil || rl[py.NodeName()].OK != "new rate limit set successfully" {
		t.Errorf("rate_limit on Python = %v, %v", rl, err)
	}
	// The CLI against both.
	out := startBinary(t, "", "inspect", "ping", "--broker", e.URL, "--timeout", "1.5")
	if !out.Wait(20 * time.Second) {
		t.Fatal("celeriac inspect ping did not exit")
	}
	for _, want := range []string{"->  " + ctlGoNode + ": OK", "->  " + py.NodeName() + ": OK", "pong", "2 nodes online."} {
		if !strings.Contains(out.Log(), want) {
			t.Errorf("celeriac inspect ping output lacks %q:\n%s", want, out.Log())
		}
	}
	js := startBinary(t, "", "inspect", "registered", "--json", "-d", py.NodeName(), "--broker", e.URL)
	js.Wait(20 * time.Second)
	var reg map[string][]string
	if err := json.Unmarshal([]byte(js.Log()), &reg); err != nil || !slices.Contains(reg[py.NodeName()], "tasks.echo") {
		t.Errorf("celeriac inspect registered --json = %q (%v)", js.Log(), err)
	}
	_ = celery.StateSuccess
}

// TestControlBindingsSurvivePythonSweep: kombu 5.7's binding sweep, run
// by Python consumers every minute, deletes the binding table of an
// exchange whose deadline passed. The deadlines below are in the past,
// as an hour after the last Python worker or client left. The Go
// worker's node binding and the Go control client's reply binding push
// the deadline ahead (kombu's REFRESH_BINDING), so a real kombu sweep
// keeps both tables, deletes a stale one, and Python can still reach
// the Go worker.
func TestControlBindingsSurvivePythonSweep(t *testing.T) {
	e := newEnv(t)
	const (
		deadlines = "_kombu.binding_deadlines"
		stale     = "stale.pidbox"
	)
	e.Redis.Do(t, "ZADD", deadlines, 1, kombu.PidboxExchange, 1, kombu.ReplyExchange, 1, stale)
	e.Redis.Do(t, "SADD", "_kombu.binding."+stale, kombu.BindingMember("", "", "gone."+stale))

	startGoWorker(t, e.URL, nil, worker.WithHostname(ctlGoNode), wkLogger(t))
	ctl := control.New(e.Broker)
	waitGoNode(t, ctl, ctlGoNode) // the Go client binds its reply queue too

	hour := time.Now().Add(59 * time.Minute).UnixMilli()
	for _, ex := range []string{kombu.PidboxExchange, kombu.ReplyExchange} {
		d, err := redis.Int64(e.Redis.Do(t, "ZSCORE", deadlines, ex), nil)
		if err != nil || d < hour {
			t.Errorf("deadline of %s = %d (%v), want an hour ahead", ex, d, err)
		}
	}
	var swept map[string]int
	pyControl(t, e.URL, &swept, "sweep-bindings")
	if swept["swept"] != 1 {
		t.Errorf("sweep = %v, want the stale exchange only", swept)
	}
	if n, _ := redis.Int(e.Redis.Do(t, "EXISTS", "_kombu.binding."+stale), nil); n != 0 {
		t.Error("stale binding table kept")
	}
	members, _ := redis.Strings(e.Redis.Do(t, "SMEMBERS", "_kombu.binding."+kombu.PidboxExchange), nil)
	if !slices.Contains(members, kombu.BindingMember("", "", ctlGoNode+"."+kombu.PidboxExchange)) {
		t.Fatalf("pidbox bindings after the sweep = %q", members)
	}
	var pong []map[string]any
	pyControl(t, e.URL, &pong, "ping", "--destination", ctlGoNode)
	if len(pong) != 1 {
		t.Fatalf("ping after the sweep = %v", pong)
	}
}
