package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/duration"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// sampleTask is the original FastAPI stack's task: tasks.sample_task(duration).
const sampleTask = "tasks.sample_task"

// maxIDLen bounds task ids, queue names and task names.
const maxIDLen = 255

// validName reports whether s is a usable task id, task name or queue
// name: 1–255 characters from [A-Za-z0-9._:@+-]. UUIDs, Celery's default
// ids, always are; what is refused (spaces, slashes, control characters)
// could not have come from a well-behaved client.
func validName(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '@' || c == '+' || c == '-':
		default:
			return false
		}
	}
	return true
}

func taskIDParam(c *gin.Context, name string) (string, error) {
	id := c.Param(name)
	if !validName(id) {
		return "", invalid("string_pattern_mismatch", []any{"path", name},
			"Task id must be 1-255 characters from A-Z a-z 0-9 . _ : @ + -", id, nil)
	}
	return id, nil
}

// runTask is GET /run-task/?duration=N: tasks.sample_task.apply_async(args=[N]).
func (h *handlers) runTask(c *gin.Context) {
	raw, ok := c.GetQuery("duration")
	if !ok {
		h.fail(c, invalid("missing", []any{"query", "duration"}, "Field required", nil, nil))
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	switch {
	case err != nil:
		h.fail(c, invalid("int_parsing", []any{"query", "duration"},
			"Input should be a valid integer, unable to parse string as an integer", raw, nil))
		return
	case n < 0:
		h.fail(c, invalid("greater_than_equal", []any{"query", "duration"},
			"Input should be greater than or equal to 0", raw, map[string]any{"ge": 0}))
		return
	case n > h.o.maxDuration:
		h.fail(c, invalid("less_than_equal", []any{"query", "duration"},
			fmt.Sprintf("Input should be less than or equal to %d", h.o.maxDuration), raw, map[string]any{"le": h.o.maxDuration}))
		return
	}
	res, err := h.client.SendTask(c.Request.Context(), sampleTask, celery.Args(n))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.metrics.submitted.WithLabelValues(sampleTask).Inc()
	c.JSON(http.StatusOK, gin.H{"task_id": res.ID, "status": "Task submitted"})
}

// taskStatus is GET /task-status/{task_id}: {"status": state}, plus
// "result" on SUCCESS and "error" on FAILURE (and the other exception
// states).
func (h *handlers) taskStatus(c *gin.Context) {
	id, err := taskIDParam(c, "task_id")
	if err != nil {
		h.fail(c, err)
		return
	}
	m, err := h.client.Results().GetMax(c.Request.Context(), id, h.o.maxResult)
	if err != nil {
		h.fail(c, err)
		return
	}
	body := gin.H{"status": m.Status}
	switch {
	case m.Status == celery.StateSuccess:
		body["result"] = jsonSafe(m.Result)
	case m.Status.IsException():
		body["error"] = errorView(m)
	}
	c.JSON(http.StatusOK, body)
}

// taskView is a task's state as the v1 API shows it (and as each event
// of the event stream carries it).
type taskView struct {
	ID        string         `json:"id"`
	State     celery.State   `json:"state"`
	Result    any            `json:"result"`
	Meta      any            `json:"meta"`
	Error     *taskErrorView `json:"error"`
	Traceback *string        `json:"traceback"`
	DateDone  *string        `json:"date_done"`
}

// taskErrorView is the exception of a FAILURE, RETRY or REVOKED task.
type taskErrorView struct {
	Type    string `json:"type"`
	Module  string `json:"module,omitempty"`
	Message string `json:"message"`
}

func errorView(m *celery.ResultMeta) *taskErrorView {
	var te *celery.TaskError
	if !errors.As(m.Err(), &te) {
		return nil
	}
	return &taskErrorView{Type: te.Type, Module: te.Module, Message: te.Message()}
}

func viewOf(m *celery.ResultMeta) taskView {
	v := taskView{ID: m.TaskID, State: m.Status}
	switch {
	case m.Status == celery.StateSuccess:
		v.Result = jsonSafe(m.Result)
	case m.Status.IsException():
		v.Error = errorView(m)
	default:
		// STARTED carries {pid, hostname}; custom states their meta.
		v.Meta = jsonSafe(m.Result)
	}
	if m.Traceback != "" {
		v.Traceback = &m.Traceback
	}
	if !m.DateDone.IsZero() {
		d := celery.FormatTime(m.DateDone)
		v.DateDone = &d
	}
	return v
}

// sendRequest is the body of POST /api/v1/tasks/{name}: apply_async's
// options by their Python names.
type sendRequest struct {
	Args      json.RawMessage `json:"args"`
	Kwargs    json.RawMessage `json:"kwargs"`
	Countdown *float64        `json:"countdown"`
	ETA       *string         `json:"eta"`
	Expires   json.RawMessage `json:"expires"` // seconds or an ISO 8601 time
	Priority  *int            `json:"priority"`
	Queue     *string         `json:"queue"`
	TaskID    *string         `json:"task_id"`
}

func body(field string) []any { return []any{"body", field} }

// sendArgs are the decoded args and kwargs of a send request.
type sendArgs struct {
	args   []any
	kwargs map[string]any
}

// decodeSend reads and checks the body. It decodes with encoding/json
// directly rather than ShouldBindJSON to refuse unknown fields, and reads
// args and kwargs with pyjson so that big integers stay integers and
// kombu's type markers ({"__type__": "datetime", ...}) are understood.
func decodeSend(r io.Reader) ([]celery.SendOption, *sendArgs, error) {
	var req sendRequest
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return nil, nil, jsonError(err)
		}
		if dec.More() {
			return nil, nil, invalid("json_invalid", []any{"body"}, "JSON decode error: trailing data", nil, nil)
		}
	}
	var opts []celery.SendOption
	var sa sendArgs
	if len(req.Args) > 0 && string(req.Args) != "null" {
		v, err := decodeArgs(req.Args, "args")
		if err != nil {
			return nil, nil, err
		}
		args, ok := v.([]any)
		if !ok {
			return nil, nil, invalid("list_type", body("args"), "Input should be a valid list", string(req.Args), nil)
		}
		sa.args = args
		opts = append(opts, celery.Args(args...))
	}
	if len(req.Kwargs) > 0 && string(req.Kwargs) != "null" {
		v, err := decodeArgs(req.Kwargs, "kwargs")
		if err != nil {
			return nil, nil, err
		}
		kw, ok := v.(map[string]any)
		if !ok {
			return nil, nil, invalid("dict_type", body("kwargs"), "Input should be a valid dictionary", string(req.Kwargs), nil)
		}
		sa.kwargs = kw
		opts = append(opts, celery.Kwargs(kw))
	}
	if req.Countdown != nil {
		if *req.Countdown < 0 || *req.Countdown > 365*24*3600 {
			return nil, nil, invalid("value_error", body("countdown"), "Countdown must be between 0 and one year, in seconds", *req.Countdown, nil)
		}
		opts = append(opts, celery.Countdown(time.Duration(*req.Countdown*float64(time.Second))))
	}
	if req.ETA != nil {
		t, err := celery.ParseTime(*req.ETA)
		if err != nil {
			return nil, nil, invalid("datetime_parsing", body("eta"), "Input should be a valid ISO 8601 datetime", *req.ETA, nil)
		}
		opts = append(opts, celery.ETA(t))
	}
	if len(req.Expires) > 0 && string(req.Expires) != "null" {
		var secs float64
		var s string
		switch {
		case json.Unmarshal(req.Expires, &secs) == nil && secs > 0:
			opts = append(opts, celery.ExpiresIn(time.Duration(secs*float64(time.Second))))
		case json.Unmarshal(req.Expires, &s) == nil:
			t, err := celery.ParseTime(s)
			if err != nil {
				return nil, nil, invalid("datetime_parsing", body("expires"), "Input should be a valid ISO 8601 datetime", s, nil)
			}
			opts = append(opts, celery.Expires(t))
		default:
			return nil, nil, invalid("value_error", body("expires"), "Expires must be a positive number of seconds or an ISO 8601 datetime", string(req.Expires), nil)
		}
	}
	if req.Priority != nil {
		if *req.Priority < 0 || *req.Priority > 9 {
			return nil, nil, invalid("value_error", body("priority"), "Priority must be between 0 and 9", *req.Priority, map[string]any{"ge": 0, "le": 9})
		}
		opts = append(opts, celery.Priority(*req.Priority))
	}
	if req.Queue != nil {
		if !validName(*req.Queue) {
			return nil, nil, invalid("string_pattern_mismatch", body("queue"), "Queue must be 1-255 characters from A-Z a-z 0-9 . _ : @ + -", *req.Queue, nil)
		}
		if err := celery.ValidateQueue(*req.Queue); err != nil { // a key of the transport or the backend
			return nil, nil, invalid("value_error", body("queue"), "Value error, "+err.Error(), *req.Queue, nil)
		}
		opts = append(opts, celery.Queue(*req.Queue))
	}
	if req.TaskID != nil {
		if !validName(*req.TaskID) {
			return nil, nil, invalid("string_pattern_mismatch", body("task_id"), "Task id must be 1-255 characters from A-Z a-z 0-9 . _ : @ + -", *req.TaskID, nil)
		}
		opts = append(opts, celery.TaskID(*req.TaskID))
	}
	return opts, &sa, nil
}

// maxArgsDepth is the deepest nesting of args or kwargs the API sends. A
// worker decodes the message body, [args, kwargs, embed], with pyjson,
// which refuses more than pyjson.MaxDepth levels; the body adds one level.
const maxArgsDepth = pyjson.MaxDepth - 1

// decodeArgs decodes args or kwargs (already checked to be JSON by
// encoding/json) as the worker will, refusing with a 422 what the worker
// would reject or change: nesting deeper than maxArgsDepth (the worker's
// DecodeError, after a 202) and lone UTF-16 surrogates, which a Go string
// cannot hold and which would otherwise become U+FFFD silently.
func decodeArgs(raw json.RawMessage, field string) (any, error) {
	if d := jsonDepth(raw); d > maxArgsDepth {
		return nil, invalid("value_error", body(field),
			fmt.Sprintf("Input is nested %d levels deep; workers accept at most %d", d, maxArgsDepth),
			nil, map[string]any{"max_depth": maxArgsDepth})
	}
	v, err := pyjson.DecodeStrict(raw)
	switch {
	case errors.Is(err, pyjson.ErrLoneSurrogate):
		return nil, invalid("string_unicode", body(field),
			`Input contains a lone UTF-16 surrogate escape (\ud800-\udfff outside a pair), which is not valid Unicode text`,
			nil, nil)
	case err != nil:
		typ, want := "list_type", "Input should be a valid list"
		if field == "kwargs" {
			typ, want = "dict_type", "Input should be a valid dictionary"
		}
		return nil, invalid(typ, body(field), want+": "+err.Error(), string(raw), nil)
	}
	return v, nil
}

// jsonDepth returns how deeply arrays and objects nest in raw, which must
// be valid JSON.
func jsonDepth(raw []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// jsonError turns a decoding error into a 422 (or the 413 of an
// oversized body).
func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var ute *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.As(err, &ute):
		return invalid("type_error", body(ute.Field), fmt.Sprintf("Input should be of type %s", ute.Type), ute.Value, nil)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid("extra_forbidden", body(f), "Extra inputs are not permitted", nil, nil)
	}
	return invalid("json_invalid", []any{"body"}, "JSON decode error: "+err.Error(), nil, nil)
}

// sleepArg says where a built-in task that sleeps takes its length in
// seconds: its positional index and keyword name.
func sleepArg(task string) (pos int, kwarg string, ok bool) {
	switch task {
	case sampleTask:
		return 0, "duration", true
	case "tasks.sleep", "tasks.stubborn":
		return 0, "seconds", true
	}
	return 0, "", false
}

// checkSleep applies --max-duration to the built-in tasks that sleep, as
// /run-task/ does: a length that is negative, not finite or over the
// maximum gets a 422. A length that is no number is left to the task,
// which fails with a TypeError.
func (h *handlers) checkSleep(task string, sa *sendArgs) error {
	pos, kwarg, ok := sleepArg(task)
	if !ok {
		return nil
	}
	var v any
	var loc []any
	if len(sa.args) > pos {
		v, loc = sa.args[pos], []any{"body", "args", pos}
	} else if x, ok := sa.kwargs[kwarg]; ok {
		v, loc = x, []any{"body", "kwargs", kwarg}
	} else {
		return nil
	}
	var f float64
	switch x := v.(type) {
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(x), 64); err != nil {
			v = string(x) // out of range (f is ±Inf): echoed as text
		}
	case float64: // NaN, Infinity, -Infinity
		f, v = x, pyjson.PyRepr(x)
	default:
		return nil
	}
	switch {
	case math.IsNaN(f):
		return invalid("finite_number", loc, "Input should be a finite number", v, nil)
	case f < 0:
		return invalid("greater_than_equal", loc, "Input should be greater than or equal to 0", v, map[string]any{"ge": 0})
	case f > float64(h.o.maxDuration):
		return invalid("less_than_equal", loc,
			fmt.Sprintf("Input should be less than or equal to %d (--max-duration)", h.o.maxDuration), v, map[string]any{"le": h.o.maxDuration})
	}
	return nil
}

// sendTask is POST /api/v1/tasks/{name}: send an allowed task.
func (h *handlers) sendTask(c *gin.Context) {
	name := c.Param("task")
	if !h.allowed[name] {
		h.fail(c, errStatus(http.StatusNotFound, fmt.Sprintf("task %q is not registered or not allowed", name)))
		return
	}
	opts, sa, err := decodeSend(c.Request.Body)
	if err == nil {
		err = h.checkSleep(name, sa)
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	res, err := h.client.SendTask(c.Request.Context(), name, opts...)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.metrics.submitted.WithLabelValues(name).Inc()
	loc := "/api/v1/tasks/" + url.PathEscape(res.ID)
	c.Header("Location", loc)
	c.JSON(http.StatusAccepted, gin.H{"id": res.ID, "task": name, "state": celery.StatePending, "location": loc})
}

// getTask is GET /api/v1/tasks/{id}[?wait=5s]. With wait it blocks, on the
// result channel (pub/sub), until the task is ready or wait has passed,
// then answers with the state at that moment.
func (h *handlers) getTask(c *gin.Context) {
	id, err := taskIDParam(c, "task")
	if err != nil {
		h.fail(c, err)
		return
	}
	wait, err := h.waitParam(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	var m *celery.ResultMeta
	if wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		stop := context.AfterFunc(h.o.shutdown, cancel)
		m, err = h.client.Results().WatchMax(wctx, id, h.o.maxResult, nil)
		stop()
		cancel()
		if err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) && ctx.Err() == nil {
			m, err = h.client.Results().GetMax(ctx, id, h.o.maxResult)
		}
	} else {
		m, err = h.client.Results().GetMax(ctx, id, h.o.maxResult)
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewOf(m))
}

// waitParam parses ?wait= as a Go duration ("5s", "250ms") or a number of
// seconds, capped at the configured maximum.
func (h *handlers) waitParam(c *gin.Context) (time.Duration, error) {
	raw, ok := c.GetQuery("wait")
	if !ok || raw == "" {
		return 0, nil
	}
	d, err := duration.Parse(raw)
	if err != nil {
		return 0, invalid("duration_parsing", []any{"query", "wait"}, `Input should be a duration such as "5s" or a number of seconds`, raw, nil)
	}
	if d < 0 || d > h.o.maxWait {
		return 0, invalid("value_error", []any{"query", "wait"},
			fmt.Sprintf("Wait must be between 0 and %s", h.o.maxWait), raw, nil)
	}
	return d, nil
}

// revokeTask is DELETE /api/v1/tasks/{id}[?terminate=true&signal=SIGKILL]:
// a revoke broadcast to every worker. Storing REVOKED is the worker's job.
func (h *handlers) revokeTask(c *gin.Context) {
	id, err := taskIDParam(c, "task")
	if err != nil {
		h.fail(c, err)
		return
	}
	terminate := false
	if raw, ok := c.GetQuery("terminate"); ok {
		if terminate, err = strconv.ParseBool(raw); err != nil {
			h.fail(c, invalid("bool_parsing", []any{"query", "terminate"}, "Input should be a valid boolean", raw, nil))
			return
		}
	}
	sig := c.DefaultQuery("signal", "SIGTERM")
	if !validSignal(sig) {
		h.fail(c, invalid("value_error", []any{"query", "signal"}, "Signal must be a name such as SIGTERM or SIGKILL", sig, nil))
		return
	}
	if h.revoker == nil {
		h.fail(c, errStatus(http.StatusNotImplemented, "revoke is not available: no remote control configured"))
		return
	}
	if err := h.revoker.Revoke(c.Request.Context(), []string{id}, terminate, sig); err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"id": id, "revoked": true, "terminate": terminate, "signal": sig})
}

func validSignal(s string) bool {
	if len(s) < 4 || len(s) > 16 || !strings.HasPrefix(s, "SIG") {
		return false
	}
	for _, r := range s[3:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// queueView is one queue's waiting messages.
type queueView struct {
	Name       string         `json:"name"`
	Messages   int            `json:"messages"`
	Priorities map[string]int `json:"priorities"`
	// Paused is set when the queue is paused fleet-wide (Deps.Pauser).
	Paused bool `json:"paused"`
}

// queues is GET /api/v1/queues[?queue=a&queue=b]: waiting messages per
// queue and per priority bucket.
func (h *handlers) queues(c *gin.Context) {
	names := c.QueryArray("queue")
	if len(names) == 0 {
		names = h.o.queues
	}
	if len(names) > 100 {
		h.fail(c, invalid("too_long", []any{"query", "queue"}, "At most 100 queues", len(names), nil))
		return
	}
	for _, n := range names {
		if !validName(n) {
			h.fail(c, invalid("string_pattern_mismatch", []any{"query", "queue"}, "Queue must be 1-255 characters from A-Z a-z 0-9 . _ : @ + -", n, nil))
			return
		}
		if err := celery.ValidateQueue(n); err != nil { // a key of the transport or the backend
			h.fail(c, invalid("value_error", []any{"query", "queue"}, "Value error, "+err.Error(), n, nil))
			return
		}
	}
	broker := h.broker
	steps := broker.PrioritySteps()
	out := make([]queueView, 0, len(names))
	paused := h.pausedSet(c.Request.Context())
	for _, n := range names {
		lens, err := broker.QueueLengths(c.Request.Context(), n)
		if err != nil {
			h.fail(c, err)
			return
		}
		q := queueView{Name: n, Priorities: make(map[string]int, len(steps)), Paused: paused[n]}
		for i, l := range lens {
			q.Messages += l
			q.Priorities[strconv.Itoa(steps[i])] = l
		}
		out = append(out, q)
	}
	c.JSON(http.StatusOK, gin.H{"queues": out})
}

// listWorkers is GET /api/v1/workers.
func (h *handlers) listWorkers(c *gin.Context) {
	if h.workers == nil {
		h.fail(c, errStatus(http.StatusNotImplemented, "worker listing is not available: no remote control configured"))
		return
	}
	ws, err := h.workers.Workers(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	if ws == nil {
		ws = []WorkerInfo{}
	}
	c.JSON(http.StatusOK, gin.H{"workers": ws})
}

// healthz answers as long as the process serves HTTP.
func (h *handlers) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz answers 200 when the broker answers PING within 2 s.
func (h *handlers) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := h.broker.Ping(ctx); err != nil {
		// One log line per failed probe: the request log's, which
		// carries the cause recorded here.
		c.Error(fmt.Errorf("readiness: broker unreachable: %w", err)) //nolint:errcheck // recorded for the request log
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"detail": "broker unreachable"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (h *handlers) metricsHandler(c *gin.Context) { h.metrics.handler.ServeHTTP(c.Writer, c.Request) }

// jsonSafe converts a decoded result into values encoding/json writes the
// way Python's FastAPI (jsonable_encoder) would: NaN and infinities become
// null instead of failing the response, dates and decimals become text
// and bytes are decoded as UTF-8 (base64 when they are not UTF-8).
func jsonSafe(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	case json.Number:
		return x
	case time.Time:
		return celery.FormatTime(x)
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return x // encoding/json writes base64
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonSafe(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonSafe(e)
		}
		return out
	case fmt.Stringer:
		if _, ok := x.(json.Marshaler); ok {
			return x
		}
		return x.String()
	}
	return v
}
