package worker

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// finish records the outcome of a handler run: on success the callbacks
// and next chain step, the result, the chord join, the event and the log
// line, in Celery's order; a retry (RetryError or autoretry_for) goes to
// retry; an error or a panic is a FAILURE. r.unsaved is set when the
// final state could not be stored. It returns the state the task came to
// and the value or error it returned, for TaskPostrun ("" when none: a
// panicking handler's message requeued, as a lost Python process sends
// no task_postrun).
func (w *Worker) finish(ctx context.Context, r *request, t *Task, o outcome, runtime time.Duration) (celery.State, any) {
	w.tm.observe(r, runtime)
	msg := r.msg
	log := w.o.logger
	name := "Task " + msg.Name() + "[" + msg.ID + "]"
	if o.panic != "" {
		if w.requeueLost(r) {
			log.Error(name+" panicked: its message is requeued (reject_on_worker_lost)", "task_id", msg.ID, "traceback", o.panic)
			r.settle = settleRequeue
			return "", nil
		}
		log.Error(name+" raised unexpected: panic", "task_id", msg.ID, "traceback", o.panic)
		exc := celery.Exception("PanicError", "celeriac", firstLine(o.panic))
		w.storeFailure(ctx, r, exc, o.panic)
		w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: excRepr(exc), Traceback: o.panic})
		return celery.StateFailure, r.failedWith(exc, o.panic)
	}
	if o.err == nil {
		// Celery's order: callbacks are applied before the result is
		// stored (so that its children are known), the event and the log
		// line come after. Waiting clients see the result first; the
		// event's repr and round trip are not in their way.
		children := w.canvas.onSuccess(ctx, msg, o.result)
		if !w.ignoreResult(r) {
			m := w.meta(t, celery.StateSuccess, o.result)
			m.Children = children
			if w.store(ctx, m) != nil {
				r.unsaved = true
			}
		}
		w.hooks.success(ctx, t, o.result)
		w.canvas.chordMember(ctx, msg, celery.StateSuccess, o.result)
		w.tm.succeeded(r)
		if w.events.TaskEvents() { // the repr is a real cost per task; skip it when the event is dropped
			w.events.Emit(&events.TaskSucceededEvent{UUID: msg.ID, Result: pyjson.SafeRepr(o.result, 1024, 3), Runtime: runtime.Seconds()})
		}
		if log.Enabled(ctx, slog.LevelInfo) {
			log.Info(name+" succeeded in "+strconv.FormatFloat(runtime.Seconds(), 'f', -1, 64)+"s: "+pyjson.Truncate(pyjson.PyRepr(o.result), 1024), "task_id", msg.ID, "runtime", runtime)
		}
		return celery.StateSuccess, o.result
	}
	if state, ok := w.predicate(ctx, r, o.err); ok {
		return state, o.err
	}
	var re *RetryError
	if errors.As(o.err, &re) {
		return w.retry(ctx, r, t, re), o.err
	}
	if match := r.entry.opts.AutoRetryFor; match != nil && match(o.err) {
		return w.retry(ctx, r, t, &RetryError{Err: o.err, Countdown: w.autoRetryDelay(r)}), o.err
	}
	exc, tb := excInfo(o.err, msg)
	log.Error(name+" raised unexpected: "+excString(exc), "task_id", msg.ID)
	if o.timedOut && !w.ackFlag(r, r.opts().AcksOnTimeout, w.o.ackPolicy.acksOnTimeout) {
		r.settle = settleRequeue // stored as failed, and run again (Request.on_timeout)
	}
	r.cause = o.err
	w.storeFailure(ctx, r, exc, tb)
	w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: excRepr(exc), Traceback: tb})
	return celery.StateFailure, o.err
}

// failedWith is the error a failure hook gets: what the handler returned
// when it returned an error, else the stored exception.
func (r *request) failedWith(exc map[string]any, tb string) error {
	if r.cause != nil {
		return r.cause
	}
	return (&celery.ResultMeta{TaskID: r.msg.ID, Status: celery.StateFailure, Result: exc, Traceback: tb}).Err()
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// excInfo turns an error into Celery's exception dict and a traceback text.
func excInfo(err error, msg *celery.Message) (map[string]any, string) {
	var pe *PyError
	var exc map[string]any
	if errors.As(err, &pe) {
		exc = celery.Exception(pe.Type, pe.Module, pe.Args...)
	} else {
		exc = celery.Exception("Exception", "builtins", err.Error())
	}
	tb := "Traceback (most recent call last):\n  File \"<go>\", in " + msg.Task + "\n" + excString(exc) + "\n"
	return exc, tb
}

// excString is Python's str of the exception: "Type: message".
func excString(exc map[string]any) string {
	t, _ := exc["exc_type"].(string)
	args, _ := exc["exc_message"].([]any)
	switch len(args) {
	case 0:
		return t
	case 1:
		if s, ok := args[0].(string); ok {
			return t + ": " + s
		}
		return t + ": " + pyjson.PyRepr(args[0])
	}
	return t + ": " + pyjson.ArgsRepr(args)
}

// storeFailure stores a FAILURE with exc and tb and applies the errbacks
// (onFailure); r.unsaved is set when it could not be stored. The message
// is copied to the archive: the task failed for good.
func (w *Worker) storeFailure(ctx context.Context, r *request, exc map[string]any, tb string) {
	ctx = replyContext(ctx, r.msg)
	w.tm.failed(r)
	if r.settle == settleAck && !w.ackFlag(r, r.opts().AcksOnFailure, w.o.ackPolicy.acksOnFailure) {
		r.settle = settleReject
	}
	if w.storeErrors(r) {
		t := &Task{Message: r.msg, Queue: r.d.Queue}
		m := w.meta(t, celery.StateFailure, exc)
		m.Traceback = tb
		if w.store(ctx, m) != nil {
			r.unsaved = true
		}
	}
	if r.entry != nil { // an unknown task is no task failure (task_unknown)
		t := r.task
		if t == nil {
			t = &Task{Message: r.msg, Queue: r.d.Queue, Hostname: w.o.hostname, w: w, entry: r.entry}
		}
		w.hooks.failure(ctx, t, r.failedWith(exc, tb))
	}
	w.canvas.onFailure(ctx, r.msg, exc, tb)
	reason := celery.ArchiveFailed
	if exc["exc_type"] == "NotRegistered" {
		reason = celery.ArchiveRejected
	}
	w.archive(r.d, r.msg, reason, excString(exc))
}
