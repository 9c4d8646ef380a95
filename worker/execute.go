package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
)

// outcome is what a handler run came to: its result, its error, or the
// traceback of its panic.
type outcome struct {
	result   any
	err      error
	panic    string
	timedOut bool // past the hard time limit
}

// execute runs one request on a pool goroutine and settles it. It starts
// the request (begin: recorded, not revoked, active, acknowledged unless
// acks-late), stores STARTED when tracked, runs the handler under its time
// limits (runHandler) and then records what happened: a task terminated
// by revoke, one given back at the shutdown timeout, or an outcome that
// finish stores (result, retry or failure, callbacks, events). An
// acks-late message is acknowledged at the end, or requeued when its
// outcome could not be stored.
func (w *Worker) execute(ctx context.Context, r *request) {
	ctx = replyContext(ctx, r.msg)
	lateAck, ok := w.begin(ctx, r)
	if !ok {
		return
	}
	w.startedTask()
	defer w.afterTask()
	msg := r.msg
	t := &Task{Message: msg, Queue: r.d.Queue, Hostname: w.o.hostname, Received: time.Now(), w: w, entry: r.entry}
	r.task = t
	w.hooks.prerun(ctx, t)
	if w.trackStarted(r) && !w.ignoreResult(r) {
		w.store(ctx, w.meta(t, celery.StateStarted, map[string]any{"pid": os.Getpid(), "hostname": w.o.hostname}))
	}
	hard, soft := w.timeLimits(r)
	tctx, cancel := context.WithCancelCause(context.WithValue(ctx, ctxKey{}, t))
	defer cancel(nil)
	if soft > 0 {
		var stop context.CancelFunc
		tctx, stop = context.WithTimeoutCause(tctx, soft, errSoftTimeLimit)
		defer stop()
	}
	start := time.Now()
	w.reg.mu.Lock()
	r.cancel = cancel
	r.started = start
	w.reg.mu.Unlock()
	w.events.Emit(&events.TaskStartedEvent{UUID: msg.ID}) // Header.PID: this process

	o, gaveUp := w.runHandler(ctx, tctx, cancel, r, t, hard)
	if gaveUp {
		w.giveUpAtShutdown(r)
		return
	}
	if w.killed(tctx, r) {
		w.terminated(ctx, r, t)
		if lateAck {
			w.acker.ack(r.d)
		}
		w.done(r)
		return
	}
	if ctx.Err() != nil && lateAck && o.err != nil && errors.Is(o.err, context.Canceled) {
		// Cancelled by the shutdown timeout: an acks-late message goes
		// back to its queue rather than failing, as Celery's cold shutdown
		// leaves it to the broker's redelivery.
		w.giveUpAtShutdown(r)
		return
	}
	runtime := time.Since(start)
	if o.err != nil && soft > 0 && errors.Is(context.Cause(tctx), errSoftTimeLimit) && errors.Is(o.err, context.DeadlineExceeded) {
		o.err = errSoftTimeLimit
	}
	if state, retval := w.finish(ctx, r, t, o, runtime); state != "" {
		w.hooks.postrun(ctx, t, state, retval)
	}
	if lateAck {
		w.settleLate(r)
	}
	w.done(r)
}

// begin makes r active. It reports false when r must not run: its
// delivery could not be recorded (Redis refused the record, at maxmemory
// say, and the consumer gives the message back to its queue:
// Delivery.Settle) or its task is revoked or expired. An early-acked
// request (lateAck false) is acknowledged here and leaves the prefetch
// window.
func (w *Worker) begin(ctx context.Context, r *request) (lateAck, ok bool) {
	msg := r.msg
	if err := r.d.Settle(); err != nil {
		w.o.logger.Info("Task "+msg.Name()+"["+msg.ID+"] not run: its delivery could not be recorded, and it goes back to its queue", "task_id", msg.ID, "error", err)
		w.done(r)
		return false, false
	}
	if w.maybeRevoke(ctx, r) {
		return false, false
	}
	w.reg.mu.Lock()
	delete(w.reg.reserved, r.d.Tag)
	w.reg.active[r.d.Tag] = r
	r.isActive = true
	w.reg.total[msg.Task]++
	w.reg.mu.Unlock()
	w.processed.Add(1)
	lateAck = r.acksLate(w)
	if !lateAck {
		w.reg.mu.Lock()
		r.acked = true
		w.reg.mu.Unlock()
		w.acker.ack(r.d)
		// Acknowledged: it no longer counts against the prefetch window
		// (kombu's QoS counts unacked deliveries).
		w.giveBackSlot(r)
	}
	return lateAck, true
}

// timeLimits returns r's hard and soft time limits: the message's, else
// its task's, else the worker's.
func (w *Worker) timeLimits(r *request) (hard, soft time.Duration) {
	hard, soft = r.msg.Hard, r.msg.Soft
	if hard == 0 && soft == 0 {
		w.mux.mu.RLock()
		hard, soft = r.entry.opts.TimeLimit, r.entry.opts.SoftTimeLimit
		w.mux.mu.RUnlock()
		if hard == 0 && soft == 0 {
			hard, soft = w.o.timeLimit, w.o.softTimeLimit
		}
	}
	return hard, soft
}

// runHandler runs r's handler with tctx in its own goroutine and waits for
// it, for the hard time limit, for terminate (r.kill) or for the shutdown
// timeout (ctx ending). A handler still running abandonGrace after it was
// told to stop is abandoned (abandon.go). gaveUp reports a handler
// abandoned at the shutdown timeout: its request has no outcome.
func (w *Worker) runHandler(ctx, tctx context.Context, cancel context.CancelCauseFunc, r *request, t *Task, hard time.Duration) (o outcome, gaveUp bool) {
	msg := r.msg
	done := make(chan outcome, 1)
	run := &handlerRun{}
	go func() {
		defer run.finished(w, msg.Task, msg.ID)
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{panic: fmt.Sprintf("panic: %v\n\n%s", p, debug.Stack())}
			}
		}()
		res, err := r.handler.ProcessTask(tctx, t)
		done <- outcome{result: res, err: err}
	}()
	var hardC <-chan time.Time
	if hard > 0 {
		ht := time.NewTimer(hard)
		defer ht.Stop()
		hardC = ht.C
	}
	select {
	case <-r.kill:
		// terminate cancelled the context first: a handler that obeys it
		// returns at once and is not reported as abandoned.
		select {
		case o = <-done:
		case <-time.After(abandonGrace):
			run.abandon(w, msg.Task, msg.ID, "terminated")
		}
	case o = <-done:
	case <-ctx.Done():
		// The shutdown timeout passed and cancelled tctx with ctx: a
		// handler that obeys it returns at once.
		select {
		case o = <-done:
		case <-time.After(abandonGrace):
			run.abandon(w, msg.Task, msg.ID, "shutdown timeout")
			return outcome{}, true
		}
	case <-hardC:
		run.abandon(w, msg.Task, msg.ID, "hard time limit")
		// Go cannot kill a goroutine: the handler is abandoned (its
		// context is cancelled) and its slot freed, as Celery frees a
		// killed child's.
		cancel(errors.New("hard time limit"))
		o = outcome{err: &PyError{Type: "TimeLimitExceeded", Module: billiardExc, Args: []any{limitArg(hard)}}, timedOut: true}
		w.o.logger.Error("hard time limit exceeded", "task", msg.Task, "task_id", msg.ID, "limit", hard)
	}
	return o, false
}

// killed reports whether r was stopped by revoke(terminate=True): the
// context is cancelled with errTerminated and the handler abandoned at
// once, as Celery kills the pool process (Go cannot kill a goroutine; a
// handler that ignores ctx runs on in the background until it returns).
// The cause is checked, not only the kill channel: terminate cancels
// first, so a handler that obeys its context can return before the
// channel is closed.
func (w *Worker) killed(tctx context.Context, r *request) bool {
	if errors.Is(context.Cause(tctx), errTerminated) {
		return true
	}
	select {
	case <-r.kill:
		return true
	default:
		return false
	}
}

// trackStarted reports whether r's task stores STARTED (track_started).
func (w *Worker) trackStarted(r *request) bool {
	if r.entry.opts.TrackStarted != nil {
		return *r.entry.opts.TrackStarted
	}
	return w.o.trackStarted
}

// ignoreResult reports whether r's result is not stored.
func (w *Worker) ignoreResult(r *request) bool {
	return r.msg.IgnoreResult || r.opts().IgnoreResult
}
