//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

// smPy runs a Python script (with the tasks app importable, stdin data in
// D) and decodes the JSON it prints into out.
func smPy(t *testing.T, url, code string, out any) {
	t.Helper()
	wkPy(t, url, "import json\nfrom tasks import app\n"+code, nil, out)
}

// smExtendedScript sends tasks.add to each queue given and prints, per
// queue, the stored meta's keys and what Python's AsyncResult reads.
const smExtendedScript = `
from tasks import add
out = {}
for q in QUEUES:
    r = add.apply_async((2, 3), queue=q)
    r.get(timeout=30)
    raw = json.loads(app.backend.client.get(app.backend.get_key_for_task(r.id)))
    out[q] = {"keys": sorted(raw), "name": r.name, "args": r.args, "kwargs": r.kwargs,
              "worker": r.worker, "queue": r.queue, "retries": r.retries}
conf = app.control.inspect(destination=["go-plain@celeriac", "go-ext@celeriac"], timeout=5).conf() or {}
out["conf"] = {"keys": [str(conf.get(n, {}).get("result_extended")) for n in ["go-plain@celeriac", "go-ext@celeriac"]]}
print(json.dumps(out))
`

// A Go worker stores the result_extended fields only when asked, as a
// Python worker does: by default Python's AsyncResult has no name, args,
// kwargs, worker or queue, and the stored keys are those a Python worker
// with result_extended=False stores; with WithResultExtended(true) they
// are those of a Python worker with result_extended=True.
func TestSemanticsResultExtended(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues("py"), pypeer.WithEnv("CELERIAC_RESULT_EXTENDED=0"))
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues("pyx"), pypeer.WithEnv("CELERIAC_RESULT_EXTENDED=1"))
	startGoWorker(t, e.URL, nil, worker.WithQueues("go"), worker.WithHostname("go-plain@celeriac"), wkLogger(t))
	startGoWorker(t, e.URL, nil, worker.WithQueues("gox"), worker.WithHostname("go-ext@celeriac"), worker.WithResultExtended(true), wkLogger(t))
	type meta struct {
		Keys    []string       `json:"keys"`
		Name    *string        `json:"name"`
		Args    []any          `json:"args"`
		Kwargs  map[string]any `json:"kwargs"`
		Worker  *string        `json:"worker"`
		Queue   *string        `json:"queue"`
		Retries *int           `json:"retries"`
	}
	var got map[string]meta
	smPy(t, e.URL, `QUEUES = ["py", "pyx", "go", "gox"]`+"\n"+smExtendedScript, &got)
	for _, pair := range [][2]string{{"py", "go"}, {"pyx", "gox"}} {
		py, gw := got[pair[0]], got[pair[1]]
		if !slices.Equal(py.Keys, gw.Keys) {
			t.Errorf("stored keys: Python %v, Go %v", py.Keys, gw.Keys)
		}
	}
	if m := got["go"]; m.Name != nil || m.Args != nil || m.Kwargs != nil || m.Worker != nil || m.Queue != nil {
		t.Errorf("default Go worker: AsyncResult name %v args %v kwargs %v worker %v queue %v, want all None", m.Name, m.Args, m.Kwargs, m.Worker, m.Queue)
	}
	if m := got["gox"]; m.Name == nil || *m.Name != "tasks.add" || !slices.Equal(m.Args, []any{2.0, 3.0}) ||
		m.Worker == nil || *m.Worker != "go-ext@celeriac" || m.Queue == nil || *m.Queue != "gox" || m.Retries == nil || *m.Retries != 0 {
		t.Errorf("extended Go worker: AsyncResult %+v", m)
	}
	if c := got["conf"].Keys; !slices.Equal(c, []string{"False", "True"}) {
		t.Errorf("inspect conf result_extended of the Go workers (default, WithResultExtended(true)): %v", c)
	}
	if slices.Contains(got["py"].Keys, "name") || !slices.Contains(got["pyx"].Keys, "name") {
		t.Errorf("Python reference: result_extended off stores %v, on stores %v", got["py"].Keys, got["pyx"].Keys)
	}
}

// smChildrenScript applies canvases and prints, per case, the children
// stored for the task named, with every task id replaced by that task's
// result (and group ids by "G"), plus what AsyncResult.children,
// collect() and iterdeps() give for a chain's first task.
const smChildrenScript = `
import time
from celery import chain, group, chord
from celery.result import result_from_tuple
from tasks import add, mul, xsum, fail, echo, flaky

def raw(i):
    return json.loads(app.backend.client.get(app.backend.get_key_for_task(i)))

# stored(i) waits for i's stored result by reading its key: the children
# of a link callback are compared, not how AsyncResult.get learns of it
# (its pub/sub wait once missed a callback's result on a loaded machine).
def stored(i):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        v = app.backend.client.get(app.backend.get_key_for_task(i))
        if v is not None:
            m = json.loads(v)
            if m["status"] in ("SUCCESS", "FAILURE", "REVOKED"):
                return m["result"]
        time.sleep(0.02)
    raise TimeoutError("no stored result for %s" % i)

def label(node):
    (i, parent), members = node
    if members is None:
        return [stored(i), parent]
    return ["G", [label(m) for m in members]]

def kids(i):
    stored(i)
    return [label(c) for c in raw(i)["children"]]

out = {}
r = add.apply_async((1, 2), link=mul.s(10)); out["link1"] = kids(r.id)
r = add.apply_async((1, 2), link=[mul.s(10), mul.s(20)]); out["link2"] = kids(r.id)
r = add.apply_async((1, 2), link=[group(mul.s(10), mul.s(20)), mul.s(30)]); out["link_group_and_plain"] = kids(r.id)
c = chain(add.s(1, 2), mul.s(10), add.s(5)).apply_async(); c.get(timeout=30)
out["chain"] = [kids(c.parent.parent.id), kids(c.parent.id), kids(c.id)]
c = chain(add.s(1, 2), group(mul.s(10), mul.s(20))).apply_async(); c.get(timeout=30)
out["chain_group"] = kids(c.parent.id)
c = chain(add.s(1, 2), group(mul.s(10), mul.s(20)), xsum.s()).apply_async(); c.get(timeout=30)
out["chain_chord"] = kids(c.parent.parent.id)
c = chain(add.s(1, 2), chain(mul.s(10), add.s(1))).apply_async(); c.get(timeout=30)
out["chain_nested"] = kids(c.parent.parent.id)
g = group(add.s(1, 2), add.s(3, 4)).apply_async(); g.get(timeout=30)
out["group_member"] = kids(g.results[0].id)
ch = chord([add.s(1, 2), add.s(3, 4)], xsum.s()).apply_async(); ch.get(timeout=30)
out["chord_members"] = [kids(x.id) for x in ch.parent.results]
r = fail.apply_async(("x",), link_error=echo.si("eb")); out["errback"] = kids(r.id)
c = chain(add.s(1, 2), mul.s(10), add.s(5)).apply_async(); c.get(timeout=30)
first = app.AsyncResult(c.parent.parent.id)
out["collect"] = [v for _, v in first.collect(timeout=30)]
out["iterdeps"] = [[p.get(timeout=30) if p else None, x.get(timeout=30)] for p, x in first.iterdeps()]
out["children_attr"] = [k.get(timeout=30) for k in first.children]
r = add.apply_async((1, 2), link=[mul.s(10), mul.s(20)]); r.get(timeout=30)
out["from_tuple"] = [type(c).__name__ for c in r.children]
print(json.dumps(out))
`

// A Go worker records the children a Python worker records for the same
// canvas (link callbacks alone and as a group, chain steps, groups and
// chords as the next step, none for group and chord members or
// errbacks), so Python's AsyncResult.children, collect() and iterdeps()
// walk a Go-run canvas as a Python-run one. Each canvas runs against a
// Python worker on one Redis and a Go worker on another; the children
// are compared with ids replaced by their results.
func TestSemanticsChildren(t *testing.T) {
	py, gw := newEnv(t), newEnv(t)
	pypeer.StartWorker(t, py.URL, pypeer.WithConcurrency(4), pypeer.WithPool("threads"))
	startGoWorker(t, gw.URL, nil, worker.WithConcurrency(8), wkLogger(t))
	var want, got map[string]any
	smPy(t, py.URL, smChildrenScript, &want)
	smPy(t, gw.URL, smChildrenScript, &got)
	for k, w := range want {
		wkEqual(t, k, got[k], w)
	}
	if len(got) != len(want) {
		t.Errorf("cases: Go %d, Python %d", len(got), len(want))
	}
	t.Logf("Python: %s", jsonText(want))
}

// smTwins registers the Go twins of pyapp's outcome tasks (tasks.py:
// reject_once, ignore_me, retry_with, replace_with), counting calls in
// the same Redis keys.
func smTwins(t *testing.T, url string) func(*worker.ServeMux) {
	b, err := credis.NewBroker(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	count := func(ctx context.Context, prefix, key string) int64 {
		n, err := b.Incr(ctx, "celeriac:"+prefix+":"+key, time.Hour)
		if err != nil {
			t.Errorf("counter: %v", err)
		}
		return n
	}
	return func(mux *worker.ServeMux) {
		mux.Handle("tasks.reject_once", worker.Func(func(ctx context.Context, key string, requeue bool) (int64, error) {
			if n := count(ctx, "reject", key); n > 1 {
				return n, nil
			}
			return 0, worker.Reject(fmt.Errorf("rejected %s", key), requeue)
		}, "key", "requeue"), worker.AcksLate(true))
		mux.Handle("tasks.ignore_me", worker.Func(func(ctx context.Context, key string) error {
			count(ctx, "ignore", key)
			return worker.Ignore()
		}, "key"))
		mux.Handle("tasks.retry_with", worker.Func(func(ctx context.Context, key string, countdown float64, maxRetries int) error {
			count(ctx, "retry", key)
			return worker.Retry(worker.NewPyError("ValueError", key), worker.In(time.Duration(countdown*float64(time.Second))), worker.WithMaxRetries(maxRetries))
		}, "key", "countdown", "max_retries"))
		mux.Handle("tasks.replace_with", worker.Func(func(ctx context.Context, kind string, x any) error {
			var sig celery.Signature
			switch kind {
			case "task":
				sig = celery.S("tasks.add", x, 1)
			case "chain":
				sig = celery.Chain(celery.S("tasks.add", x, 1), celery.S("tasks.mul", 10))
			case "group":
				sig = celery.NewGroup(celery.S("tasks.add", x, 1), celery.S("tasks.add", x, 2))
			case "chain_group":
				sig = celery.Chain(celery.S("tasks.add", x, 1), celery.NewGroup(celery.S("tasks.mul", 2), celery.S("tasks.mul", 3)))
			case "fail":
				sig = celery.S("tasks.fail", fmt.Sprintf("replaced %v", x))
			case "nesting":
				sig = celery.Si("tasks.request_attr", "replaced_task_nesting")
			default:
				return worker.NewPyError("KeyError", kind)
			}
			return worker.Replace(sig)
		}, "kind", "x"))
		mux.HandleFunc("tasks.request_attr", func(_ context.Context, t *worker.Task) (any, error) {
			var name string
			if err := t.Arg(0, &name); err != nil {
				return nil, err
			}
			if name == "replaced_task_nesting" { // a header Celery defines
				return t.ReplacedTaskNesting, nil
			}
			return t.Headers[name], nil
		})
	}
}

// smOutcomesScript runs each handler outcome and prints what Python's
// AsyncResult and the task's Redis counters show.
const smOutcomesScript = `
import time
from celery import chain, group, chord
from tasks import reject_once, ignore_me, retry_with, replace_with, add, mul, xsum, echo, request_attr, broker_redis

def outcome(res, timeout=30):
    try:
        return ["SUCCESS", res.get(timeout=timeout)]
    except Exception as e:
        return [res.state, type(e).__name__, [a if isinstance(a, (bool, int)) else str(a) for a in e.args]]

def counter(prefix, key):
    v = broker_redis().get("celeriac:%s:%s" % (prefix, key))
    return int(v) if v else 0

out = {}
out["reject_drop"] = outcome(reject_once.delay("a", False)) + [counter("reject", "a")]
out["reject_requeue"] = outcome(reject_once.delay("b", True)) + [counter("reject", "b")]
r = ignore_me.delay("c")
for _ in range(300):
    if counter("ignore", "c"):
        break
    time.sleep(0.05)
time.sleep(1)
out["ignore"] = [r.state, counter("ignore", "c")]
out["retry"] = outcome(retry_with.delay("d", 0.1, 2)) + [counter("retry", "d")]
for kind in ["task", "chain", "group", "chain_group", "fail", "nesting"]:
    out["replace_" + kind] = outcome(replace_with.delay(kind, 5))
r = replace_with.apply_async(("task", 5), link=mul.s(10))
out["replace_link"] = outcome(r) + [c.get(timeout=30) for c in r.children]
eb = xsum.si([1, 2]).set(task_id="errback-of-replaced")  # arity 1: a new-style errback, sent as a task
out["replace_errback"] = outcome(replace_with.apply_async(("fail", 1), link_error=eb)) + [outcome(app.AsyncResult("errback-of-replaced"))]
out["replace_in_chain"] = outcome(chain(replace_with.si("chain", 1), add.s(1)).apply_async())
out["replace_in_chord"] = outcome(chord([replace_with.si("task", 1), add.si(2, 2)], xsum.s()).apply_async())
c = chain(replace_with.si("task", 1), request_attr.si("replaced_task_nesting")).apply_async()
out["replace_nesting_of_rest"] = outcome(c)
print(json.dumps(out))
`

// Reject (dropped: FAILURE with celery.exceptions.Reject; requeued: the
// acks-late message runs again), Ignore (no state), Retry with exc,
// countdown and max_retries, and Replace (a task, a chain, a group, a
// chain ending in a group; carrying the task's callbacks, errbacks,
// chain and chord) from a Go handler are seen by Python clients as the
// same outcomes from Python's tasks on a Python worker.
func TestSemanticsHandlerOutcomes(t *testing.T) {
	py, gw := newEnv(t), newEnv(t)
	pypeer.StartWorker(t, py.URL, pypeer.WithConcurrency(4), pypeer.WithPool("threads"))
	startGoWorker(t, gw.URL, smTwins(t, gw.URL), worker.WithConcurrency(8), wkLogger(t))
	var want, got map[string]any
	smPy(t, py.URL, smOutcomesScript, &want)
	smPy(t, gw.URL, smOutcomesScript, &got)
	for k, w := range want {
		wkEqual(t, k, got[k], w)
	}
	if len(got) != len(want) {
		t.Errorf("cases: Go %d, Python %d", len(got), len(want))
	}
	t.Logf("Python: %s", jsonText(want))
}

// smPolicyTwins registers the Go twins of pyapp's ack-policy tasks.
func smPolicyTwins(t *testing.T, url string) func(*worker.ServeMux) {
	b, err := credis.NewBroker(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	count := func(ctx context.Context, prefix, key string) int64 {
		n, err := b.Incr(ctx, "celeriac:"+prefix+":"+key, time.Hour)
		if err != nil {
			t.Errorf("counter: %v", err)
		}
		return n
	}
	return func(mux *worker.ServeMux) {
		mux.Handle("tasks.fail_no_ack", worker.Func(func(msg string) error {
			return worker.NewPyError("ValueError", msg)
		}, "msg"), worker.AcksLate(true), worker.AcksOnFailureOrTimeout(false))
		mux.Handle("tasks.slow_once", worker.Func(func(ctx context.Context, key string) int64 {
			n := count(ctx, "slow", key)
			if n == 1 {
				<-ctx.Done()
			}
			return n
		}, "key"), worker.AcksLate(true), worker.AcksOnFailureOrTimeout(false), worker.TimeLimits(time.Second, 0))
		mux.Handle("tasks.die_once", worker.Func(func(ctx context.Context, key string) int64 {
			n := count(ctx, "die", key)
			if n == 1 {
				panic("lost " + key)
			}
			return n
		}, "key"), worker.AcksLate(true), worker.RejectOnWorkerLost(true))
		mux.Handle("tasks.die_lost", worker.Func(func(ctx context.Context, key string) error {
			count(ctx, "die", key)
			panic("lost " + key)
		}, "key"), worker.AcksLate(true))
		mux.Handle("tasks.fail_ignored", worker.Func(func(msg string) error {
			return worker.NewPyError("ValueError", msg)
		}, "msg"), worker.IgnoreResult(), worker.StoreErrorsEvenIfIgnored(true))
		mux.Handle("tasks.fail_ignored_quiet", worker.Func(func(ctx context.Context, key string) error {
			count(ctx, "quiet", key)
			return worker.NewPyError("ValueError", key)
		}, "key"), worker.IgnoreResult())
	}
}

const smPolicyScript = `
import time
from tasks import fail_no_ack, slow_once, die_once, die_lost, fail_ignored, fail_ignored_quiet, broker_redis

def outcome(res, timeout=30):
    try:
        return ["SUCCESS", res.get(timeout=timeout)]
    except Exception as e:
        return [res.state, type(e).__name__, [a if isinstance(a, (bool, int)) else str(a) for a in e.args]]

def counter(prefix, key):
    v = broker_redis().get("celeriac:%s:%s" % (prefix, key))
    return int(v) if v else 0

def until(cond, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False

out = {}
out["fail_no_ack"] = outcome(fail_no_ack.delay("no ack"))
r = slow_once.delay("s")
out["slow_once"] = [until(lambda: counter("slow", "s") >= 2 and r.state == "SUCCESS"), r.result, counter("slow", "s")]
r = die_once.delay("d")
out["die_once"] = [until(lambda: counter("die", "d") >= 2 and r.state == "SUCCESS"), r.result, counter("die", "d")]
r = die_lost.delay("l")
until(lambda: r.state == "FAILURE")
out["die_lost"] = [r.state, counter("die", "l")]
r = fail_ignored.delay("stored anyway")
key = app.backend.get_key_for_task(r.id)
until(lambda: app.backend.client.get(key))
meta = json.loads(app.backend.client.get(key) or "{}")
out["fail_ignored"] = [meta.get("status"), (meta.get("result") or {}).get("exc_type")]
r = fail_ignored_quiet.delay("q")
until(lambda: counter("quiet", "q") >= 1)
time.sleep(1)
out["fail_ignored_quiet"] = [r.state, counter("quiet", "q")]
until(lambda: broker_redis().hlen("unacked") == 0 and broker_redis().llen("celery") == 0, 10)
out["left"] = [broker_redis().hlen("unacked"), broker_redis().llen("celery")]
print(json.dumps(out, default=repr))  # a result still an exception shows in the comparison
`

// The ack policy and per-task options of a Go task behave as a Python
// task's with the same settings: acks_on_failure_or_timeout off (a failed
// task's message rejected; one past its hard time limit stored as failed
// and requeued, so it runs again), reject_on_worker_lost (a panicking Go
// handler, like a lost Python pool process, has its message requeued),
// ignore_result with and without store_errors_even_if_ignored; no message
// is left behind. The Python worker is prefork, whose pool enforces hard
// time limits and can lose a process.
func TestSemanticsAckPolicy(t *testing.T) {
	py, gw := newEnv(t), newEnv(t)
	pypeer.StartWorker(t, py.URL, pypeer.WithConcurrency(2), pypeer.WithPool("prefork"))
	startGoWorker(t, gw.URL, smPolicyTwins(t, gw.URL), worker.WithConcurrency(4), wkLogger(t))
	var want, got map[string]any
	smPy(t, py.URL, smPolicyScript, &want)
	smPy(t, gw.URL, smPolicyScript, &got)
	for k, w := range want {
		wkEqual(t, k, got[k], w)
	}
	if len(got) != len(want) {
		t.Errorf("cases: Go %d, Python %d", len(got), len(want))
	}
	t.Logf("Python: %s", jsonText(want))
}

// smHookLog records hook calls by task id.
type smHookLog struct {
	mu    sync.Mutex
	calls map[string][]string
	ready int
	down  int
}

// add records a call for task id in attempt try (its retries count).
func (l *smHookLog) add(id string, try int, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[id] = append(l.calls[id], strconv.Itoa(try%10)+":"+what)
}

// get returns the calls for id, attempt by attempt (the retries count
// each call was made with), in order within an attempt: a retry's next
// message may be received before the first run's last hooks.
func (l *smHookLog) get(id string) []string {
	l.mu.Lock()
	c := slices.Clone(l.calls[id])
	l.mu.Unlock()
	slices.SortStableFunc(c, func(a, b string) int { return strings.Compare(a[:1], b[:1]) })
	for i, s := range c {
		c[i] = s[2:]
	}
	return c
}

func (l *smHookLog) hooks() worker.Hooks {
	return worker.Hooks{
		WorkerReady:    func(*worker.Worker) { l.mu.Lock(); l.ready++; l.mu.Unlock() },
		WorkerShutdown: func(*worker.Worker) { l.mu.Lock(); l.down++; l.mu.Unlock() },
		TaskReceived:   func(_ context.Context, t *worker.Task) { l.add(t.ID, t.Retries, "received") },
		TaskUnknown:    func(_ context.Context, m *celery.Message) { l.add(m.ID, m.Retries, "unknown:"+m.Task) },
		TaskPrerun:     func(_ context.Context, t *worker.Task) { l.add(t.ID, t.Retries, "prerun") },
		TaskPostrun: func(_ context.Context, t *worker.Task, state celery.State, _ any) {
			l.add(t.ID, t.Retries, "postrun:"+string(state))
		},
		TaskSuccess: func(_ context.Context, t *worker.Task, result any) {
			l.add(t.ID, t.Retries, fmt.Sprint("success:", result))
		},
		TaskFailure: func(_ context.Context, t *worker.Task, err error) { l.add(t.ID, t.Retries, "failure:"+err.Error()) },
		TaskRetry:   func(_ context.Context, t *worker.Task, reason error) { l.add(t.ID, t.Retries, "retry:"+reason.Error()) },
		TaskRevoked: func(_ context.Context, t *worker.Task, info worker.Revoked) {
			l.add(t.ID, t.Retries, fmt.Sprintf("revoked:expired=%v", info.Expired))
		},
	}
}

const smHooksScript = `
import datetime, time
from celery.signals import before_task_publish
from tasks import add, fail, retry_with, reject_once, ignore_me, request_attr, broker_redis

@before_task_publish.connect
def trace(headers=None, **kw):
    headers["trace_id"] = "py-trace"

ids = {}
rs = {
    "add": add.delay(1, 2), "fail": fail.delay("boom"), "retry": retry_with.delay("k", 0.05, 1),
    "reject": reject_once.delay("r", False), "header": request_attr.delay("trace_id"),
    "unknown": app.send_task("tasks.nobody_serves_this"),
    "expired": add.apply_async((1, 2), expires=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=10)),
}
out = {"ids": {k: r.id for k, r in rs.items()}, "results": {}}
for k, r in rs.items():
    r.get(timeout=30, propagate=False)
    out["results"][k] = [r.state, r.result if r.state == "SUCCESS" else None]
r = ignore_me.delay("i")
out["ids"]["ignore"] = r.id
print(json.dumps(out))
`

// Hooks on a Go worker see the lifecycle of tasks Python clients send
// (task_prerun/success/failure/retry/postrun/revoked's counterparts, with
// Reject and Ignore's REJECTED and IGNORED states), and custom headers
// added by publish hooks reach the other side both ways: Python's
// before_task_publish header is in the Go task's Headers, a Go client's
// WithBeforePublish header is self.request.<name> in a Python task.
func TestSemanticsHooks(t *testing.T) {
	e := newEnv(t)
	log := &smHookLog{calls: map[string][]string{}}
	twins := smTwins(t, e.URL)
	_, stop := runGoWorker(t, e.URL, twins, worker.WithConcurrency(4), worker.WithHooks(log.hooks()), wkLogger(t), worker.WithQueues("celery"))
	var got struct {
		IDs     map[string]string `json:"ids"`
		Results map[string][]any  `json:"results"`
	}
	smPy(t, e.URL, smHooksScript, &got)
	if r := got.Results["header"]; len(r) != 2 || r[1] != "py-trace" {
		t.Errorf("Python before_task_publish header in the Go task: %v", r)
	}
	want := map[string][]string{
		"add":     {"received", "prerun", "success:3", "postrun:SUCCESS"},
		"fail":    {"received", "prerun", "failure:ValueError: boom", "postrun:FAILURE"},
		"retry":   {"received", "prerun", "retry:ValueError: k", "postrun:RETRY", "received", "prerun", "failure:ValueError: k", "postrun:FAILURE"},
		"reject":  {"received", "prerun", "failure:reject requeue=False: rejected r", "postrun:REJECTED"},
		"ignore":  {"received", "prerun", "postrun:IGNORED"},
		"expired": {"revoked:expired=true"},
		"unknown": {"unknown:tasks.nobody_serves_this"},
	}
	for k, w := range want {
		id := got.IDs[k]
		wkEventually(t, 10*time.Second, k+" hooks", func() bool { return len(log.get(id)) >= len(w) })
		if c := log.get(id); !slices.Equal(c, w) {
			t.Errorf("%s: hooks %q, want %q", k, c, w)
		}
	}
	stop()
	if log.ready != 1 || log.down != 1 {
		t.Errorf("WorkerReady %d, WorkerShutdown %d times, want 1 each", log.ready, log.down)
	}

	// A Go client's before-publish header, read by a Python task.
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues("py"))
	var sent []string
	client := celery.NewClient(e.Broker, e.Backend,
		celery.WithBeforePublish(func(_ context.Context, m *celery.Message, pub *celery.Publishing) error {
			if m.Headers == nil {
				m.Headers = map[string]any{}
			}
			m.Headers["trace_id"] = "go-trace"
			return nil
		}),
		celery.WithSentHook(func(m *celery.Message, pub celery.Publishing) { sent = append(sent, m.Task+"@"+pub.Queue) }))
	ctx := ctxFor(t, 30*time.Second)
	res, err := client.SendTask(ctx, "tasks.request_attr", celery.Args("trace_id"), celery.Queue("py"))
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := res.Get(ctx, &v); err != nil || v != "go-trace" {
		t.Errorf("Python task read trace_id %q, %v", v, err)
	}
	if !slices.Equal(sent, []string{"tasks.request_attr@py"}) {
		t.Errorf("sent hook saw %v", sent)
	}
}
