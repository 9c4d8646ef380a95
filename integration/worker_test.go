//go:build integration

package integration

// Acceptance tests of the Go worker against Python Celery peers: Python
// clients (delay, apply_async, send_task; AsyncResult.get) talking to the
// in-process worker and to the celeriac binary, a mixed Python+Go fleet, a
// queue full of garbage, time and rate limits, and warm shutdown.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/internal/testtasks"
	"github.com/celeriac/celeriac/worker"
)

// wkGoNode is the node name of the in-process Go workers.
const wkGoNode = "go-it@celeriac"

// wkLogger sends an in-process worker's log to the test's output (shown
// with -v or when the test fails).
func wkLogger(t *testing.T) worker.Option {
	return worker.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil)))
}

// wkPy runs an inline Python script with cwd integration/pyapp (tasks.py
// importable), stdin as its standard input, and decodes its stdout (JSON).
func wkPy(t *testing.T, url, code string, stdin []byte, out any) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wk_script.py")
	src := "import os, sys\nsys.path.insert(0, os.getcwd())\n" + code
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	pypeer.Cmd{BrokerURL: url, Stdin: stdin}.RunJSON(t, out, path)
}

// wkSend is one item of client.py raw-publish: app.send_task(name, args,
// kwargs, **options).
type wkSend struct {
	Name    string         `json:"name"`
	Args    []any          `json:"args"`
	Kwargs  map[string]any `json:"kwargs,omitempty"`
	Options map[string]any `json:"options,omitempty"`
}

// wkRawPublish sends items with Python's send_task (one process) and
// returns their ids in order.
func wkRawPublish(t *testing.T, url string, items ...wkSend) []string {
	t.Helper()
	in, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	pypeer.Cmd{BrokerURL: url, Stdin: in}.RunJSON(t, &ids, "client.py", "raw-publish")
	if len(ids) != len(items) {
		t.Fatalf("raw-publish returned %d ids for %d items", len(ids), len(items))
	}
	return ids
}

// wkEventually polls cond (every 20 ms) until it holds, failing the test
// after d.
func wkEventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wkInt(t *testing.T, e *env, cmd string, args ...any) int {
	t.Helper()
	n, err := redis.Int(e.Redis.Do(t, cmd, args...), nil)
	if err != nil {
		t.Fatalf("%s %v: %v", cmd, args, err)
	}
	return n
}

// wkUnacked returns the unacked hash (delivery tag → entry JSON).
func wkUnacked(t *testing.T, e *env) map[string]string {
	t.Helper()
	m, err := redis.StringMap(e.Redis.Do(t, "HGETALL", "unacked"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wkUnackedHas(t *testing.T, e *env, taskID string) bool {
	t.Helper()
	for _, v := range wkUnacked(t, e) {
		if strings.Contains(v, taskID) {
			return true
		}
	}
	return false
}

// wkQueueLen sums LLEN over the priority buckets of queue.
func wkQueueLen(t *testing.T, e *env, queue string) int {
	t.Helper()
	n := 0
	for _, suffix := range []string{"", "\x06\x163", "\x06\x166", "\x06\x169"} {
		n += wkInt(t, e, "LLEN", queue+suffix)
	}
	return n
}

// wkMeta reads a result with the Go backend (PENDING when absent).
func wkMeta(t *testing.T, e *env, id string) *celery.ResultMeta {
	t.Helper()
	m, err := e.Backend.Get(ctxFor(t, 10*time.Second), id)
	if err != nil {
		t.Fatalf("result %s: %v", id, err)
	}
	return m
}

// wkWaitReady waits until every id has a ready state and returns the metas.
func wkWaitReady(t *testing.T, e *env, d time.Duration, ids []string) map[string]*celery.ResultMeta {
	t.Helper()
	out := make(map[string]*celery.ResultMeta, len(ids))
	deadline := time.Now().Add(d)
	c := e.Redis.Dial(t)
	for {
		missing := wkReadPending(t, c, ids, out)
		if len(missing) == 0 {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %d of %d results ready; missing: %v", d, len(out), len(ids), missing[:min(10, len(missing))])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wkReadPending reads the results of the ids not yet in out, adds the
// ready ones to out and returns the ids still without a ready result.
func wkReadPending(t *testing.T, c redis.Conn, ids []string, out map[string]*celery.ResultMeta) []string {
	t.Helper()
	var missing []string
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			missing = append(missing, id)
		}
	}
	var still []string
	for start := 0; start < len(missing); start += 500 {
		chunk := missing[start:min(start+500, len(missing))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = "celery-task-meta-" + id
		}
		raws, err := redis.ByteSlices(c.Do("MGET", args...))
		if err != nil {
			t.Fatal(err)
		}
		for i, raw := range raws {
			if raw == nil {
				still = append(still, chunk[i])
				continue
			}
			m, err := celery.DecodeResultMeta(raw)
			if err != nil {
				t.Fatalf("result of %s: %v\n%s", chunk[i], err, raw)
			}
			if m.Status.Ready() {
				out[chunk[i]] = m
			} else {
				still = append(still, chunk[i])
			}
		}
	}
	return still
}

// wkNorm round-trips v through JSON so that Go values compare equal to
// what encoding/json decodes (float64 numbers, []any, map[string]any).
func wkNorm(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func wkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := wkNorm(t, got), wkNorm(t, want)
	if !reflect.DeepEqual(g, w) {
		gs, ws := fmt.Sprint(g), fmt.Sprint(w)
		t.Errorf("%s = %.300s, want %.300s", what, gs, ws)
	}
}

// wkPyExc is the exception summary client.py get prints as the result of
// a failed task.
type wkPyExc struct {
	Type, Module, Message string
	Args                  []any
}

func wkExc(t *testing.T, r pyResult) wkPyExc {
	t.Helper()
	m, ok := r.Result.(map[string]any)
	if !ok {
		t.Fatalf("result is %T %v, want an exception", r.Result, r.Result)
	}
	var e wkPyExc
	e.Type, _ = m["type"].(string)
	e.Module, _ = m["module"].(string)
	e.Message, _ = m["message"].(string)
	e.Args, _ = m["args"].([]any)
	return e
}

// wkLogCount counts the lines of log containing every one of subs.
func wkLogCount(log string, subs ...string) int {
	n := 0
	for line := range strings.Lines(log) {
		ok := true
		for _, s := range subs {
			if !strings.Contains(line, s) {
				ok = false
				break
			}
		}
		if ok {
			n++
		}
	}
	return n
}

var wkSucceededRE = regexp.MustCompile(`Task ([\w.]+)\[([^\]\s]+)\] succeeded`)

// wkSucceeded counts "Task name[id] succeeded" lines per task id (the Go
// worker and Python Celery log the same words).
func wkSucceeded(log string) map[string]int {
	out := map[string]int{}
	for _, m := range wkSucceededRE.FindAllStringSubmatch(log, -1) {
		out[m[2]]++
	}
	return out
}

// wkRecorder is a handler that notes when each task started.
type wkRecorder struct {
	mu     sync.Mutex
	starts map[string]time.Time
	order  []any
}

func wkNewRecorder() *wkRecorder { return &wkRecorder{starts: map[string]time.Time{}} }

func (r *wkRecorder) ProcessTask(_ context.Context, t *worker.Task) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts[t.ID] = time.Now()
	if len(t.Args) > 0 {
		r.order = append(r.order, t.Args[0])
	}
	return len(r.order), nil
}

func (r *wkRecorder) snapshot() (map[string]time.Time, []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.starts), slices.Clone(r.order)
}

// TestWorkerFromPython covers acceptance items 1–4 and the time and rate
// limits of 7 on one in-process Go worker: Python sends with delay,
// apply_async and send_task, and Python's AsyncResult.get reads every
// built-in task's result, error, retry count and extended meta.
func TestWorkerFromPython(t *testing.T) {
	e := newEnv(t)
	rated := wkNewRecorder()
	var attemptsMu sync.Mutex
	attempts := map[string]int{} // task id → test.always_retry calls
	startGoWorker(t, e.URL, func(mux *worker.ServeMux) {
		mux.HandleFunc("test.always_retry", func(ctx context.Context, t *worker.Task) (any, error) {
			attemptsMu.Lock()
			attempts[t.ID]++
			attemptsMu.Unlock()
			return nil, worker.Retry(worker.NewPyError("RuntimeError", "still failing"), worker.In(50*time.Millisecond))
		}, worker.MaxRetries(2))
		mux.HandleFunc("test.retry_noexc", func(ctx context.Context, t *worker.Task) (any, error) {
			return nil, worker.Retry(nil, worker.In(50*time.Millisecond))
		}, worker.MaxRetries(1))
		mux.HandleFunc("test.soft", func(ctx context.Context, t *worker.Task) (any, error) {
			if _, ok := ctx.Deadline(); !ok {
				return nil, worker.NewPyError("AssertionError", "no deadline on the task context")
			}
			<-ctx.Done()
			return nil, ctx.Err()
		})
		mux.HandleFunc("test.stubborn", func(ctx context.Context, t *worker.Task) (any, error) {
			time.Sleep(3 * time.Second) // ignores ctx: a handler Go cannot kill
			return "late", nil
		})
		mux.Handle("test.rated", rated, worker.RateLimit("2/s"))
		mux.HandleFunc("test.unencodable", func(ctx context.Context, t *worker.Task) (any, error) {
			return make(chan int), nil
		})
	}, worker.WithHostname(wkGoNode), wkLogger(t), worker.WithConcurrency(8), worker.WithResultExtended(true))

	// Everything is sent by one Python process; the gets run in parallel
	// subtests below.
	big := strings.Repeat("0123456789abcdéf", 1<<16) // 1 MiB of characters
	data := map[string]any{
		"fail_msg":    "bad input: ünïcödé ✗",
		"echo_args":   []any{"héllo wörld ✓ 日本語 🎉", map[string]any{"nested": []any{1, map[string]any{"deep": []any{true, nil, 2.5, "x"}}}}, []any{}},
		"echo_kwargs": map[string]any{"k": "ü", "list": []any{[]any{}, map[string]any{}}, "none": nil, "big": 12345678901234},
		"big":         big,
		"flaky_key":   "wk:flaky:" + e.URL,
	}
	type tcase struct {
		name, send   string // Python expression returning an AsyncResult
		task         string
		want         any
		args         []any
		kwargs       map[string]any
		retries      int
		wantRawValue string // the stored result's exact JSON, when set
	}
	cases := []tcase{
		{name: "add_delay", send: `add.delay(2, 3)`, task: "tasks.add", want: 5, args: []any{2, 3}, kwargs: map[string]any{}, wantRawValue: "5"},
		{name: "add_apply_async_kwargs", send: `add.apply_async(kwargs={"x": 40, "y": 2})`, task: "tasks.add", want: 42, args: []any{}, kwargs: map[string]any{"x": 40, "y": 2}},
		{name: "add_strings", send: `app.send_task("tasks.add", args=["ab", "cd"])`, task: "tasks.add", want: "abcd", args: []any{"ab", "cd"}, kwargs: map[string]any{}},
		{name: "mul_string", send: `mul.delay("ab", 3)`, task: "tasks.mul", want: "ababab", args: []any{"ab", 3}, kwargs: map[string]any{}},
		{name: "add_lists", send: `add.delay([1, "ü"], [[2]])`, task: "tasks.add", want: []any{1, "ü", []any{2}}, args: []any{[]any{1, "ü"}, []any{[]any{2}}}, kwargs: map[string]any{}},
		{name: "add_bigint", send: `add.delay(2**64, 1)`, task: "tasks.add", want: 18446744073709551617.0, args: []any{18446744073709551616.0, 1}, kwargs: map[string]any{}, wantRawValue: "18446744073709551617"},
		{name: "mul_apply_async", send: `mul.apply_async((6, 7))`, task: "tasks.mul", want: 42, args: []any{6, 7}, kwargs: map[string]any{}},
		{name: "mul_float", send: `mul.delay(1.5, 2)`, task: "tasks.mul", want: 3.0, args: []any{1.5, 2}, kwargs: map[string]any{}, wantRawValue: "3.0"},
		{name: "xsum_send_task", send: `app.send_task("tasks.xsum", args=[[1, 2, 3.5]])`, task: "tasks.xsum", want: 6.5, args: []any{[]any{1, 2, 3.5}}, kwargs: map[string]any{}},
		{name: "xsum_kwargs", send: `xsum.apply_async(kwargs={"numbers": list(range(100))})`, task: "tasks.xsum", want: 4950, kwargs: map[string]any{"numbers": wkSeq(100)}, args: []any{}},
		{name: "sleep", send: `sleep.delay(0.2)`, task: "tasks.sleep", want: 0.2, args: []any{0.2}, kwargs: map[string]any{}},
		{name: "echo_unicode_nested", send: `echo.apply_async(args=D["echo_args"], kwargs=D["echo_kwargs"])`, task: "tasks.echo",
			want: []any{data["echo_args"], data["echo_kwargs"]}, args: data["echo_args"].([]any), kwargs: data["echo_kwargs"].(map[string]any)},
		{name: "echo_1MiB", send: `echo.delay(D["big"])`, task: "tasks.echo", want: []any{[]any{big}, map[string]any{}}, args: []any{big}, kwargs: map[string]any{}},
		{name: "flaky_retries", send: `flaky.delay(D["flaky_key"], 2)`, task: "tasks.flaky", want: 3, args: []any{data["flaky_key"], 2}, kwargs: map[string]any{}, retries: 2},
		{name: "sample_task", send: `app.send_task("tasks.sample_task", args=[0.1])`, task: "tasks.sample_task", want: "Task completed in 0.1 seconds!", args: []any{0.1}, kwargs: map[string]any{}},
		{name: "sample_task_float", send: `app.send_task("tasks.sample_task", args=[0.0])`, task: "tasks.sample_task", want: "Task completed in 0.0 seconds!", args: []any{0.0}, kwargs: map[string]any{}},
		{name: "mul_float_large", send: `mul.delay(1e6, 1.0)`, task: "tasks.mul", want: 1e6, args: []any{1e6, 1.0}, kwargs: map[string]any{}, wantRawValue: "1000000.0"},
		{name: "sample_task_kwargs", send: `app.send_task("tasks.sample_task", kwargs={"duration": 0})`, task: "tasks.sample_task", want: "Task completed in 0 seconds!", args: []any{}, kwargs: map[string]any{"duration": 0}},
	}
	var script strings.Builder
	script.WriteString("import json\nfrom tasks import app, add, mul, xsum, sleep, fail, echo, flaky\nD = json.load(sys.stdin)\nids = {}\n")
	for _, c := range cases {
		fmt.Fprintf(&script, "ids[%q] = %s.id\n", c.name, c.send)
	}
	script.WriteString(`ids["fail"] = fail.delay(D["fail_msg"]).id` + "\nprint(json.dumps(ids))\n")
	stdin, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	var ids map[string]string
	wkPy(t, e.URL, script.String(), stdin, &ids)

	t.Run("results", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				id := ids[c.name]
				r := pyGet(t, e.URL, id)
				if r.State != "SUCCESS" {
					t.Fatalf("state %s, result %v, traceback %v", r.State, r.Result, r.Traceback)
				}
				wkEqual(t, "result", r.Result, c.want)
				// result_extended meta as Python reads it.
				if r.Name != c.task {
					t.Errorf("name %q, want %q", r.Name, c.task)
				}
				wkEqual(t, "args", r.Args, c.args)
				wkEqual(t, "kwargs", r.Kwargs, c.kwargs)
				if r.Worker != wkGoNode {
					t.Errorf("worker %q, want %q", r.Worker, wkGoNode)
				}
				if r.Retries != c.retries {
					t.Errorf("retries %d, want %d", r.Retries, c.retries)
				}
				if r.Queue != "celery" {
					t.Errorf("queue %q, want celery", r.Queue)
				}
				if r.DateDone == "" {
					t.Error("no date_done")
				}
				if c.wantRawValue != "" {
					raw, err := pyjson.Encode(wkMeta(t, e, id).Result)
					if err != nil {
						t.Fatal(err)
					}
					if string(raw) != c.wantRawValue {
						t.Errorf("stored result %s, want %s (Python's int/float)", raw, c.wantRawValue)
					}
				}
			})
		}
	})

	t.Run("flaky_counter", func(t *testing.T) {
		// The flaky result was awaited above (results ran to completion).
		if n := wkInt(t, e, "GET", testtasks.FlakyKeyPrefix+data["flaky_key"].(string)); n != 3 {
			t.Errorf("flaky counter %d, want 3", n)
		}
	})

	t.Run("errors", func(t *testing.T) {
		t.Run("fail_ValueError", func(t *testing.T) {
			t.Parallel()
			r := pyGet(t, e.URL, ids["fail"])
			if r.State != "FAILURE" {
				t.Fatalf("state %s, want FAILURE", r.State)
			}
			exc := wkExc(t, r)
			if exc.Type != "ValueError" || exc.Module != "builtins" || exc.Message != data["fail_msg"] {
				t.Errorf("exception %+v, want builtins.ValueError(%q)", exc, data["fail_msg"])
			}
			if r.Traceback == nil || !strings.Contains(*r.Traceback, "ValueError") {
				t.Errorf("traceback %v, want one naming ValueError", r.Traceback)
			}
			if r.Name != "tasks.fail" || r.Worker != wkGoNode || r.Queue != "celery" {
				t.Errorf("meta name %q worker %q queue %q", r.Name, r.Worker, r.Queue)
			}
		})
		t.Run("max_retries_exceeded", func(t *testing.T) {
			t.Parallel()
			id := pySend(t, e.URL, "test.always_retry", "--args", `["x"]`)
			r := pyGet(t, e.URL, id)
			if r.State != "FAILURE" {
				t.Fatalf("state %s, want FAILURE", r.State)
			}
			if exc := wkExc(t, r); exc.Type != "RuntimeError" || exc.Message != "still failing" {
				t.Errorf("exception %+v, want RuntimeError('still failing') (the retry's exc)", exc)
			}
			if r.Retries != 2 {
				t.Errorf("retries %d, want 2", r.Retries)
			}
			if r.Traceback == nil {
				t.Error("no traceback")
			}
			attemptsMu.Lock()
			defer attemptsMu.Unlock()
			if n := attempts[id]; n != 3 {
				t.Errorf("handler ran %d times, want 3 (first call + 2 retries)", n)
			}
		})
		t.Run("max_retries_exceeded_no_exc", func(t *testing.T) {
			t.Parallel()
			id := pySend(t, e.URL, "test.retry_noexc", "--args", `[1]`, "--kwargs", `{"k": "v"}`)
			r := pyGet(t, e.URL, id)
			if r.State != "FAILURE" {
				t.Fatalf("state %s, want FAILURE", r.State)
			}
			exc := wkExc(t, r)
			if exc.Type != "MaxRetriesExceededError" || exc.Module != "celery.exceptions" {
				t.Errorf("exception %+v, want celery.exceptions.MaxRetriesExceededError", exc)
			}
			if want := "Can't retry test.retry_noexc[" + id + "]"; !strings.HasPrefix(exc.Message, want) {
				t.Errorf("message %q, want prefix %q", exc.Message, want)
			}
			if r.Retries != 1 {
				t.Errorf("retries %d, want 1", r.Retries)
			}
		})
		t.Run("float_infinity", func(t *testing.T) {
			t.Parallel()
			// Python's 1e308 + 1e308 is inf, stored as Infinity. (Checked
			// with the Go backend: Go's encoding/json cannot read the
			// Infinity that client.py would print.)
			id := pySend(t, e.URL, "tasks.add", "--args", "[1e308, 1e308]")
			m := wkWaitReady(t, e, 30*time.Second, []string{id})[id]
			raw, _ := pyjson.Encode(m.Result)
			if m.Status != celery.StateSuccess || string(raw) != "Infinity" {
				t.Errorf("add(1e308, 1e308): %s %s, want SUCCESS Infinity", m.Status, raw)
			}
		})
		t.Run("unencodable_result", func(t *testing.T) {
			t.Parallel()
			r := pyGet(t, e.URL, pySend(t, e.URL, "test.unencodable"))
			if r.State != "FAILURE" {
				t.Fatalf("state %s, want FAILURE", r.State)
			}
			if exc := wkExc(t, r); exc.Type != "EncodeError" || exc.Module != "kombu.exceptions" {
				t.Errorf("exception %+v, want kombu.exceptions.EncodeError", exc)
			}
		})
		t.Run("soft_time_limit", func(t *testing.T) {
			t.Parallel()
			id := wkRawPublish(t, e.URL, wkSend{Name: "test.soft", Args: []any{}, Options: map[string]any{"soft_time_limit": 0.5}})[0]
			r := pyGet(t, e.URL, id)
			if r.State != "FAILURE" {
				t.Fatalf("state %s result %v, want FAILURE", r.State, r.Result)
			}
			// celery.exceptions re-exports billiard's class; Python workers
			// store billiard.exceptions.
			if exc := wkExc(t, r); exc.Type != "SoftTimeLimitExceeded" || exc.Module != "billiard.exceptions" || len(exc.Args) != 0 {
				t.Errorf("exception %+v, want billiard.exceptions.SoftTimeLimitExceeded()", exc)
			}
			if mod := wkMeta(t, e, id).Result.(map[string]any)["exc_module"]; mod != "billiard.exceptions" {
				t.Errorf("stored exc_module %v, want billiard.exceptions as a Python worker", mod)
			}
		})
		t.Run("hard_time_limit", func(t *testing.T) {
			t.Parallel()
			sent := time.Now()
			sends := wkRawPublish(t, e.URL,
				wkSend{Name: "tasks.sleep", Args: []any{30}, Options: map[string]any{"time_limit": 1}},
				wkSend{Name: "test.stubborn", Args: []any{}, Options: map[string]any{"time_limit": 1}})
			for _, id := range sends {
				r := pyGet(t, e.URL, id)
				if r.State != "FAILURE" {
					t.Fatalf("state %s result %v, want FAILURE", r.State, r.Result)
				}
				exc := wkExc(t, r)
				if exc.Type != "TimeLimitExceeded" || exc.Module != "billiard.exceptions" || exc.Message != "TimeLimitExceeded(1,)" {
					t.Errorf("exception %+v, want billiard.exceptions.TimeLimitExceeded(1,)", exc)
				}
				// As a Python worker stores it: billiard's module, and the
				// limit as sent ([1], not [1.0]).
				stored := wkMeta(t, e, id).Result.(map[string]any)
				msgRaw, _ := pyjson.Encode(stored["exc_message"])
				if stored["exc_module"] != "billiard.exceptions" || string(msgRaw) != "[1]" {
					t.Errorf("stored exception %v, want exc_module billiard.exceptions, exc_message [1]", stored)
				}
				done, err := celery.ParseTime(r.DateDone)
				if err != nil {
					t.Fatal(err)
				}
				// About 1 s after it started; generous for a loaded machine
				// (the Python sender's start-up is included).
				if d := done.Sub(sent); d > 10*time.Second {
					t.Errorf("failed %v after sending, want about 1 s", d)
				}
			}
			// The worker keeps serving.
			if r := pyGet(t, e.URL, pySend(t, e.URL, "tasks.add", "--args", "[1, 1]")); r.State != "SUCCESS" || r.Result != 2.0 {
				t.Errorf("after a hard time limit: %s %v", r.State, r.Result)
			}
		})
		t.Run("rate_limit", func(t *testing.T) {
			t.Parallel()
			var items []wkSend
			for i := range 5 {
				items = append(items, wkSend{Name: "test.rated", Args: []any{i}})
			}
			rids := wkRawPublish(t, e.URL, items...)
			metas := wkWaitReady(t, e, 30*time.Second, rids)
			starts, _ := rated.snapshot()
			var first, last time.Time
			for _, id := range rids {
				if metas[id].Status != celery.StateSuccess {
					t.Fatalf("%s: %s", id, metas[id].Status)
				}
				s, ok := starts[id]
				if !ok {
					t.Fatalf("%s did not run", id)
				}
				if first.IsZero() || s.Before(first) {
					first = s
				}
				if s.After(last) {
					last = s
				}
			}
			// Token bucket of capacity 1 at 2/s: starts 0.5 s apart.
			if span := last.Sub(first); span < 1900*time.Millisecond || span > 10*time.Second {
				t.Errorf("5 tasks at 2/s started over %v, want about 2 s", span)
			}
		})
	})

	t.Run("scheduling", func(t *testing.T) {
		t.Run("countdown", func(t *testing.T) {
			t.Parallel()
			const countdown = 3 * time.Second
			before := time.Now()
			id := pySend(t, e.URL, "tasks.echo", "--args", `["countdown"]`, "--countdown", "3")
			// Held by the worker, unacknowledged, until it is due.
			wkEventually(t, countdown, "the countdown task in unacked", func() bool { return wkUnackedHas(t, e, id) })
			st := wkMeta(t, e, id).Status
			held := wkUnackedHas(t, e, id)
			if time.Since(before) < countdown { // both reads happened before it was due
				if st != celery.StatePending {
					t.Errorf("state %s while waiting for the countdown, want PENDING", st)
				}
				if !held {
					t.Error("countdown task left unacked before it was due")
				}
			}
			r := pyGet(t, e.URL, id)
			if r.State != "SUCCESS" {
				t.Fatalf("state %s", r.State)
			}
			done, err := celery.ParseTime(r.DateDone)
			if err != nil {
				t.Fatal(err)
			}
			if done.Before(before.Add(countdown)) {
				t.Errorf("ran at %v, before the countdown ended (%v)", done, before.Add(countdown))
			}
			if wkUnackedHas(t, e, id) {
				t.Error("still in unacked after it ran")
			}
		})
		t.Run("eta", func(t *testing.T) {
			t.Parallel()
			eta := time.Now().Add(2 * time.Second).UTC().Truncate(time.Millisecond)
			id := pySend(t, e.URL, "tasks.add", "--args", "[1, 2]", "--eta", eta.Format("2006-01-02T15:04:05.000000+00:00"))
			r := pyGet(t, e.URL, id)
			if r.State != "SUCCESS" || r.Result != 3.0 {
				t.Fatalf("state %s result %v", r.State, r.Result)
			}
			done, err := celery.ParseTime(r.DateDone)
			if err != nil {
				t.Fatal(err)
			}
			if done.Before(eta) {
				t.Errorf("ran at %v, before its eta %v", done, eta)
			}
		})
		t.Run("expires_past", func(t *testing.T) {
			t.Parallel()
			key := "wk:expired:" + e.URL
			past := time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04:05+00:00")
			id := pySend(t, e.URL, "tasks.flaky", "--args", fmt.Sprintf(`[%q, 0]`, key), "--expires", past)
			r := pyGet(t, e.URL, id)
			if r.State != "REVOKED" {
				t.Fatalf("state %s result %v, want REVOKED", r.State, r.Result)
			}
			if exc := wkExc(t, r); exc.Type != "TaskRevokedError" || exc.Module != "celery.exceptions" {
				t.Errorf("exception %+v, want celery.exceptions.TaskRevokedError", exc)
			}
			wkEqual(t, "exc_message", wkMeta(t, e, id).Result.(map[string]any)["exc_message"], []any{"expired"})
			if n := wkInt(t, e, "EXISTS", testtasks.FlakyKeyPrefix+key); n != 0 {
				t.Error("the expired task ran")
			}
		})
		t.Run("expires_future", func(t *testing.T) {
			t.Parallel()
			id := pySend(t, e.URL, "tasks.add", "--args", "[20, 22]", "--expires", "60")
			if r := pyGet(t, e.URL, id); r.State != "SUCCESS" || r.Result != 42.0 {
				t.Fatalf("state %s result %v", r.State, r.Result)
			}
		})
		t.Run("get_via_pubsub", func(t *testing.T) {
			t.Parallel()
			// The worker PUBLISHes the result on its key; Python's get()
			// waits on that channel. Watch the channel as Python does.
			psc := redis.PubSubConn{Conn: e.Redis.Dial(t)}
			id := "wk-pubsub-" + fmt.Sprint(time.Now().UnixNano())
			if err := psc.Subscribe("celery-task-meta-" + id); err != nil {
				t.Fatal(err)
			}
			if _, ok := psc.Receive().(redis.Subscription); !ok {
				t.Fatal("no subscription confirmation")
			}
			start := time.Now()
			pySend(t, e.URL, "tasks.sleep", "--args", "[1.5]", "--task-id", id)
			got := make(chan []byte, 1)
			go func() {
				for {
					switch m := psc.ReceiveWithTimeout(20 * time.Second).(type) {
					case redis.Message:
						if bytes.Contains(m.Data, []byte(`"SUCCESS"`)) {
							got <- m.Data
							return
						}
					case error:
						got <- nil
						return
					}
				}
			}()
			r := pyGet(t, e.URL, id)
			elapsed := time.Since(start)
			if r.State != "SUCCESS" {
				t.Fatalf("state %s", r.State)
			}
			if msg := <-got; msg == nil {
				t.Error("no SUCCESS published on celery-task-meta-<id>")
			}
			// Two Python start-ups (~0.5 s each) plus the 1.5 s task; the
			// bound is loose for loaded machines: a get that had to wait for
			// its 30 s timeout would show.
			if elapsed > 20*time.Second {
				t.Errorf("send + get of a 1.5 s task took %v", elapsed)
			}
		})
	})
}

func wkSeq(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestWorkerPriority: tasks queued with priorities before any worker runs
// are executed most urgent first (0, then 3, 6, 9; FIFO within a level) by
// a worker with -c 1 and prefetch multiplier 1.
func TestWorkerPriority(t *testing.T) {
	e := newEnv(t)
	prios := []int{9, 9, 9, 6, 9, 3, 9, 9, 6, 9, 9, 9, 0}
	var items []wkSend
	for i, p := range prios {
		items = append(items, wkSend{Name: "test.order", Args: []any{fmt.Sprintf("p%d-%02d", p, i)}, Options: map[string]any{"priority": p}})
	}
	ids := wkRawPublish(t, e.URL, items...)
	rec := wkNewRecorder()
	startGoWorker(t, e.URL, func(mux *worker.ServeMux) { mux.Handle("test.order", rec) },
		worker.WithHostname(wkGoNode), wkLogger(t), worker.WithConcurrency(1), worker.WithPrefetchMultiplier(1))
	wkWaitReady(t, e, 30*time.Second, ids)
	_, order := rec.snapshot()
	var want []any
	for _, level := range []int{0, 3, 6, 9} {
		for _, it := range items {
			if it.Options["priority"] == level {
				want = append(want, it.Args[0])
			}
		}
	}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("execution order\n %v\nwant\n %v", order, want)
	}

	t.Run("python_reference", func(t *testing.T) {
		// The same queue drained by Python Celery (-c 1, prefetch 1,
		// tasks.record) runs in the same order.
		e := newEnv(t)
		for i := range items {
			items[i].Name = "tasks.record"
		}
		ids := wkRawPublish(t, e.URL, items...)
		pypeer.StartWorker(t, e.URL, pypeer.WithConcurrency(1), pypeer.WithPrefetchMultiplier(1))
		wkWaitReady(t, e, 60*time.Second, ids)
		recs, err := redis.Strings(e.Redis.Do(t, "LRANGE", "celeriac:record", 0, -1), nil)
		if err != nil {
			t.Fatal(err)
		}
		var pyOrder []any
		for _, r := range recs {
			var entry struct{ Args []any }
			if err := json.Unmarshal([]byte(r), &entry); err != nil || len(entry.Args) == 0 {
				t.Fatalf("record %q: %v", r, err)
			}
			pyOrder = append(pyOrder, entry.Args[0])
		}
		if !reflect.DeepEqual(pyOrder, want) {
			t.Errorf("Python's execution order\n %v\nwant\n %v", pyOrder, want)
		}
	})
}

// TestWorkerQueues: the binary with -Q q1,q2 consumes exactly those queues.
func TestWorkerQueues(t *testing.T) {
	e := newEnv(t)
	p := startBinary(t, "worker ready", "worker", "--broker", e.URL, "-Q", "q1,q2", "-c", "2", "-n", "go-queues@celeriac", "--result-extended")
	skipped := []string{
		pySend(t, e.URL, "tasks.add", "--args", "[0, 0]", "--queue", "q3"),
		pySend(t, e.URL, "tasks.add", "--args", "[0, 0]"), // default queue "celery"
	}
	q1 := pySend(t, e.URL, "tasks.add", "--args", "[1, 1]", "--queue", "q1")
	q2 := pySend(t, e.URL, "tasks.mul", "--args", "[2, 2]", "--queue", "q2")
	for id, want := range map[string]struct {
		queue  string
		result float64
	}{q1: {"q1", 2}, q2: {"q2", 4}} {
		r := pyGet(t, e.URL, id)
		if r.State != "SUCCESS" || r.Result != want.result || r.Queue != want.queue || r.Worker != "go-queues@celeriac" {
			t.Errorf("%s: state %s result %v queue %q worker %q, want SUCCESS %v on %s", id, r.State, r.Result, r.Queue, r.Worker, want.result, want.queue)
		}
	}
	if n := wkQueueLen(t, e, "q3"); n != 1 {
		t.Errorf("q3 holds %d messages, want 1 (not consumed)", n)
	}
	if n := wkQueueLen(t, e, "celery"); n != 1 {
		t.Errorf("celery holds %d messages, want 1 (not consumed)", n)
	}
	for _, id := range skipped {
		if st := wkMeta(t, e, id).Status; st != celery.StatePending {
			t.Errorf("task on an unconsumed queue is %s", st)
		}
	}
	if t.Failed() {
		t.Logf("worker log:\n%s", p.Log())
	}
}

// TestWorkerMixedFleet: a Python worker and a Go worker on one queue drain
// 1,000 tasks.add together; every task runs exactly once.
func TestWorkerMixedFleet(t *testing.T) {
	e := newEnv(t)
	py := pypeer.StartWorker(t, e.URL)
	var mu sync.Mutex
	goRuns := map[string]int{}
	startGoWorker(t, e.URL, func(mux *worker.ServeMux) {
		mux.Use(func(h worker.Handler) worker.Handler {
			return worker.HandlerFunc(func(ctx context.Context, t *worker.Task) (any, error) {
				mu.Lock()
				goRuns[t.ID]++
				mu.Unlock()
				return h.ProcessTask(ctx, t)
			})
		})
	}, worker.WithHostname(wkGoNode), wkLogger(t), worker.WithConcurrency(2), worker.WithResultExtended(true))

	const n = 1000
	ids := make([]string, n)
	pubs := make([]celery.Publishing, n)
	for i := range n {
		m, pub := e.Client.BuildMessage("tasks.add", celery.Args(i, 2*i))
		body, err := celery.EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		pub.Body = body
		ids[i], pubs[i] = m.ID, pub
	}
	if err := e.Broker.PublishBatch(ctxFor(t, 30*time.Second), pubs); err != nil {
		t.Fatal(err)
	}
	metas := wkWaitReady(t, e, 90*time.Second, ids)

	byWorker := map[string]int{}
	var pyIDs []string
	for i, id := range ids {
		m := metas[id]
		if m.Status != celery.StateSuccess {
			t.Fatalf("%s: %s %v", id, m.Status, m.Result)
		}
		got, err := pyjson.Encode(m.Result)
		if err != nil || string(got) != fmt.Sprint(3*i) {
			t.Errorf("add(%d, %d) = %s, want %d", i, 2*i, got, 3*i)
		}
		byWorker[m.Worker]++
		if m.Worker == py.NodeName() {
			pyIDs = append(pyIDs, id)
		}
	}
	t.Logf("tasks per worker: %v", byWorker)
	if byWorker[wkGoNode] == 0 || byWorker[py.NodeName()] == 0 || byWorker[wkGoNode]+byWorker[py.NodeName()] != n {
		t.Errorf("tasks per worker %v: want both %s and %s, and nobody else", byWorker, wkGoNode, py.NodeName())
	}
	// Exactly once: Go's executions counted by middleware, Python's by its
	// "succeeded" log lines (logged just after the result is stored).
	var pyRuns map[string]int
	wkEventually(t, 10*time.Second, "Python's success log lines", func() bool {
		pyRuns = wkSucceeded(py.Log())
		return len(pyRuns) >= len(pyIDs)
	})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if runs := goRuns[id] + pyRuns[id]; runs != 1 {
			t.Errorf("task %s ran %d times (go %d, python %d)", id, runs, goRuns[id], pyRuns[id])
		}
	}
	if q, u := wkQueueLen(t, e, "celery"), len(wkUnacked(t, e)); q != 0 || u != 0 {
		t.Errorf("after draining: %d queued, %d unacked", q, u)
	}
}

// wkEnvelope returns a well-formed protocol-v2 envelope for tasks.add as a
// mutable map, plus its header and property maps.
func wkEnvelope(i int) (env, headers, props map[string]any) {
	id := fmt.Sprintf("bad-%04d-0000-0000-0000-000000000000", i)
	headers = map[string]any{
		"lang": "py", "task": "tasks.add", "id": id, "shadow": nil, "eta": nil, "expires": nil,
		"group": nil, "group_index": nil, "retries": 0, "timelimit": []any{nil, nil},
		"root_id": id, "parent_id": nil, "argsrepr": "(1, 2)", "kwargsrepr": "{}",
		"origin": "gen1@test", "ignore_result": false,
	}
	props = map[string]any{
		"correlation_id": id, "reply_to": "", "delivery_mode": 2,
		"delivery_info": map[string]any{"exchange": "", "routing_key": "celery"},
		"priority":      0, "body_encoding": "base64", "delivery_tag": fmt.Sprintf("tag-bad-%d", i),
	}
	env = map[string]any{
		"body":             wkB64(`[[1, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`),
		"content-encoding": "utf-8", "content-type": "application/json",
		"headers": headers, "properties": props,
	}
	return env, headers, props
}

func wkB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func wkJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// wkGarbage lists malformed queue items: each function returns the i-th
// instance of one kind of defect.
var wkGarbage = []struct {
	name string
	make func(i int) []byte
}{
	{"invalid JSON", func(i int) []byte { return fmt.Appendf(nil, `{"body": "x%d", "headers": {`, i) }},
	{"empty item", func(i int) []byte { return []byte{} }},
	{"JSON array", func(i int) []byte { return fmt.Appendf(nil, `[%d, 2, 3]`, i) }},
	{"JSON string", func(i int) []byte { return fmt.Appendf(nil, `"message %d"`, i) }},
	{"JSON null", func(i int) []byte { return []byte("null") }},
	{"binary bytes", func(i int) []byte { return []byte{0xff, 0xfe, 0x00, byte(i), 0x80} }},
	{"deep nesting", func(i int) []byte { return []byte(strings.Repeat("[", 100000)) }},
	{"missing body", func(i int) []byte { env, _, _ := wkEnvelope(i); delete(env, "body"); return wkJSON(env) }},
	{"body not a string", func(i int) []byte { env, _, _ := wkEnvelope(i); env["body"] = i; return wkJSON(env) }},
	{"bad base64", func(i int) []byte {
		env, _, _ := wkEnvelope(i)
		env["body"] = fmt.Sprintf("!!not*base64%%%d", i)
		return wkJSON(env)
	}},
	{"unknown body_encoding", func(i int) []byte { env, _, p := wkEnvelope(i); p["body_encoding"] = "rot13"; return wkJSON(env) }},
	{"pickle content-type", func(i int) []byte {
		env, _, _ := wkEnvelope(i)
		env["content-type"] = "application/x-python-serialize"
		env["content-encoding"] = "binary"
		env["body"] = base64.StdEncoding.EncodeToString([]byte("\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01K\x02\x86\x94."))
		return wkJSON(env)
	}},
	{"yaml content-type", func(i int) []byte {
		env, _, _ := wkEnvelope(i)
		env["content-type"] = "application/x-yaml"
		env["body"] = wkB64("- [1, 2]\n- {}\n")
		return wkJSON(env)
	}},
	{"content-type not a string", func(i int) []byte { env, _, _ := wkEnvelope(i); env["content-type"] = 5; return wkJSON(env) }},
	{"headers not an object", func(i int) []byte { env, _, _ := wkEnvelope(i); env["headers"] = "x"; return wkJSON(env) }},
	{"properties not an object", func(i int) []byte { env, _, _ := wkEnvelope(i); env["properties"] = []any{1}; return wkJSON(env) }},
	{"delivery_tag not a string", func(i int) []byte { env, _, p := wkEnvelope(i); p["delivery_tag"] = i; return wkJSON(env) }},
	{"missing task header (v2 body)", func(i int) []byte { env, h, _ := wkEnvelope(i); delete(h, "task"); return wkJSON(env) }},
	{"v1 body not an object", func(i int) []byte {
		env, h, _ := wkEnvelope(i)
		delete(h, "task")
		env["body"] = wkB64(fmt.Sprintf(`"just text %d"`, i))
		return wkJSON(env)
	}},
	{"v1 body without task", func(i int) []byte {
		env, _, _ := wkEnvelope(i)
		env["headers"] = map[string]any{}
		env["body"] = wkB64(`{"id": "x", "args": [1, 2], "kwargs": {}}`)
		return wkJSON(env)
	}},
	{"body not JSON", func(i int) []byte {
		env, _, _ := wkEnvelope(i)
		env["body"] = wkB64(fmt.Sprintf("{not json %d", i))
		return wkJSON(env)
	}},
	{"v2 body of two items", func(i int) []byte {
		env, _, _ := wkEnvelope(i)
		env["body"] = wkB64(`[[1, 2], {}]`)
		return wkJSON(env)
	}},
	{"args not a list", func(i int) []byte {
		env, _, _ := wkEnvelope(i)
		env["body"] = wkB64(`["1, 2", {}, null]`)
		return wkJSON(env)
	}},
	{"kwargs not an object", func(i int) []byte {
		env, _, _ := wkEnvelope(i)
		env["body"] = wkB64(`[[1, 2], [], null]`)
		return wkJSON(env)
	}},
	{"embed not an object", func(i int) []byte {
		env, _, _ := wkEnvelope(i)
		env["body"] = wkB64(`[[1, 2], {}, "embed"]`)
		return wkJSON(env)
	}},
	{"task header not a string", func(i int) []byte { env, h, _ := wkEnvelope(i); h["task"] = 123; return wkJSON(env) }},
	{"id header not a string", func(i int) []byte { env, h, _ := wkEnvelope(i); h["id"] = []any{i}; return wkJSON(env) }},
	{"no task id", func(i int) []byte { env, h, _ := wkEnvelope(i); delete(h, "id"); return wkJSON(env) }},
	{"eta not a string", func(i int) []byte { env, h, _ := wkEnvelope(i); h["eta"] = 1e12; return wkJSON(env) }},
	{"eta beyond year 9999", func(i int) []byte {
		env, h, _ := wkEnvelope(i)
		h["eta"] = "99999-12-31T23:59:59+00:00"
		return wkJSON(env)
	}},
	{"eta not a date", func(i int) []byte { env, h, _ := wkEnvelope(i); h["eta"] = "in a while"; return wkJSON(env) }},
	{"expires not a date", func(i int) []byte { env, h, _ := wkEnvelope(i); h["expires"] = "1e400"; return wkJSON(env) }},
	{"negative retries", func(i int) []byte { env, h, _ := wkEnvelope(i); h["retries"] = -1 - i; return wkJSON(env) }},
	{"retries not a number", func(i int) []byte { env, h, _ := wkEnvelope(i); h["retries"] = "three"; return wkJSON(env) }},
	{"timelimit a string", func(i int) []byte { env, h, _ := wkEnvelope(i); h["timelimit"] = "abc"; return wkJSON(env) }},
	{"timelimit of one item", func(i int) []byte { env, h, _ := wkEnvelope(i); h["timelimit"] = []any{1}; return wkJSON(env) }},
	{"timelimit of strings", func(i int) []byte { env, h, _ := wkEnvelope(i); h["timelimit"] = []any{"a", "b"}; return wkJSON(env) }},
	{"negative timelimit", func(i int) []byte { env, h, _ := wkEnvelope(i); h["timelimit"] = []any{-5, nil}; return wkJSON(env) }},
	{"unknown compression", func(i int) []byte {
		env, h, _ := wkEnvelope(i)
		h["compression"] = "application/x-lzma"
		return wkJSON(env)
	}},
	{"zlib header, plain body", func(i int) []byte {
		env, h, _ := wkEnvelope(i)
		h["compression"] = "application/x-gzip"
		return wkJSON(env)
	}},
	{"compression not a string", func(i int) []byte { env, h, _ := wkEnvelope(i); h["compression"] = 9; return wkJSON(env) }},
	{"group_index not a number", func(i int) []byte { env, h, _ := wkEnvelope(i); h["group_index"] = "x"; return wkJSON(env) }},
	{"ignore_result not a bool", func(i int) []byte { env, h, _ := wkEnvelope(i); h["ignore_result"] = "yes"; return wkJSON(env) }},
	{"stamps not an object", func(i int) []byte { env, h, _ := wkEnvelope(i); h["stamps"] = []any{1}; return wkJSON(env) }},
}

// TestWorkerMalformed: 1,000 malformed messages interleaved with 100 valid
// ones; the binary worker logs each bad one once, drops it (queue and
// unacked), runs the valid ones and keeps serving. Also acceptance item 8:
// an unknown task name is stored as FAILURE NotRegistered.
func TestWorkerMalformed(t *testing.T) {
	e := newEnv(t)
	p := startBinary(t, "worker ready", "worker", "--broker", e.URL, "-c", "4", "-n", "go-malformed@celeriac")

	const bad, good = 1000, 100
	conn := e.Redis.Dial(t)
	var ids []string
	kinds := map[string]int{}
	for i := range bad + good {
		var item []byte
		if i%11 == 10 {
			m, _ := e.Client.BuildMessage("tasks.add", celery.Args(i, 1))
			body, err := celery.EncodeMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
			item = body
		} else {
			k := wkGarbage[(i-i/11)%len(wkGarbage)]
			kinds[k.name]++
			item = k.make(i)
		}
		if err := conn.Send("LPUSH", "celery", item); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Do(""); err != nil {
		t.Fatal(err)
	}
	if len(ids) != good {
		t.Fatalf("made %d valid messages", len(ids))
	}
	metas := wkWaitReady(t, e, 60*time.Second, ids)
	for _, id := range ids {
		if m := metas[id]; m.Status != celery.StateSuccess {
			t.Errorf("valid task %s: %s %v", id, m.Status, m.Result)
		}
	}
	const rejected = `msg="rejected malformed message"`
	wkEventually(t, 30*time.Second, "every malformed message to be processed", func() bool {
		return wkQueueLen(t, e, "celery") == 0 && wkLogCount(p.Log(), rejected) >= bad
	})
	if n := wkLogCount(p.Log(), rejected); n != bad {
		t.Errorf("%d lines %s, want one per malformed message (%d)", n, rejected, bad)
	}
	if u := wkUnacked(t, e); len(u) != 0 {
		t.Errorf("%d messages left in unacked", len(u))
		for tag, v := range u {
			t.Logf("unacked %s: %.200s", tag, v)
		}
	}
	if n := wkInt(t, e, "ZCARD", "unacked_index"); n != 0 {
		t.Errorf("%d entries left in unacked_index", n)
	}
	if n := wkLogCount(p.Log(), "unregistered"); n != 0 {
		t.Errorf("%d malformed messages were taken for unknown tasks", n)
	}
	if t.Failed() {
		t.Logf("kinds of malformed messages: %v", kinds)
	}

	t.Run("alive", func(t *testing.T) {
		if p.Wait(0) {
			t.Fatalf("worker exited:\n%s", p.Log())
		}
		r := pyGet(t, e.URL, pySend(t, e.URL, "tasks.add", "--args", "[40, 2]"))
		if r.State != "SUCCESS" || r.Result != 42.0 {
			t.Errorf("after the garbage: %s %v", r.State, r.Result)
		}
	})

	t.Run("extreme_but_valid", func(t *testing.T) {
		// Not malformed, as Celery sees them: an ETA in year 9999 is held
		// (unacknowledged) like any ETA, and a time limit of 1e300 s means
		// no practical limit.
		far, _ := e.Client.BuildMessage("tasks.add", celery.Args(1, 1), celery.ETA(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)))
		huge, _ := e.Client.BuildMessage("tasks.add", celery.Args(2, 2))
		farBody, err := celery.EncodeMessage(far)
		if err != nil {
			t.Fatal(err)
		}
		env, h, _ := wkEnvelope(0)
		h["id"], h["root_id"], h["timelimit"] = huge.ID, huge.ID, []any{1e300, 1e300}
		env["properties"].(map[string]any)["delivery_tag"] = "tag-huge-timelimit"
		e.Redis.Do(t, "LPUSH", "celery", farBody, wkJSON(env))
		if m := wkWaitReady(t, e, 30*time.Second, []string{huge.ID})[huge.ID]; m.Status != celery.StateSuccess {
			t.Errorf("timelimit [1e300, 1e300]: %s %v", m.Status, m.Result)
		}
		wkEventually(t, 10*time.Second, "the year-9999 ETA task to be held in unacked", func() bool { return wkUnackedHas(t, e, far.ID) })
		if st := wkMeta(t, e, far.ID).Status; st != celery.StatePending {
			t.Errorf("year-9999 ETA task is %s", st)
		}
		if p.Wait(0) {
			t.Fatalf("worker exited:\n%s", p.Log())
		}
		// Forget it so the unknown-task check below sees an empty unacked.
		// The worker records it under a tag of its own, not the envelope's.
		for tag, entry := range wkUnacked(t, e) {
			if strings.Contains(entry, far.ID) {
				e.Redis.Do(t, "HDEL", "unacked", tag)
				e.Redis.Do(t, "ZREM", "unacked_index", tag)
			}
		}
	})

	t.Run("unknown_task", func(t *testing.T) {
		id := pySend(t, e.URL, "tasks.no_such_task", "--args", "[1]")
		r := pyGet(t, e.URL, id)
		if r.State != "FAILURE" {
			t.Fatalf("state %s, want FAILURE", r.State)
		}
		if exc := wkExc(t, r); exc.Type != "NotRegistered" || exc.Module != "celery.exceptions" {
			t.Errorf("exception %+v, want celery.exceptions.NotRegistered", exc)
		}
		m := wkMeta(t, e, id)
		wkEqual(t, "exc_message", m.Result.(map[string]any)["exc_message"], []any{"tasks.no_such_task"})
		if m.Traceback != "" {
			t.Errorf("traceback %q, want null as Celery", m.Traceback)
		}
		if q, u := wkQueueLen(t, e, "celery"), len(wkUnacked(t, e)); q != 0 || u != 0 {
			t.Errorf("message not gone: %d queued, %d unacked", q, u)
		}
		if n := wkLogCount(p.Log(), id); n != 1 {
			t.Errorf("%d log lines name the unknown task's id, want 1", n)
		}
	})
}

// TestWorkerWarmShutdown: SIGTERM lets running tasks finish and puts the
// prefetched and ETA-held messages back on the queue; a second worker
// completes them, each exactly once.
func TestWorkerWarmShutdown(t *testing.T) {
	e := newEnv(t)
	w1 := startBinary(t, "worker ready", "worker", "--broker", e.URL, "-c", "2", "--prefetch-multiplier", "2", "-n", "go-warm1@celeriac", "--result-extended")
	items := []wkSend{{Name: "tasks.echo", Args: []any{"eta"}, Options: map[string]any{"countdown": 6}}}
	for i := range 6 {
		items = append(items, wkSend{Name: "tasks.sleep", Args: []any{2}, Options: map[string]any{"task_id": fmt.Sprintf("warm-%d-%d", i, time.Now().UnixNano())}})
	}
	sent := time.Now()
	ids := wkRawPublish(t, e.URL, items...)
	// As in Celery, the window (2 × 2) counts unacknowledged messages: the
	// 2 running tasks were acknowledged when they started, 4 more are
	// reserved, and the ETA task raises the window by one. The queue is
	// empty and 5 messages are unacknowledged.
	wkEventually(t, 10*time.Second, "the worker to fill its prefetch window", func() bool {
		return wkQueueLen(t, e, "celery") == 0 && len(wkUnacked(t, e)) == 5
	})
	w1.Signal(syscall.SIGTERM)
	if !w1.Wait(20 * time.Second) {
		t.Fatalf("worker did not exit after SIGTERM:\n%s", w1.Log())
	}
	if q, u := wkQueueLen(t, e, "celery"), len(wkUnacked(t, e)); q != 5 || u != 0 {
		t.Errorf("after the warm shutdown: %d queued, %d unacked; want 5 and 0", q, u)
	}
	raws, err := redis.Strings(e.Redis.Do(t, "LRANGE", "celery", 0, -1), nil)
	if err != nil {
		t.Fatal(err)
	}
	redelivered := 0
	for _, r := range raws {
		if strings.Contains(r, `"redelivered": true`) {
			redelivered++
		}
	}
	if redelivered != 5 {
		t.Errorf("%d restored messages marked redelivered, want 5", redelivered)
	}
	first := 0
	for _, id := range ids {
		if m := wkMeta(t, e, id); m.Status == celery.StateSuccess {
			first++
			if m.Worker != "go-warm1@celeriac" {
				t.Errorf("%s done by %q", id, m.Worker)
			}
		}
	}
	if first != 2 {
		t.Errorf("%d tasks finished by the first worker, want the 2 running ones", first)
	}

	w2 := startBinary(t, "worker ready", "worker", "--broker", e.URL, "-c", "4", "-n", "go-warm2@celeriac", "--result-extended")
	metas := wkWaitReady(t, e, 30*time.Second, ids)
	for _, id := range ids {
		if metas[id].Status != celery.StateSuccess {
			t.Errorf("%s: %s", id, metas[id].Status)
		}
	}
	if d := metas[ids[0]].DateDone.Sub(sent); d < 6*time.Second {
		t.Errorf("ETA task ran %v after sending, before its countdown of 6 s", d)
	}
	// Exactly once across both workers (the second logs "succeeded" right
	// after storing the result).
	var runs1, runs2 map[string]int
	wkEventually(t, 10*time.Second, "the success log lines", func() bool {
		runs1, runs2 = wkSucceeded(w1.Log()), wkSucceeded(w2.Log())
		return len(runs1)+len(runs2) >= len(ids)
	})
	for _, id := range ids {
		if n := runs1[id] + runs2[id]; n != 1 {
			t.Errorf("%s ran %d times", id, n)
		}
	}
	if q, u := wkQueueLen(t, e, "celery"), len(wkUnacked(t, e)); q != 0 || u != 0 {
		t.Errorf("at the end: %d queued, %d unacked", q, u)
	}
}
