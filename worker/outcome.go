package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
)

// This file holds the outcomes a handler can return besides a value or
// an error, as Celery's task predicates (celery/exceptions.py Reject,
// Ignore; Retry is retry.go, Replace replace.go), and how the worker
// settles a late-acknowledged message after them.

// RejectError asks the worker to reject the task's message, as raising
// Celery's Reject does; build it with Reject and return it from the
// handler.
type RejectError struct {
	// Reason is why (may be nil).
	Reason error
	// Requeue puts the message back on its queue (acks-late tasks only:
	// an early-acknowledged message is gone already).
	Requeue bool
}

func (e *RejectError) Error() string {
	reason := "None"
	if e.Reason != nil {
		reason = e.Reason.Error()
	}
	return fmt.Sprintf("reject requeue=%s: %s", pyBool(e.Requeue), reason)
}

func (e *RejectError) Unwrap() error { return e.Reason }

// Reject returns the error a handler returns to reject its message
// (raise Reject(reason, requeue=requeue)). Without requeue the task is
// stored as FAILURE with celery.exceptions.Reject and its errbacks run;
// with requeue nothing is stored and an acks-late message goes back to
// its queue to run again. reason may be nil.
func Reject(reason error, requeue bool) error { return &RejectError{Reason: reason, Requeue: requeue} }

// errIgnore is the error Ignore returns.
var errIgnore = errors.New("worker: task ignored")

// Ignore returns the error a handler returns to end the task without a
// state (raise Ignore()): nothing is stored, no callback runs, the message
// is acknowledged. Test for it with IsIgnore.
func Ignore() error { return errIgnore }

// IsIgnore reports whether err asks the worker to ignore the task.
func IsIgnore(err error) bool { return errors.Is(err, errIgnore) }

// settlement is how a late-acknowledged message is settled after its
// task ran.
type settlement uint8

const (
	settleAck     settlement = iota // acknowledge (the default)
	settleReject                    // reject, not requeued (task-rejected)
	settleRequeue                   // reject and requeue (task-rejected)
)

// rejected handles a RejectError returned by r's handler, as Celery's
// Request.on_failure does: without requeue a FAILURE with the Reject
// exception (no traceback) and its errbacks; with requeue nothing. A
// late-acknowledged message is then rejected (settleLate).
func (w *Worker) rejected(ctx context.Context, r *request, re *RejectError) {
	msg := r.msg
	w.o.logger.Warn("Task "+msg.Name()+"["+msg.ID+"] "+re.Error(), "task_id", msg.ID, "requeue", re.Requeue)
	if re.Requeue {
		r.settle = settleRequeue
		return
	}
	r.settle = settleReject
	var reason any
	if re.Reason != nil {
		reason = re.Reason.Error()
	}
	exc := celery.Exception("Reject", celeryExc, reason, re.Requeue)
	r.cause = re
	w.storeFailure(ctx, r, exc, "")
	w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: re.Error()})
}

// settleLate settles a late-acknowledged message after its task ran: it
// is given back when its outcome could not be stored, rejected (with or
// without requeue) as its outcome asked, else acknowledged.
func (w *Worker) settleLate(r *request) {
	switch {
	case r.unsaved:
		w.acker.giveBack(r)
	case r.settle == settleAck:
		w.acker.ack(r.d)
	default:
		requeue := r.settle == settleRequeue
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := w.broker.Reject(ctx, r.d, requeue); err != nil {
			w.o.logger.Error("Task "+r.msg.Name()+"["+r.msg.ID+"] could not be rejected; it stays unacknowledged and runs again after the visibility timeout", "task_id", r.msg.ID, "requeue", requeue, "error", err)
			return
		}
		w.events.Emit(&events.TaskRejectedEvent{UUID: r.msg.ID, Requeue: requeue})
	}
}

// predicate handles the outcomes Ignore, Reject and Replace of r's
// handler and returns the state the task came to; it reports false for
// any other error.
func (w *Worker) predicate(ctx context.Context, r *request, err error) (celery.State, bool) {
	msg := r.msg
	var rj *RejectError
	var rp *ReplaceError
	switch {
	case IsIgnore(err):
		w.o.logger.Info("Task "+msg.Name()+"["+msg.ID+"] ignored", "task_id", msg.ID)
		return StateIgnored, true
	case errors.As(err, &rj):
		if rj.Requeue && !r.acksLate(w) {
			w.o.logger.Warn("Task "+msg.Name()+"["+msg.ID+"] asked for a requeue, but its message was acknowledged before it ran (acks_late off): not requeued", "task_id", msg.ID)
		}
		w.rejected(ctx, r, rj)
		return StateRejected, true
	case errors.As(err, &rp):
		if rerr := w.replaced(ctx, r, rp); rerr != nil {
			exc, tb := excInfo(rerr, msg)
			w.o.logger.Error("Task "+msg.Name()+"["+msg.ID+"] could not be replaced: "+excString(exc), "task_id", msg.ID)
			r.cause = rerr
			w.storeFailure(ctx, r, exc, tb)
			w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: excRepr(exc), Traceback: tb})
			return celery.StateFailure, true
		}
		return StateIgnored, true // Celery raises Ignore after the replacement
	}
	return "", false
}

// ackFlag is a per-task ack setting, else the worker's default.
func (w *Worker) ackFlag(r *request, task *bool, def bool) bool {
	if task != nil {
		return *task
	}
	return def
}

// requeueLost reports whether a panicking handler's message is requeued
// (reject_on_worker_lost, acks-late tasks only).
func (w *Worker) requeueLost(r *request) bool {
	return r.acksLate(w) && w.ackFlag(r, r.opts().RejectOnWorkerLost, w.o.ackPolicy.rejectOnWorkerLost)
}

// storeErrors reports whether r's failures and retries are stored: its
// result is not ignored, or store_errors_even_if_ignored is set
// (Request.store_errors).
func (w *Worker) storeErrors(r *request) bool {
	return !w.ignoreResult(r) || w.ackFlag(r, r.opts().StoreErrorsEvenIfIgnored, w.o.ackPolicy.storeErrorsEvenIfIgnored)
}

// opts returns the options of r's task (none for an unregistered one).
func (r *request) opts() TaskOptions {
	if r.entry == nil {
		return TaskOptions{}
	}
	return r.entry.opts
}
