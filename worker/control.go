package worker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// pyErr is a handler failure reported as Python does: {"error":
// "<repr(exc)>"}.
type pyErr string

func (e pyErr) Error() string { return string(e) }

func valueError(msg string) error { return pyErr("ValueError(" + pyjson.PyRepr(msg) + ")") }

func ok(msg string) control.Status  { return control.OK(msg) }
func nok(msg string) control.Status { return control.Failed(msg) }

// dispatchControl runs one remote-control command (celery/worker/control.py
// Panel). Replies are the celery/control reply types, the shapes Python's
// handlers produce, so the client decodes Go and Python replies alike.
func (w *Worker) dispatchControl(ctx context.Context, method string, args map[string]any) (any, error) {
	switch method {
	case "ping":
		return ok("pong"), nil
	case "stats":
		return w.stats(), nil
	case "registered", "dump_tasks":
		return w.registered(stringList(args["taskinfoitems"])), nil
	case "active", "dump_active":
		safe, _ := args["safe"].(bool)
		return w.requestInfos(func(r *request) bool { return r.isActive }, safe), nil
	case "reserved", "dump_reserved":
		return w.requestInfos(func(r *request) bool { return !r.isActive && !w.sched.isHeld(r) }, false), nil
	case "scheduled", "dump_schedule":
		return w.scheduled(), nil
	case "revoked", "dump_revoked":
		w.reg.mu.Lock()
		defer w.reg.mu.Unlock()
		ids := w.reg.revoked.list()
		if ids == nil {
			ids = []string{}
		}
		return ids, nil
	case "active_queues":
		out := []control.QueueInfo{}
		for _, q := range w.Queues() {
			out = append(out, w.queueInfo(q))
		}
		return out, nil
	case "query_task":
		return w.queryTask(stringList(args["ids"])), nil
	case "conf", "dump_conf":
		return w.conf(), nil
	case "report":
		return ok(w.report()), nil
	case "clock":
		return control.ClockValue{Clock: w.clock.Forward()}, nil
	case "hello":
		return w.hello(args), nil
	case "objgraph", "memdump", "memsample":
		return nil, pyErr("NotImplementedError('" + method + " is not supported by the Go worker')")
	case "revoke":
		return w.revokeCommand(ctx, stringList(args["task_id"]), truthy(args["terminate"]), stringOr(args["signal"], ""))
	case "revoke_by_stamped_headers":
		return w.revokeByStampedHeaders(args)
	case "terminate":
		return w.revokeCommand(ctx, stringList(args["task_id"]), true, stringOr(args["signal"], ""))
	case "rate_limit":
		return w.rateLimit(args)
	case "time_limit":
		return w.timeLimit(args), nil
	case "pool_grow":
		if w.scaler != nil {
			return nok("pool_grow is not supported with autoscale. Adjust autoscale range instead."), nil
		}
		return w.poolGrow(intOr(args["n"], 1))
	case "pool_shrink":
		if w.scaler != nil {
			return nok("pool_shrink is not supported with autoscale. Adjust autoscale range instead."), nil
		}
		return w.poolShrink(intOr(args["n"], 1))
	case "autoscale":
		return w.autoscaleCommand(args)
	case "pool_restart":
		return nil, valueError("Pool restarts not enabled")
	case "add_consumer":
		q := stringOr(args["queue"], "")
		if q == "" {
			return nil, pyErr("TypeError(\"add_consumer() missing 1 required positional argument: 'queue'\")")
		}
		if err := w.broker.ValidateQueue(q); err != nil { // a key of the transport or the backend
			w.o.logger.Warn("remote control: add_consumer refused", "queue", q, "error", err)
			return nil, valueError(err.Error())
		}
		w.intake.setQueues(func(qs []string) []string {
			if !slices.Contains(qs, q) {
				qs = append(qs, q)
			}
			return qs
		})
		return ok("add consumer " + q), nil
	case "cancel_consumer":
		q := stringOr(args["queue"], "")
		w.intake.setQueues(func(qs []string) []string { return slices.DeleteFunc(qs, func(x string) bool { return x == q }) })
		return ok("no longer consuming from " + q), nil
	case "enable_events":
		if w.events.SetTaskEvents(true) {
			return ok("task events already enabled"), nil
		}
		w.o.logger.Info("Events of group {task} enabled by remote.")
		return ok("task events enabled"), nil
	case "disable_events":
		if !w.events.SetTaskEvents(false) {
			return ok("task events already disabled"), nil
		}
		w.o.logger.Info("Events of group {task} disabled by remote.")
		return ok("task events disabled"), nil
	case "heartbeat":
		st := softwareInfo()
		st.Freq = 5.0
		w.events.Emit(&events.WorkerHeartbeatEvent{WorkerState: st})
		return nil, nil
	case "shutdown":
		w.o.logger.Warn(stringOr(args["msg"], "Got shutdown from remote"))
		if stop := w.remoteStop.Load(); stop != nil {
			(*stop)()
		}
		return nil, errNoReply
	case "election":
		return nil, nil
	}
	w.o.logger.Error("No such control command: " + method)
	return nil, pyErr("KeyError(" + pyjson.PyRepr(method) + ")")
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func stringOr(v any, def string) string {
	if s, ok := v.(string); ok {
		return s
	}
	return def
}

func intOr(v any, def int) int {
	if n, ok := kombu.AsInt(v); ok {
		return n
	}
	if s, ok := v.(string); ok {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return def
}

func floatOf(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case interface{ Float64() (float64, error) }:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "1" || strings.EqualFold(x, "true") || strings.EqualFold(x, "yes")
	}
	n, _ := kombu.AsInt(v)
	return n != 0
}

// hello is mingle's sync request: merge the peer's revoked ids and answer
// with ours (worker/control.py hello).
func (w *Worker) hello(args map[string]any) any {
	from, _ := args["from_node"].(string)
	if from == w.o.hostname {
		return nil
	}
	now := time.Now()
	w.reg.mu.Lock()
	defer w.reg.mu.Unlock()
	// Celery ≤ 5.6 sends its revoked set as {id: [stamp, id]}, 5.7 as a
	// list of ids (celery/worker/state.py merge_revoked takes both); only
	// the ids count, stamped with our clock.
	switch rv := args["revoked"].(type) {
	case map[string]any:
		for id := range rv {
			w.reg.revoked.add(id, now)
		}
	case []any:
		for _, id := range stringList(rv) {
			w.reg.revoked.add(id, now)
		}
	}
	out := map[string]any{}
	for _, id := range w.reg.revoked.list() {
		ts := float64(w.reg.revoked.ids[id].UnixMicro()) / 1e6
		out[id] = []any{ts, id}
	}
	return map[string]any{"revoked": out, "clock": w.clock.Forward()}
}

// revokeCommand is control._revoke: flag ids, store REVOKED for those not
// started anywhere (Celery ≥ 5.6.2), and with terminate stop running ones.
func (w *Worker) revokeCommand(ctx context.Context, ids []string, terminate bool, signal string) (any, error) {
	w.Revoke(ids...)
	w.reg.mu.Lock()
	running := map[string]*request{}
	for _, r := range w.reg.active {
		if slices.Contains(ids, r.msg.ID) {
			running[r.msg.ID] = r
		}
	}
	w.reg.mu.Unlock()
	for _, id := range ids {
		if running[id] != nil {
			continue
		}
		m, err := w.backend.GetMax(ctx, id, 0)
		if err != nil {
			w.o.logger.Warn("Failed to mark task "+id+" as revoked in backend", "error", err)
			continue
		}
		switch m.Status {
		case celery.StatePending, celery.StateReceived, celery.StateRetry, celery.StateRejected:
		default:
			continue
		}
		meta := &celery.ResultMeta{TaskID: id, Status: celery.StateRevoked, Result: celery.Exception("TaskRevokedError", celeryExc, "revoked"), DateDone: time.Now()}
		if _, err := w.backend.Store(context.WithoutCancel(ctx), meta); err != nil {
			w.o.logger.Warn("Failed to mark task "+id+" as revoked in backend", "error", err)
		}
	}
	if terminate {
		signum, known := signalNumber(signal)
		if !known {
			return nil, valueError("Unsupported signal: " + signal)
		}
		var done []string
		for _, id := range ids {
			if r := running[id]; r != nil && w.terminate(r, signum) {
				done = append(done, id)
			}
		}
		if len(done) == 0 {
			return ok("terminate: tasks unknown"), nil
		}
		return ok("terminate: " + strings.Join(done, ", ")), nil
	}
	w.o.logger.Info("Tasks flagged as revoked: " + strings.Join(ids, ", "))
	return ok("tasks " + pySet(ids) + " flagged as revoked"), nil
}

// terminate stops a running request: its context is cancelled with
// errTerminated and execute abandons it. It reports false if it had
// already finished or been terminated.
func (w *Worker) terminate(r *request, signum int) bool {
	w.reg.mu.Lock()
	defer w.reg.mu.Unlock()
	if !r.isActive || r.killed {
		return false
	}
	r.killed = true
	r.signum = signum
	if r.cancel != nil {
		r.cancel(errTerminated)
	}
	close(r.kill)
	w.o.logger.Info("Terminating "+r.msg.ID+" ("+strconv.Itoa(signum)+")", "task_id", r.msg.ID)
	return true
}

// pySet is Python's repr of a set of strings.
func pySet(ids []string) string {
	if len(ids) == 0 {
		return "set()"
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = pyjson.PyRepr(id)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (w *Worker) rateLimit(args map[string]any) (any, error) {
	name := stringOr(args["task_name"], "")
	var rate string
	switch x := args["rate_limit"].(type) {
	case string:
		rate = x
	case nil:
	default:
		rate = fmt.Sprint(x)
	}
	if rate != "" {
		if _, err := parseRate(rate); err != nil {
			return nok("Invalid rate limit string: ValueError(" + pyjson.PyRepr(err.Error()) + ")"), nil
		}
	}
	if err := w.mux.SetRateLimit(name, rate); err != nil {
		w.o.logger.Error("Rate limit attempt for unknown task " + name)
		return nok("unknown task"), nil
	}
	if rate == "" {
		w.o.logger.Info("Rate limits disabled for tasks of type " + name)
		return ok("rate limit disabled successfully"), nil
	}
	w.o.logger.Info("New rate limit for tasks of type "+name+": "+rate, "task", name)
	return ok("new rate limit set successfully"), nil
}

func (w *Worker) timeLimit(args map[string]any) control.Status {
	name := stringOr(args["task_name"], "")
	dur := func(v any) time.Duration {
		if f, ok := floatOf(v); ok && f > 0 {
			return time.Duration(f * float64(time.Second))
		}
		return 0
	}
	if err := w.mux.SetTimeLimits(name, dur(args["hard"]), dur(args["soft"])); err != nil {
		return nok("unknown task")
	}
	w.o.logger.Info("New time limits for tasks of type "+name, "soft", args["soft"], "hard", args["hard"])
	return ok("time limits set successfully")
}

// poolGrow starts n more pool goroutines and widens the prefetch window
// (pool.grow + _update_prefetch_count).
func (w *Worker) poolGrow(n int) (any, error) {
	if n < 1 {
		return nil, valueError("n must be positive")
	}
	if err := w.pool.grow(n); err != nil {
		return nil, valueError(err.Error())
	}
	w.resizeWindow()
	return ok("pool will grow"), nil
}

// poolShrink retires n pool goroutines (each when it is next idle) and
// narrows the prefetch window; the pool keeps at least one.
func (w *Worker) poolShrink(n int) (any, error) {
	if n < 1 {
		return nil, valueError("n must be positive")
	}
	if err := w.pool.shrink(n); err != nil {
		return nil, valueError("Can't shrink pool. All processes busy!")
	}
	w.resizeWindow()
	return ok("pool will shrink"), nil
}

func (w *Worker) resizeWindow() {
	w.intake.resize(w.Concurrency() * w.o.prefetchMultiplier)
}
