package worker

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// Hooks are callbacks on a worker's task and worker lifecycle, the Go
// counterparts of Celery's signals (celery/signals.py). Wrapping the
// handler (ServeMux.Use) is the way to act around each run; hooks tell
// what a middleware cannot see: the state the worker stored, retries,
// revocations, and the worker's start and stop. Any field may be nil.
// Hooks run synchronously on the goroutine of the task (or of Run) and
// should return quickly; a hook that panics is logged and the worker goes
// on, as Celery logs a failing signal receiver.
type Hooks struct {
	// WorkerReady runs once the worker consumes (worker_ready).
	WorkerReady func(w *Worker)
	// WorkerShutdown runs after the warm shutdown, before Run returns
	// (worker_shutdown).
	WorkerShutdown func(w *Worker)
	// TaskReceived runs when a task message is taken, before it waits
	// for its ETA, rate limit or a free goroutine (task_received).
	TaskReceived func(ctx context.Context, t *Task)
	// TaskUnknown runs for a message naming a task no handler serves,
	// after its NotRegistered failure was stored (task_unknown).
	TaskUnknown func(ctx context.Context, msg *celery.Message)
	// TaskPrerun runs before the handler, before STARTED is stored
	// (task_prerun).
	TaskPrerun func(ctx context.Context, t *Task)
	// TaskPostrun runs after the outcome was recorded, with the state it
	// came to (SUCCESS, FAILURE, RETRY, REJECTED, IGNORED) and the value
	// returned or the error (task_postrun).
	TaskPostrun func(ctx context.Context, t *Task, state celery.State, retval any)
	// TaskSuccess runs after a result was stored (task_success).
	TaskSuccess func(ctx context.Context, t *Task, result any)
	// TaskFailure runs after a failure was stored, with the error the
	// handler returned, or a *celery.TaskError for failures the worker
	// raised itself (panic, time limit, max retries, ...) (task_failure).
	TaskFailure func(ctx context.Context, t *Task, err error)
	// TaskRetry runs after the retry message was sent, with the retry's
	// cause (nil when none was given) (task_retry).
	TaskRetry func(ctx context.Context, t *Task, reason error)
	// TaskRevoked runs when a task is revoked, expired or terminated
	// (task_revoked).
	TaskRevoked func(ctx context.Context, t *Task, info Revoked)
}

// Revoked tells how a task was revoked (task_revoked's arguments).
type Revoked struct {
	Terminated bool
	Expired    bool
	// Signum is the signal named by revoke(terminate=True).
	Signum int
}

// States a Python task comes to without a result being stored
// (celery/app/trace.py), reported by TaskPostrun.
const (
	StateRejected celery.State = "REJECTED"
	StateIgnored  celery.State = "IGNORED"
)

// WithHooks adds lifecycle hooks; given several times, the hooks of each
// run in the order given.
func WithHooks(h Hooks) Option { return func(o *options) { o.hooks = append(o.hooks, h) } }

// hooks runs the registered hooks.
type hooks struct {
	list []Hooks
	w    *Worker
}

// call runs f, logging a panic as a failed hook.
func (hs hooks) call(name string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			hs.w.o.logger.Error("hook "+name+" panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	f()
}

func (hs hooks) workerReady() {
	for _, h := range hs.list {
		if h.WorkerReady != nil {
			hs.call("WorkerReady", func() { h.WorkerReady(hs.w) })
		}
	}
}

func (hs hooks) workerShutdown() {
	for _, h := range hs.list {
		if h.WorkerShutdown != nil {
			hs.call("WorkerShutdown", func() { h.WorkerShutdown(hs.w) })
		}
	}
}

func (hs hooks) received(ctx context.Context, r *request) {
	if !slices.ContainsFunc(hs.list, func(h Hooks) bool { return h.TaskReceived != nil }) {
		return // no Task to build
	}
	t := &Task{Message: r.msg, Queue: r.d.Queue, Hostname: hs.w.o.hostname, Received: time.Now(), w: hs.w, entry: r.entry}
	for _, h := range hs.list {
		if h.TaskReceived != nil {
			hs.call("TaskReceived", func() { h.TaskReceived(ctx, t) })
		}
	}
}

func (hs hooks) unknown(ctx context.Context, msg *celery.Message) {
	for _, h := range hs.list {
		if h.TaskUnknown != nil {
			hs.call("TaskUnknown", func() { h.TaskUnknown(ctx, msg) })
		}
	}
}

func (hs hooks) prerun(ctx context.Context, t *Task) {
	for _, h := range hs.list {
		if h.TaskPrerun != nil {
			hs.call("TaskPrerun", func() { h.TaskPrerun(ctx, t) })
		}
	}
}

func (hs hooks) postrun(ctx context.Context, t *Task, state celery.State, retval any) {
	for _, h := range hs.list {
		if h.TaskPostrun != nil {
			hs.call("TaskPostrun", func() { h.TaskPostrun(ctx, t, state, retval) })
		}
	}
}

func (hs hooks) success(ctx context.Context, t *Task, result any) {
	for _, h := range hs.list {
		if h.TaskSuccess != nil {
			hs.call("TaskSuccess", func() { h.TaskSuccess(ctx, t, result) })
		}
	}
}

func (hs hooks) failure(ctx context.Context, t *Task, err error) {
	for _, h := range hs.list {
		if h.TaskFailure != nil {
			hs.call("TaskFailure", func() { h.TaskFailure(ctx, t, err) })
		}
	}
}

func (hs hooks) retry(ctx context.Context, t *Task, reason error) {
	for _, h := range hs.list {
		if h.TaskRetry != nil {
			hs.call("TaskRetry", func() { h.TaskRetry(ctx, t, reason) })
		}
	}
}

func (hs hooks) revoked(ctx context.Context, r *request, info Revoked) {
	if !slices.ContainsFunc(hs.list, func(h Hooks) bool { return h.TaskRevoked != nil }) {
		return
	}
	t := &Task{Message: r.msg, Queue: r.d.Queue, Hostname: hs.w.o.hostname, w: hs.w, entry: r.entry}
	for _, h := range hs.list {
		if h.TaskRevoked != nil {
			hs.call("TaskRevoked", func() { h.TaskRevoked(ctx, t, info) })
		}
	}
}
