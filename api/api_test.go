package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/redistest"
	"github.com/celeriac/celeriac/internal/testtasks"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

// quiet discards the logs of passing tests.
var quiet = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

// fixture is an API over a private redis-server.
type fixture struct {
	t      *testing.T
	redis  *redistest.Server
	client *celery.Client
	engine *gin.Engine
}

func newFixture(t *testing.T, deps Deps, opts ...Option) *fixture {
	t.Helper()
	srv := redistest.Start(t)
	c, err := credis.NewClient(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	deps.Client = c
	opts = append([]Option{WithLogger(quiet), WithAllowedTasks("tasks.add", "tasks.fail", "test.progress")}, opts...)
	return &fixture{t: t, redis: srv, client: c, engine: newEngine(deps, opts...)}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startWorker runs a Go worker (built-in tasks plus register's) until the
// test ends.
func (f *fixture) startWorker(register func(*worker.ServeMux)) {
	f.t.Helper()
	broker, err := credis.NewBroker(f.redis.URL(0))
	if err != nil {
		f.t.Fatal(err)
	}
	backend := credis.NewBackendOn(broker)
	mux := worker.NewServeMux()
	builtin.Register(mux)
	testtasks.Register(mux, broker)
	if register != nil {
		register(mux)
	}
	w := worker.New(broker, backend, mux, worker.WithTrackStarted(true), worker.WithConcurrency(4),
		worker.WithShutdownTimeout(2*time.Second), worker.WithLogger(quiet))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("worker.Run: %v", err)
		}
		backend.Close()
		broker.Close()
	})
}

// do performs one request against the engine.
func (f *fixture) do(method, target, body string, header ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(testCtx(f.t), method, target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.engine.ServeHTTP(w, req)
	return w
}

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", w.Body.String(), err)
	}
	return m
}

func TestOriginalEndpointsWithGoWorker(t *testing.T) {
	f := newFixture(t, Deps{})
	f.startWorker(nil)

	w := f.do("GET", "/run-task/?duration=0", "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /run-task/?duration=0 = %d %s", w.Code, w.Body)
	}
	sent := decode(t, w)
	id, _ := sent["task_id"].(string)
	if _, err := uuid.Parse(id); err != nil || sent["status"] != "Task submitted" {
		t.Fatalf("GET /run-task/ = %v, want a uuid task_id and status Task submitted", sent)
	}

	w = f.do("GET", "/api/v1/tasks/"+id+"?wait=10s", "")
	if got := decode(t, w); got["state"] != "SUCCESS" {
		t.Fatalf("GET /api/v1/tasks/%s?wait=10s = %v", id, got)
	}
	w = f.do("GET", "/task-status/"+id, "")
	want := map[string]any{"status": "SUCCESS", "result": "Task completed in 0 seconds!"}
	if diff := cmp.Diff(want, decode(t, w)); diff != "" || w.Code != 200 {
		t.Errorf("GET /task-status/%s = %d (-want +got):\n%s", id, w.Code, diff)
	}

	// An unknown id is PENDING, as in Celery.
	w = f.do("GET", "/task-status/"+uuid.NewString(), "")
	if diff := cmp.Diff(map[string]any{"status": "PENDING"}, decode(t, w)); diff != "" {
		t.Errorf("unknown id (-want +got):\n%s", diff)
	}
}

func TestFailureShowsError(t *testing.T) {
	f := newFixture(t, Deps{})
	f.startWorker(nil)
	w := f.do("POST", "/api/v1/tasks/tasks.fail", `{"args": ["boom"]}`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST tasks.fail = %d %s", w.Code, w.Body)
	}
	id := decode(t, w)["id"].(string)
	got := decode(t, f.do("GET", "/api/v1/tasks/"+id+"?wait=10", ""))
	if got["state"] != "FAILURE" || got["traceback"] == nil || got["date_done"] == nil {
		t.Fatalf("GET failed task = %v", got)
	}
	wantErr := map[string]any{"type": "ValueError", "module": "builtins", "message": "boom"}
	if diff := cmp.Diff(wantErr, got["error"]); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	st := decode(t, f.do("GET", "/task-status/"+id, ""))
	if diff := cmp.Diff(map[string]any{"status": "FAILURE", "error": wantErr}, st); diff != "" {
		t.Errorf("/task-status of a failure (-want +got):\n%s", diff)
	}
}

// nested returns n levels of nested JSON arrays around 1.
func nested(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }

// TestArgsTheWorkerWouldRefuse: lone surrogates and args nested deeper
// than a worker decodes get a 422, not a 202 and a DecodeError later; the
// deepest accepted args run on a real worker without a DecodeError.
func TestArgsTheWorkerWouldRefuse(t *testing.T) {
	f := newFixture(t, Deps{})
	f.startWorker(nil)
	for _, tc := range []struct {
		name, body string
		status     int
		detailType string
	}{
		{"lone high surrogate", `{"args": ["\ud800", 1]}`, 422, "string_unicode"},
		{"lone low surrogate in kwargs", `{"kwargs": {"x": "a\udc00b"}}`, 422, "string_unicode"},
		{"high surrogate without its low half", `{"args": ["\ud83d\u0041"]}`, 422, "string_unicode"},
		{"surrogate pair", `{"args": ["\ud83d\ude00", "x"]}`, 202, ""},
		{"args too deep", `{"args": [` + nested(maxArgsDepth) + `]}`, 422, "value_error"},
		{"kwargs too deep", `{"kwargs": {"x": ` + nested(maxArgsDepth) + `}}`, 422, "value_error"},
		{"brackets in strings do not count", `{"args": ["` + strings.Repeat("[", 2000) + `", "x"]}`, 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do("POST", "/api/v1/tasks/tasks.add", tc.body)
			if w.Code != tc.status {
				t.Fatalf("POST %.80s = %d %s, want %d", tc.body, w.Code, w.Body, tc.status)
			}
			if tc.detailType == "" {
				return
			}
			d := decode(t, w)["detail"].([]any)[0].(map[string]any)
			if d["type"] != tc.detailType || d["msg"] == "" {
				t.Errorf("detail = %v, want type %s", d, tc.detailType)
			}
		})
	}
	// The deepest args accepted: the worker decodes the message and runs
	// the task (tasks.add of one list and 1 fails with a TypeError, not a
	// DecodeError).
	w := f.do("POST", "/api/v1/tasks/tasks.add", `{"args": [`+nested(maxArgsDepth-1)+`, 1]}`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST args of depth %d = %d %s", maxArgsDepth, w.Code, w.Body)
	}
	got := decode(t, f.do("GET", "/api/v1/tasks/"+decode(t, w)["id"].(string)+"?wait=10s", ""))
	if e, _ := got["error"].(map[string]any); got["state"] != "FAILURE" || e["type"] != "TypeError" {
		t.Errorf("task with args of depth %d = %v, want a TypeError FAILURE (not a DecodeError)", maxArgsDepth, got)
	}
}

// TestMaxDurationGenericEndpoint: --max-duration guards the built-in tasks
// that sleep on the generic endpoint too, by position or keyword.
func TestMaxDurationGenericEndpoint(t *testing.T) {
	f := newFixture(t, Deps{}, WithMaxDuration(60), WithAllowedTasks("tasks.sleep", "tasks.sample_task"))
	for _, tc := range []struct {
		task, body string
		status     int
		detailType string
	}{
		{"tasks.sleep", `{"args": [100000]}`, 422, "less_than_equal"},
		{"tasks.sample_task", `{"args": [61]}`, 422, "less_than_equal"},
		{"tasks.sample_task", `{"kwargs": {"duration": 60.5}}`, 422, "less_than_equal"},
		{"tasks.sleep", `{"kwargs": {"seconds": 1e400}}`, 422, "less_than_equal"},
		{"tasks.sleep", `{"args": [Infinity]}`, 422, ""}, // not JSON: json_invalid
		{"tasks.sleep", `{"args": [NaN]}`, 422, ""},
		{"tasks.sleep", `{"args": [-1]}`, 422, "greater_than_equal"},
		{"tasks.sleep", `{"args": [60]}`, 202, ""},
		{"tasks.sample_task", `{"kwargs": {"duration": 0.5}}`, 202, ""},
		{"tasks.sleep", `{"args": ["soon"]}`, 202, ""}, // the task's TypeError
		{"tasks.add", `{"args": [100000, 1]}`, 202, ""},
	} {
		w := f.do("POST", "/api/v1/tasks/"+tc.task, tc.body)
		if w.Code != tc.status {
			t.Errorf("POST %s %s = %d %s, want %d", tc.task, tc.body, w.Code, w.Body, tc.status)
			continue
		}
		if tc.detailType != "" {
			d := decode(t, w)["detail"].([]any)[0].(map[string]any)
			if d["type"] != tc.detailType || len(d["loc"].([]any)) != 3 {
				t.Errorf("POST %s %s: detail = %v, want type %s", tc.task, tc.body, d, tc.detailType)
			}
		}
	}
}

// TestMaxResultBytes: a stored result over the bound is not read from
// Redis nor sent back: 413 with a JSON reason on every route that shows
// results, an error event on the event stream.
func TestMaxResultBytes(t *testing.T) {
	f := newFixture(t, Deps{}, WithMaxResultBytes(4096))
	store := func(result string) string {
		id := uuid.NewString()
		if _, err := f.client.Results().Store(testCtx(t), &celery.ResultMeta{TaskID: id, Status: celery.StateSuccess, Result: result}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	small, big := store("ok"), store(strings.Repeat("A", 5000))
	for _, target := range []string{"/api/v1/tasks/" + small, "/api/v1/tasks/" + small + "?wait=1s", "/task-status/" + small} {
		if w := f.do("GET", target, ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"ok"`) {
			t.Errorf("GET %s = %d %s", target, w.Code, w.Body)
		}
	}
	for _, target := range []string{"/api/v1/tasks/" + big, "/api/v1/tasks/" + big + "?wait=1s", "/task-status/" + big} {
		w := f.do("GET", target, "")
		detail, _ := decode(t, w)["detail"].(string)
		if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(detail, "4096") || len(w.Body.String()) > 1000 {
			t.Errorf("GET %s = %d %.200s, want 413 with a reason", target, w.Code, w.Body)
		}
	}
	w := f.do("GET", "/api/v1/tasks/"+big+"/events", "")
	if body := w.Body.String(); !strings.Contains(body, "event: error") || !strings.Contains(body, "--max-result-bytes") || strings.Contains(body, "AAAA") {
		t.Errorf("event stream of a result over the bound:\n%.300s", body)
	}
	// A result published while a client waits is measured too.
	late := uuid.NewString()
	stored := make(chan struct{})
	go func() {
		defer close(stored)
		time.Sleep(200 * time.Millisecond)
		f.client.Results().Store(context.Background(), &celery.ResultMeta{TaskID: late, Status: celery.StateSuccess, Result: strings.Repeat("B", 5000)})
	}()
	if w := f.do("GET", "/api/v1/tasks/"+late+"?wait=10s", ""); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("wait for a result over the bound = %d %.200s, want 413", w.Code, w.Body)
	}
	<-stored
}

func TestSendTaskOptionsAndQueues(t *testing.T) {
	f := newFixture(t, Deps{})
	id := uuid.NewString()
	w := f.do("POST", "/api/v1/tasks/tasks.add",
		`{"args": [2, 18446744073709551616], "kwargs": {}, "queue": "other", "priority": 6, "task_id": "`+id+`", "countdown": 0.5, "expires": 60}`)
	if w.Code != http.StatusAccepted || w.Header().Get("Location") != "/api/v1/tasks/"+id {
		t.Fatalf("POST = %d %s, Location %q", w.Code, w.Body, w.Header().Get("Location"))
	}
	got := decode(t, f.do("GET", "/api/v1/queues?queue=other&queue=celery", ""))
	want := map[string]any{"queues": []any{
		map[string]any{"name": "other", "messages": 1.0, "priorities": map[string]any{"0": 0.0, "3": 0.0, "6": 1.0, "9": 0.0}, "paused": false},
		map[string]any{"name": "celery", "messages": 0.0, "priorities": map[string]any{"0": 0.0, "3": 0.0, "6": 0.0, "9": 0.0}, "paused": false},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /api/v1/queues (-want +got):\n%s", diff)
	}
	// The message carries the big integer as an integer.
	raw := f.redis.Do(t, "LINDEX", "other\x06\x166", 0)
	env, _ := raw.([]byte)
	m, err := celery.DecodeMessage(env)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != id || m.Task != "tasks.add" || len(m.Args) != 2 || pyString(m.Args[1]) != "18446744073709551616" || m.ETA.IsZero() || m.Expires.IsZero() {
		t.Errorf("sent message = %+v", m)
	}
}

func pyString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, Deps{}, WithMaxDuration(60), WithMaxBodyBytes(256))
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name, method, target, body, ctype string
		status                            int
		detailType                        string // for 422: detail[0].type
	}{
		{"duration missing", "GET", "/run-task/", "", "", 422, "missing"},
		{"duration not an int", "GET", "/run-task/?duration=abc", "", "", 422, "int_parsing"},
		{"duration float", "GET", "/run-task/?duration=1.5", "", "", 422, "int_parsing"},
		{"duration negative", "GET", "/run-task/?duration=-1", "", "", 422, "greater_than_equal"},
		{"duration above max", "GET", "/run-task/?duration=61", "", "", 422, "less_than_equal"},
		{"status bad id", "GET", "/task-status/bad%20id", "", "", 422, "string_pattern_mismatch"},
		{"status id too long", "GET", "/task-status/" + long, "", "", 422, "string_pattern_mismatch"},
		{"v1 bad id", "GET", "/api/v1/tasks/a%3Bb", "", "", 422, "string_pattern_mismatch"},
		{"v1 bad wait", "GET", "/api/v1/tasks/abc?wait=soon", "", "", 422, "duration_parsing"},
		{"v1 wait too long", "GET", "/api/v1/tasks/abc?wait=1h", "", "", 422, "value_error"},
		{"events bad id", "GET", "/api/v1/tasks/a%20b/events", "", "", 422, "string_pattern_mismatch"},
		{"revoke bad terminate", "DELETE", "/api/v1/tasks/abc?terminate=maybe", "", "", 422, "bool_parsing"},
		{"revoke bad signal", "DELETE", "/api/v1/tasks/abc?signal=kill", "", "", 422, "value_error"},
		{"queues bad name", "GET", "/api/v1/queues?queue=a%20b", "", "", 422, "string_pattern_mismatch"},
		{"task not allowed", "POST", "/api/v1/tasks/os.system", `{}`, "application/json", 404, ""},
		{"task name any string", "POST", "/api/v1/tasks/nope", "", "", 404, ""},
		{"body not json", "POST", "/api/v1/tasks/tasks.add", `args=1`, "application/x-www-form-urlencoded", 415, ""},
		{"body too large", "POST", "/api/v1/tasks/tasks.add", `{"args": ["` + long + `"]}`, "application/json", 413, ""},
		{"body malformed", "POST", "/api/v1/tasks/tasks.add", `{"args": [`, "application/json", 422, "json_invalid"},
		{"body unknown field", "POST", "/api/v1/tasks/tasks.add", `{"argz": []}`, "application/json", 422, "extra_forbidden"},
		{"args not a list", "POST", "/api/v1/tasks/tasks.add", `{"args": {"x": 1}}`, "application/json", 422, "list_type"},
		{"kwargs not a dict", "POST", "/api/v1/tasks/tasks.add", `{"kwargs": [1]}`, "application/json", 422, "dict_type"},
		{"priority out of range", "POST", "/api/v1/tasks/tasks.add", `{"priority": 10}`, "application/json", 422, "value_error"},
		{"priority wrong type", "POST", "/api/v1/tasks/tasks.add", `{"priority": "high"}`, "application/json", 422, "type_error"},
		{"countdown negative", "POST", "/api/v1/tasks/tasks.add", `{"countdown": -1}`, "application/json", 422, "value_error"},
		{"eta not a time", "POST", "/api/v1/tasks/tasks.add", `{"eta": "tomorrow"}`, "application/json", 422, "datetime_parsing"},
		{"expires zero", "POST", "/api/v1/tasks/tasks.add", `{"expires": 0}`, "application/json", 422, "value_error"},
		{"bad queue", "POST", "/api/v1/tasks/tasks.add", `{"queue": "a b"}`, "application/json", 422, "string_pattern_mismatch"},
		{"bad task_id", "POST", "/api/v1/tasks/tasks.add", `{"task_id": ""}`, "application/json", 422, "string_pattern_mismatch"},
		{"trailing data", "POST", "/api/v1/tasks/tasks.add", `{} {}`, "application/json", 422, "json_invalid"},
		{"unknown route", "GET", "/nope", "", "", 404, ""},
		{"method not allowed", "PUT", "/run-task/", "", "", 405, ""},
		{"revoke not configured", "DELETE", "/api/v1/tasks/abc", "", "", 501, ""},
		{"workers not configured", "GET", "/api/v1/workers", "", "", 501, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader
			if tc.body != "" {
				r = strings.NewReader(tc.body)
			}
			req := httptest.NewRequestWithContext(testCtx(t), tc.method, tc.target, r)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			w := httptest.NewRecorder()
			f.engine.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.target, w.Code, w.Body, tc.status)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			body := decode(t, w)
			if tc.detailType == "" {
				if s, ok := body["detail"].(string); !ok || s == "" {
					t.Errorf("body = %v, want a detail string", body)
				}
				return
			}
			details, _ := body["detail"].([]any)
			if len(details) != 1 {
				t.Fatalf("body = %v, want one field error", body)
			}
			d := details[0].(map[string]any)
			if d["type"] != tc.detailType || d["msg"] == "" || len(d["loc"].([]any)) < 1 {
				t.Errorf("detail = %v, want type %q", d, tc.detailType)
			}
		})
	}
}

func TestFastAPIErrorShape(t *testing.T) {
	f := newFixture(t, Deps{})
	w := f.do("GET", "/run-task/", "")
	want := map[string]any{"detail": []any{map[string]any{
		"type": "missing", "loc": []any{"query", "duration"}, "msg": "Field required", "input": nil,
	}}}
	if diff := cmp.Diff(want, decode(t, w)); diff != "" {
		t.Errorf("missing duration (-want +got):\n%s", diff)
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t, Deps{}, WithToken("s3cret"))
	for _, tc := range []struct {
		target, auth string
		status       int
	}{
		{"/run-task/?duration=0", "", 401},
		{"/run-task/?duration=0", "Bearer nope", 401},
		{"/run-task/?duration=0", "Basic s3cret", 401},
		{"/run-task/?duration=0", "Bearer s3cret", 200},
		{"/api/v1/queues", "", 401},
		{"/metrics", "", 401},
		{"/nope", "", 401},
		{"/nope", "Bearer s3cret", 404},
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/openapi.json", "", 200},
		{"/docs", "", 200},
	} {
		w := f.do("GET", tc.target, "", "Authorization", tc.auth)
		if w.Code != tc.status {
			t.Errorf("GET %s with %q = %d, want %d", tc.target, tc.auth, w.Code, tc.status)
		}
		if w.Code == 401 && (w.Header().Get("WWW-Authenticate") != "Bearer" || decode(t, w)["detail"] == nil) {
			t.Errorf("GET %s: 401 without WWW-Authenticate or JSON detail", tc.target)
		}
	}
}

func TestLongPollTimesOutWithCurrentState(t *testing.T) {
	f := newFixture(t, Deps{})
	start := time.Now()
	got := decode(t, f.do("GET", "/api/v1/tasks/"+uuid.NewString()+"?wait=200ms", ""))
	if got["state"] != "PENDING" {
		t.Errorf("wait on an unknown task = %v, want PENDING", got)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("wait took %v, want about 200ms", d)
	}
}

func TestShutdownEndsWaits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixture(t, Deps{}, WithShutdown(ctx))
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- f.do("GET", "/api/v1/tasks/abc?wait=50s", "") }()
	// The wait is subscribed or about to be; either way cancel ends it.
	cancel()
	select {
	case w := <-done:
		if w.Code != 200 || decode(t, w)["state"] != "PENDING" {
			t.Errorf("wait after shutdown = %d %s", w.Code, w.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not end at shutdown")
	}
}

type fakeRevoker struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (r *fakeRevoker) Revoke(_ context.Context, ids []string, terminate bool, signal string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, strings.Join(ids, ",")+" "+signal+" "+map[bool]string{true: "terminate", false: "keep"}[terminate])
	return r.err
}

type fakeWorkers []WorkerInfo

func (f fakeWorkers) Workers(context.Context) ([]WorkerInfo, error) { return f, nil }

func TestRevokeAndWorkers(t *testing.T) {
	rv := &fakeRevoker{}
	f := newFixture(t, Deps{Revoker: rv, Workers: fakeWorkers{{Hostname: "celery@a", Online: true, Active: 1, Processed: 7}}})
	w := f.do("DELETE", "/api/v1/tasks/abc?terminate=true&signal=SIGKILL", "")
	want := map[string]any{"id": "abc", "revoked": true, "terminate": true, "signal": "SIGKILL"}
	if diff := cmp.Diff(want, decode(t, w)); diff != "" || w.Code != 202 {
		t.Errorf("DELETE = %d (-want +got):\n%s", w.Code, diff)
	}
	f.do("DELETE", "/api/v1/tasks/def", "")
	if diff := cmp.Diff([]string{"abc SIGKILL terminate", "def SIGTERM keep"}, rv.calls); diff != "" {
		t.Errorf("Revoke calls (-want +got):\n%s", diff)
	}
	rv.err = errors.New("boom")
	if w := f.do("DELETE", "/api/v1/tasks/ghi", ""); w.Code != 500 || decode(t, w)["detail"] != "internal server error" {
		t.Errorf("DELETE with a failing revoker = %d %s", w.Code, w.Body)
	}
	got := decode(t, f.do("GET", "/api/v1/workers", ""))
	wantW := map[string]any{"workers": []any{map[string]any{"hostname": "celery@a", "online": true, "active": 1.0, "processed": 7.0}}}
	if diff := cmp.Diff(wantW, got); diff != "" {
		t.Errorf("GET /api/v1/workers (-want +got):\n%s", diff)
	}
}

func TestReadyzBrokerDown(t *testing.T) {
	f := newFixture(t, Deps{})
	if w := f.do("GET", "/readyz", ""); w.Code != 200 {
		t.Fatalf("/readyz = %d %s", w.Code, w.Body)
	}
	f.redis.Stop()
	for _, target := range []string{"/readyz", "/run-task/?duration=1", "/task-status/abc"} {
		w := f.do("GET", target, "")
		if w.Code != 503 || decode(t, w)["detail"] == nil {
			t.Errorf("GET %s with the broker down = %d %s, want 503", target, w.Code, w.Body)
		}
	}
	if w := f.do("GET", "/healthz", ""); w.Code != 200 {
		t.Errorf("/healthz = %d", w.Code)
	}
}

// TestReadyzOneLogLine: a failed readiness probe logs one line (the
// request log's, with the cause), not three.
func TestReadyzOneLogLine(t *testing.T) {
	var logs bytes.Buffer
	f := newFixture(t, Deps{}, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	f.redis.Stop()
	logs.Reset()
	if w := f.do("GET", "/readyz", ""); w.Code != 503 {
		t.Fatalf("/readyz = %d", w.Code)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "status=503") || !strings.Contains(logs.String(), "broker unreachable: ") {
		t.Errorf("one failed /readyz logged %d lines, want 1 with the cause:\n%s", n, logs.String())
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, Deps{})
	f.do("GET", "/run-task/?duration=1", "")
	f.do("GET", "/run-task/?duration=x", "")
	f.do("POST", "/api/v1/tasks/tasks.add", `{"args": [1, 2]}`)
	body := f.do("GET", "/metrics", "").Body.String()
	for _, want := range []string{
		`celeriac_api_requests_total{method="GET",route="/run-task/",status="200"} 1`,
		`celeriac_api_requests_total{method="GET",route="/run-task/",status="422"} 1`,
		`celeriac_api_requests_total{method="POST",route="/api/v1/tasks/:task",status="202"} 1`,
		`celeriac_api_tasks_submitted_total{task="tasks.sample_task"} 1`,
		`celeriac_api_tasks_submitted_total{task="tasks.add"} 1`,
		`celeriac_api_request_duration_seconds_bucket{method="GET",route="/run-task/",le="+Inf"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestMetricsLabelsBounded sends 1000 requests with odd methods and
// paths, unauthenticated: the request metrics keep a bounded number of
// series (the odd ones collapse to method "other", route "unmatched").
func TestMetricsLabelsBounded(t *testing.T) {
	f := newFixture(t, Deps{}, WithToken("s3cret"))
	for i := range 1000 {
		method := "M" + strconv.Itoa(i)
		for _, target := range []string{"/run-task/", "/nope/" + strconv.Itoa(i), "/api/v1/tasks/x" + strconv.Itoa(i)} {
			if w := f.do(method, target, ""); w.Code < 400 {
				t.Fatalf("%s %s = %d", method, target, w.Code)
			}
		}
	}
	f.do("GET", "/run-task/?duration=1", "")
	body := f.do("GET", "/metrics", "", "Authorization", "Bearer s3cret").Body.String()
	// route × method × status: a handful, not thousands.
	for _, name := range []string{"celeriac_api_requests_total{", "celeriac_api_request_duration_seconds_count{"} {
		if n := strings.Count(body, "\n"+name); n > 10 {
			t.Errorf("%s has %d series after 3000 odd requests, want a handful", strings.TrimSuffix(name, "{"), n)
		}
	}
	for _, want := range []string{
		`celeriac_api_requests_total{method="other",route="unmatched",status="401"} 1000`,
		`celeriac_api_requests_total{method="other",route="unmatched",status="405"} 2000`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestMetricLabels(t *testing.T) {
	for _, tc := range []struct {
		route, method string
		status        int
		want          [3]string
	}{
		{"/run-task/", "GET", 200, [3]string{"/run-task/", "GET", "200"}},
		{"", "BREW", 404, [3]string{"unmatched", "other", "404"}},
		{"/healthz", "get", 405, [3]string{"/healthz", "other", "405"}},
		{"/healthz", "HEAD", 1000, [3]string{"/healthz", "HEAD", "0"}},
	} {
		r, m, s := metricLabels(tc.route, tc.method, tc.status)
		if got := [3]string{r, m, s}; got != tc.want {
			t.Errorf("metricLabels(%q, %q, %d) = %v, want %v", tc.route, tc.method, tc.status, got, tc.want)
		}
	}
}

func TestPanicRecovered(t *testing.T) {
	f := newFixture(t, Deps{})
	f.engine.GET("/panic", func(*gin.Context) { panic("oops") })
	w := f.do("GET", "/panic", "")
	if w.Code != 500 || decode(t, w)["detail"] != "internal server error" {
		t.Errorf("panic = %d %s", w.Code, w.Body)
	}
}

func TestDocsPage(t *testing.T) {
	f := newFixture(t, Deps{})
	w := f.do("GET", "/docs", "")
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `fetch("openapi.json")`) || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("/docs = %d, want a self-contained page loading openapi.json", w.Code)
	}
	// The page shows each operation's request body and response schemas.
	for _, want := range []string{"op.requestBody", "op.responses", "schemaBlock(doc, title"} {
		if !strings.Contains(body, want) {
			t.Errorf("/docs does not render schemas (no %q)", want)
		}
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	event string
	data  taskView
	meta  map[string]any
}

func readEvent(t *testing.T, sc *bufio.Scanner) (sseEvent, bool) {
	t.Helper()
	var ev sseEvent
	seen := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if seen {
				return ev, true
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			ev.event, seen = strings.TrimPrefix(line, "event: "), true
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			if err := json.Unmarshal(data, &ev.data); err != nil {
				t.Fatalf("event data %s: %v", data, err)
			}
			ev.meta, _ = ev.data.Meta.(map[string]any)
			seen = true
		}
	}
	return ev, false
}

// TestEventsStream follows a task through PENDING, STARTED, two PROGRESS
// states and SUCCESS. The task waits for the test at each step, so no
// state can be coalesced.
func TestEventsStream(t *testing.T) {
	f := newFixture(t, Deps{})
	step := make(chan struct{})
	f.startWorker(func(mux *worker.ServeMux) {
		mux.HandleFunc("test.progress", func(ctx context.Context, _ *worker.Task) (any, error) {
			for i := 1; i <= 3; i++ {
				select {
				case <-step:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				if i == 3 {
					break
				}
				if err := worker.UpdateState(ctx, "PROGRESS", map[string]any{"current": i, "total": 2}); err != nil {
					return nil, err
				}
			}
			return "done", nil
		})
	})
	srv := httptest.NewServer(f.engine)
	defer srv.Close()
	ctx := testCtx(t)
	id := uuid.NewString()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/tasks/"+id+"/events", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("events = %d %q", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	expect := func(state string, current float64) {
		t.Helper()
		ev, ok := readEvent(t, sc)
		if !ok || ev.event != "state" || string(ev.data.State) != state || ev.data.ID != id {
			t.Fatalf("event = %+v (ok %v), want state %s", ev, ok, state)
		}
		if current > 0 && ev.meta["current"] != current {
			t.Fatalf("PROGRESS meta = %v, want current %v", ev.meta, current)
		}
	}
	expect("PENDING", 0)
	if w := f.do("POST", "/api/v1/tasks/test.progress", `{"task_id": "`+id+`"}`); w.Code != 202 {
		t.Fatalf("POST = %d %s", w.Code, w.Body)
	}
	expect("STARTED", 0)
	step <- struct{}{}
	expect("PROGRESS", 1)
	step <- struct{}{}
	expect("PROGRESS", 2)
	step <- struct{}{}
	ev, ok := readEvent(t, sc)
	if !ok || ev.data.State != "SUCCESS" || ev.data.Result != "done" {
		t.Fatalf("last event = %+v, want SUCCESS done", ev)
	}
	if ev, ok := readEvent(t, sc); ok {
		t.Fatalf("stream continued after SUCCESS: %+v", ev)
	}
}

func TestEventsStreamEndsAtShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixture(t, Deps{}, WithShutdown(ctx), WithKeepAlive(10*time.Millisecond))
	srv := httptest.NewServer(f.engine)
	defer srv.Close()
	req, _ := http.NewRequestWithContext(testCtx(t), "GET", srv.URL+"/api/v1/tasks/abc/events", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if ev, ok := readEvent(t, sc); !ok || ev.data.State != "PENDING" {
		t.Fatalf("first event = %+v", ev)
	}
	// Keep-alive comments flow while idle.
	for sc.Scan() && sc.Text() != ": keep-alive" {
	}
	cancel()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
}
