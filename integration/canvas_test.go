//go:build integration

package integration

// Canvas interop (docs/wire.md#canvas, docs/wire.md#chord-join): chains, groups, chords,
// link and link_error built by Python Celery and run by Go workers, built
// by the Go client and run by Python workers, and chords completed by a
// mixed Go + Python fleet.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/google/uuid"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

// cvOutcome is what canvas.py prints for a scenario.
type cvOutcome struct {
	Result any `json:"result"`
	Error  *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	Extra any `json:"extra"`
}

func cvPy(t *testing.T, url string, args ...string) cvOutcome {
	t.Helper()
	var o cvOutcome
	pypeer.RunJSON(t, url, &o, "canvas.py", args...)
	return o
}

// cvNoChordKeys checks that no chord size key (.s, .t) is left. A chord
// whose header failed keeps its .j/.d keys until they expire, as Celery's
// Redis backend leaves them (only .s is deleted on ChordError).
func cvNoChordKeys(t *testing.T, e *env) {
	t.Helper()
	c, err := redis.Dial("tcp", e.Redis.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, suffix := range []string{".t", ".s"} {
		keys, err := redis.Strings(c.Do("KEYS", "celery-taskset-meta-*"+suffix))
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			t.Errorf("chord keys left: %v", keys)
		}
	}
}

// cvPythonScenarios runs the canvases built by Python Celery against
// whatever workers serve e.
func cvPythonScenarios(t *testing.T, e *env) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chain"}, "12"},
		{[]string{"long-chain", "20"}, "20"},
		{[]string{"group"}, "[0,2,4,6,8]"},
		{[]string{"chord", "10"}, "90"},
		{[]string{"link"}, "40"},
		{[]string{"nested"}, "18"},
		{[]string{"chord-group-header"}, "12"},
		{[]string{"chord-chord-header"}, "12"},
		{[]string{"chain-group-middle"}, "14"},
		{[]string{"group-of-chains"}, "[4,12,5]"},
		{[]string{"chain-of-chords"}, "150"},
		{[]string{"group-in-group"}, "[2,4,6]"},
		// Celery's GroupResult for a chain ending in nested groups lists
		// the inner group reversed (group._freeze_unroll's extendleft);
		// the Go client keeps the order written.
		{[]string{"chain-nested-groups"}, "[3,5,4]"},
		{[]string{"map"}, "[3,7]"},
		{[]string{"starmap"}, "[3,7]"},
		{[]string{"chunks"}, "[[0,2,4],[6,8,10],[12]]"},
	} {
		t.Run(strings.Join(tc.args, "-"), func(t *testing.T) {
			o := cvPy(t, e.URL, tc.args...)
			if o.Error != nil {
				t.Fatalf("%s: %s", o.Error.Type, o.Error.Message)
			}
			wkEqual(t, strings.Join(tc.args, " "), wkNorm(t, o.Result), wkNorm(t, jsonValue(t, tc.want)))
		})
	}
	t.Run("link-error", func(t *testing.T) {
		// The errback is tasks.fail: it raises ValueError(<failed task id>).
		o := cvPy(t, e.URL, "link-error")
		failed, _ := o.Extra.(string)
		if o.Error == nil || o.Error.Type != "ValueError" || o.Error.Message != failed {
			t.Fatalf("errback outcome %+v, want ValueError(%q)", o.Error, failed)
		}
	})
	t.Run("chord-fail", func(t *testing.T) {
		o := cvPy(t, e.URL, "chord-fail")
		if o.Error == nil || o.Error.Type != "ChordError" || !strings.Contains(o.Error.Message, "Dependency") ||
			!strings.Contains(o.Error.Message, "ValueError") {
			t.Fatalf("chord with a failing member: %+v", o.Error)
		}
		extra, _ := o.Extra.(map[string]any)
		eb, _ := extra["errback"].(map[string]any)
		if eb == nil || eb["type"] != "ValueError" || eb["message"] != extra["body_id"] {
			t.Errorf("body errback outcome %v, want ValueError(%v)", eb, extra["body_id"])
		}
	})
	t.Run("chord-fail-nested", func(t *testing.T) {
		// A member of a group nested in the header fails: the body
		// stores ChordError naming that member, as a Python fleet does.
		o := cvPy(t, e.URL, "chord-fail-nested")
		if o.Error == nil || o.Error.Type != "ChordError" || !strings.Contains(o.Error.Message, "Dependency ") ||
			!strings.Contains(o.Error.Message, "raised ValueError('deep')") {
			t.Fatalf("chord with a failing nested member: %+v", o.Error)
		}
	})
	t.Run("chain-fail-errback", func(t *testing.T) {
		// A chain's link_error is called with the id of the step that
		// failed; the steps after it store the same exception.
		o := cvPy(t, e.URL, "chain-fail-errback")
		extra, _ := o.Extra.(map[string]any)
		eb, _ := extra["errback"].(map[string]any)
		if eb == nil || eb["type"] != "ValueError" || eb["message"] != extra["parent"] {
			t.Errorf("chain errback outcome %v, want ValueError(%v)", eb, extra["parent"])
		}
		if o.Error == nil || o.Error.Type != "ValueError" || o.Error.Message != "mid" {
			t.Errorf("last step of the failed chain: %+v, want ValueError(mid)", o.Error)
		}
	})
	cvNoChordKeys(t, e)
}

func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCanvasPythonBuiltOnGoWorker(t *testing.T) {
	e := newEnv(t)
	startGoWorker(t, e.URL, nil, worker.WithHostname(wkGoNode), wkLogger(t), worker.WithConcurrency(8))
	cvPythonScenarios(t, e)
}

func TestCanvasPythonBuiltOnPythonWorker(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithConcurrency(4), pypeer.WithPool("threads"))
	cvPythonScenarios(t, e)
}

// cvGoScenarios applies canvases built with the Go client.
func cvGoScenarios(t *testing.T, e *env) {
	c := e.Client
	get := func(t *testing.T, sig celery.Signature) any {
		t.Helper()
		ctx := ctxFor(t, 15*time.Second)
		r, err := c.ApplyCanvas(ctx, sig, celery.ApplyInfo{})
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if r.Group != nil {
			l, err := r.Group.Join(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		if err := r.Get(ctx, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	long := []celery.Signature{celery.S("tasks.add", 0, 1)}
	for range 19 {
		long = append(long, celery.S("tasks.add", 1))
	}
	header := []celery.Signature{}
	for i := range 3 {
		header = append(header, celery.S("tasks.add", i, i))
	}
	for _, tc := range []struct {
		name string
		sig  celery.Signature
		want any
	}{
		{"chain", celery.Chain(celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2), celery.S("tasks.mul", 3)), 12},
		{"long-chain", celery.Chain(long...), 20},
		{"immutable", celery.Chain(celery.S("tasks.add", 1, 1), celery.Si("tasks.add", 5, 5)), 10},
		{"group", celery.NewGroup(celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2, 2)), []any{2, 4}},
		{"chord", celery.Chord(header, celery.S("tasks.xsum")), 6},
		{"group-then-step", celery.Chain(celery.NewGroup(header...), celery.S("tasks.xsum")), 6},
		{"chord-inside-chain", celery.Chain(celery.S("tasks.add", 1, 1),
			celery.Chord([]celery.Signature{celery.S("tasks.add", 1), celery.S("tasks.add", 2)}, celery.S("tasks.xsum")),
			celery.S("tasks.mul", 10)), 70},
		{"nested", celery.Chord([]celery.Signature{
			celery.Chain(celery.S("tasks.add", 1, 1), celery.S("tasks.mul", 2)),
			celery.Chain(celery.S("tasks.add", 2, 2), celery.S("tasks.mul", 2)),
			celery.S("tasks.add", 3, 3),
		}, celery.S("tasks.xsum")), 18},
		{"chord-group-header", celery.Chord([]celery.Signature{
			celery.NewGroup(celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2, 2)), celery.S("tasks.add", 3, 3),
		}, celery.S("tasks.xsum")), 12},
		{"chord-chord-header", celery.Chord([]celery.Signature{
			celery.Chord([]celery.Signature{celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2, 2)}, celery.S("tasks.xsum")),
			celery.S("tasks.add", 3, 3),
		}, celery.S("tasks.xsum")), 12},
		{"chain-group-middle", celery.Chain(celery.S("tasks.add", 1, 1),
			celery.NewGroup(celery.S("tasks.add", 1), celery.S("tasks.add", 2)), celery.S("tasks.xsum"), celery.S("tasks.mul", 2)), 14},
		{"group-of-chains", celery.NewGroup(
			celery.Chain(celery.S("tasks.add", 1, 1), celery.S("tasks.mul", 2)),
			celery.Chain(celery.S("tasks.add", 2, 2), celery.S("tasks.mul", 3)),
			celery.Chain(celery.S("tasks.add", 0, 1), celery.NewGroup(celery.S("tasks.add", 1), celery.S("tasks.add", 2)), celery.S("tasks.xsum")),
		), []any{4, 12, 5}},
		{"group-in-group", celery.NewGroup(celery.NewGroup(celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2, 2)), celery.S("tasks.add", 3, 3)), []any{2, 4, 6}},
		{"chain-nested-groups", celery.Chain(celery.S("tasks.add", 1, 1),
			celery.NewGroup(celery.S("tasks.add", 1), celery.NewGroup(celery.S("tasks.add", 2), celery.S("tasks.add", 3)))), []any{3, 4, 5}},
		{"chain-of-chords", celery.Chain(
			celery.Chord([]celery.Signature{celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2, 2)}, celery.S("tasks.xsum")),
			celery.Chord([]celery.Signature{celery.S("tasks.add", 1), celery.S("tasks.add", 2)}, celery.S("tasks.xsum")),
			celery.S("tasks.mul", 10)), 150},
		{"map", celery.Map(celery.S("tasks.xsum"), []any{[]any{1, 2}, []any{3, 4}}), []any{3, 7}},
		{"starmap", celery.Starmap(celery.S("tasks.add"), [][]any{{1, 2}, {3, 4}}), []any{3, 7}},
		{"chunks", celery.Chunks(celery.S("tasks.add"), [][]any{{0, 0}, {1, 1}, {2, 2}, {3, 3}}, 3), []any{[]any{0, 2, 4}, []any{6}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wkEqual(t, tc.name, wkNorm(t, get(t, tc.sig)), wkNorm(t, tc.want))
		})
	}
	t.Run("link", func(t *testing.T) {
		ctx := ctxFor(t, 15*time.Second)
		cb := celery.S("tasks.mul", 10).Set("task_id", "cb-"+t.Name())
		if _, err := c.ApplyCanvas(ctx, celery.S("tasks.add", 2, 2).WithLink(cb), celery.ApplyInfo{}); err != nil {
			t.Fatal(err)
		}
		var v any
		if err := c.AsyncResult(cb.ID()).Get(ctx, &v); err != nil {
			t.Fatal(err)
		}
		wkEqual(t, "link", wkNorm(t, v), wkNorm(t, 40))
	})
	t.Run("link-error", func(t *testing.T) {
		ctx := ctxFor(t, 15*time.Second)
		eb := celery.S("tasks.fail").Set("task_id", "eb-"+t.Name())
		r, err := c.ApplyCanvas(ctx, celery.S("tasks.fail", "x").WithLinkError(eb), celery.ApplyInfo{})
		if err != nil {
			t.Fatal(err)
		}
		cvFailedWith(t, ctx, c, eb.ID(), r.ID)
	})
	t.Run("chain-ids", func(t *testing.T) {
		ctx := ctxFor(t, 15*time.Second)
		p := strings.ReplaceAll(t.Name(), "/", "-")
		ids := []string{p + "-a", p + "-b", p + "-c"}
		sig := celery.Chain(celery.S("tasks.add", 1, 1).Set("task_id", ids[0]),
			celery.S("tasks.add", 10).Set("task_id", ids[1]), celery.S("tasks.add", 100).Set("task_id", ids[2]))
		r, err := c.ApplyCanvas(ctx, sig, celery.ApplyInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if r.ID != ids[2] {
			t.Errorf("chain result id %s, want the last step's %s", r.ID, ids[2])
		}
		var v any
		if err := r.Get(ctx, &v); err != nil {
			t.Fatal(err)
		}
		wkEqual(t, "chain", wkNorm(t, v), wkNorm(t, 112))
		for i := 1; i < 3; i++ {
			// Wait, not Info: a step applies the next one before it stores
			// its own result (Celery's order), so on a pool with several
			// threads the last step's result can be stored first.
			m, err := c.AsyncResult(ids[i]).Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.ParentID != ids[i-1] {
				t.Errorf("step %d parent_id %q, want %q", i, m.ParentID, ids[i-1])
			}
		}
	})
	t.Run("chain-failure", func(t *testing.T) {
		ctx := ctxFor(t, 15*time.Second)
		last := celery.S("tasks.add", 1).Set("task_id", "last-"+t.Name())
		if _, err := c.ApplyCanvas(ctx, celery.Chain(celery.S("tasks.fail", "x"), celery.S("tasks.add", 1), last), celery.ApplyInfo{}); err != nil {
			t.Fatal(err)
		}
		m, err := c.AsyncResult(last.ID()).Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != celery.StateFailure {
			t.Errorf("last chain step after a failure: %s %v", m.Status, m.Result)
		}
	})
	t.Run("chain-failure-before-chord", func(t *testing.T) {
		ctx := ctxFor(t, 15*time.Second)
		last := celery.S("tasks.mul", 10).Set("task_id", "last-"+strings.ReplaceAll(t.Name(), "/", "-"))
		sig := celery.Chain(celery.S("tasks.fail", "x"),
			celery.Chord([]celery.Signature{celery.S("tasks.add", 1)}, celery.S("tasks.xsum")), last)
		if _, err := c.ApplyCanvas(ctx, sig, celery.ApplyInfo{}); err != nil {
			t.Fatal(err)
		}
		m, err := c.AsyncResult(last.ID()).Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != celery.StateFailure {
			t.Errorf("step after the chord: %s %v", m.Status, m.Result)
		}
	})
	t.Run("chord-fail", func(t *testing.T) {
		ctx := ctxFor(t, 15*time.Second)
		eb := celery.S("tasks.fail").Set("task_id", "eb-"+t.Name())
		body := celery.S("tasks.xsum").WithLinkError(eb)
		r, err := c.ApplyCanvas(ctx, celery.Chord([]celery.Signature{celery.S("tasks.add", 1, 1), celery.S("tasks.fail", "boom")}, body), celery.ApplyInfo{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var te *celery.TaskError
		if err := m.Err(); err == nil || !errors.As(err, &te) || te.Type != "ChordError" || !strings.Contains(te.Message(), "Dependency") {
			t.Fatalf("chord body: %s %v", m.Status, m.Result)
		}
		cvFailedWith(t, ctx, c, eb.ID(), r.ID)
	})
	t.Run("save-restore", func(t *testing.T) {
		ctx := ctxFor(t, 15*time.Second)
		r, err := c.ApplyCanvas(ctx, celery.NewGroup(celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2, 2)), celery.ApplyInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Group.Save(ctx); err != nil {
			t.Fatal(err)
		}
		var py struct {
			Result any      `json:"result"`
			IDs    []string `json:"ids"`
		}
		pypeer.RunJSON(t, e.URL, &py, "canvas.py", "restore-group", r.Group.ID)
		wkEqual(t, "restored in Python", wkNorm(t, py.Result), wkNorm(t, []any{2, 4}))
		g, err := c.RestoreGroup(ctx, r.Group.ID)
		if err != nil {
			t.Fatal(err)
		}
		l, err := g.Join(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wkEqual(t, "restored in Go", wkNorm(t, l), wkNorm(t, []any{2, 4}))
	})
	cvNoChordKeys(t, e)
}

// cvFailedWith checks that errback task id (tasks.fail) failed with
// ValueError(arg): it received the failed task's id as its argument.
func cvFailedWith(t *testing.T, ctx context.Context, c *celery.Client, id, arg string) {
	t.Helper()
	m, err := c.AsyncResult(id).Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var te *celery.TaskError
	if err := m.Err(); !errors.As(err, &te) || te.Type != "ValueError" || len(te.Args) != 1 || te.Args[0] != arg {
		t.Errorf("errback %s: %s %v, want ValueError(%q)", id, m.Status, m.Result, arg)
	}
}

func TestCanvasGoBuiltOnPythonWorker(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithConcurrency(4), pypeer.WithPool("threads"))
	cvGoScenarios(t, e)
}

func TestCanvasGoBuiltOnGoWorker(t *testing.T) {
	e := newEnv(t)
	startGoWorker(t, e.URL, nil, worker.WithHostname(wkGoNode), wkLogger(t), worker.WithConcurrency(8))
	cvGoScenarios(t, e)
}

// A chord whose members are completed by a Go and a Python worker applies
// its body exactly once, with the results in header order.
func TestCanvasChordMixedFleet(t *testing.T) {
	e := newEnv(t)
	py := pypeer.StartWorker(t, e.URL, pypeer.WithConcurrency(4), pypeer.WithPool("threads"))
	var mu sync.Mutex
	goRuns := map[string]int{}
	goMembers := 0
	startGoWorker(t, e.URL, func(mux *worker.ServeMux) {
		mux.Use(func(h worker.Handler) worker.Handler {
			return worker.HandlerFunc(func(ctx context.Context, t *worker.Task) (any, error) {
				mu.Lock()
				goRuns[t.ID]++
				if t.Task == "tasks.add" {
					goMembers++
				}
				mu.Unlock()
				return h.ProcessTask(ctx, t)
			})
		})
	}, worker.WithHostname(wkGoNode), wkLogger(t), worker.WithConcurrency(4))
	ctx := ctxFor(t, 40*time.Second)
	const n = 200
	header := make([]celery.Signature, n)
	want := 0
	for i := range n {
		header[i] = celery.S("tasks.add", i, i)
		want += 2 * i
	}
	body := celery.S("tasks.xsum").Set("task_id", "body-mixed")
	r, err := e.Client.ApplyCanvas(ctx, celery.Chord(header, body), celery.ApplyInfo{})
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := r.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	wkEqual(t, "chord sum", wkNorm(t, got), wkNorm(t, want))
	time.Sleep(500 * time.Millisecond) // a duplicate body would run by now
	mu.Lock()
	goBody, members := goRuns[body.ID()], goMembers
	mu.Unlock()
	pyBody := strings.Count(py.Log(), "tasks.xsum["+body.ID()+"] succeeded")
	if goBody+pyBody != 1 {
		t.Errorf("body ran %d times on Go, %d on Python; want once", goBody, pyBody)
	}
	if members == 0 || members == n {
		t.Logf("all members ran on one side (Go: %d of %d)", members, n)
	}
	cvNoChordKeys(t, e)
}

// A chain whose steps alternate between a Go worker (queue cv.go) and a
// Python worker (queue cv.py): each hands the result on to the other.
func TestCanvasChainAlternatesGoPython(t *testing.T) {
	e := newEnv(t)
	const goQ, pyQ = "cv.go", "cv.py"
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues(pyQ))
	startGoWorker(t, e.URL, nil, worker.WithHostname(wkGoNode), wkLogger(t), worker.WithQueues(goQ), worker.WithResultExtended(true))
	ctx := ctxFor(t, 40*time.Second)
	const n = 10
	steps := make([]celery.Signature, n)
	for i := range n {
		q := goQ
		if i%2 == 1 {
			q = pyQ
		}
		if i == 0 {
			steps[i] = celery.S("tasks.add", 0, 1)
		} else {
			steps[i] = celery.S("tasks.add", 1)
		}
		steps[i] = steps[i].Set("queue", q).Set("task_id", uuid.NewString())
	}
	r, err := e.Client.ApplyCanvas(ctx, celery.Chain(steps...), celery.ApplyInfo{})
	if err != nil {
		t.Fatal(err)
	}
	var got int
	if err := r.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("chain result = %d, want %d", got, n)
	}
	for i, s := range steps {
		m, err := e.Client.AsyncResult(s.ID()).Wait(ctx) // stored after the next step was applied
		if err != nil {
			t.Fatal(err)
		}
		onGo := m.Worker == wkGoNode
		if m.Status != celery.StateSuccess || onGo != (i%2 == 0) {
			t.Errorf("step %d: %s on %q", i, m.Status, m.Worker)
		}
	}
}

// TestCanvasMixedFleet runs the canvases built by Python and by Go on a
// fleet of one Go and one Python worker: chain steps, chord members and
// bodies land on either, and the outcomes are those of an all-Python
// fleet.
func TestCanvasMixedFleet(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithConcurrency(4), pypeer.WithPool("threads"))
	startGoWorker(t, e.URL, nil, worker.WithHostname(wkGoNode), wkLogger(t), worker.WithConcurrency(4))
	t.Run("python-built", func(t *testing.T) { cvPythonScenarios(t, e) })
	t.Run("go-built", func(t *testing.T) { cvGoScenarios(t, e) })
}

// TestCanvasOldStyleErrbackGoBuiltOnPythonWorker: a link_error sent by the
// Go client to a task whose function takes (request, exc, traceback) is
// called in-process by the Python worker that ran the failed task, as
// Celery's _call_task_errbacks does: the signature carries nothing that
// would stop it. (A Go worker cannot call Python code: it sends every
// errback as a message with the failed id, Celery's path for errbacks it
// does not have.)
func TestCanvasOldStyleErrbackGoBuiltOnPythonWorker(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithConcurrency(2), pypeer.WithPool("threads"))
	ctx := ctxFor(t, 30*time.Second)
	r, err := e.Client.ApplyCanvas(ctx, celery.S("tasks.fail", "old style").WithLinkError(celery.S("tasks.on_error")), celery.ApplyInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := r.Wait(ctx); err != nil || m.Status != celery.StateFailure {
		t.Fatalf("failing task: %+v, %v", m, err)
	}
	wkEventually(t, 20*time.Second, "the errback's note", func() bool {
		v, _ := redis.String(e.Redis.Do(t, "GET", "errback:"+r.ID), nil)
		return v == "ValueError:old style"
	})
}
