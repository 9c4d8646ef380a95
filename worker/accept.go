package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// accept routes one delivery: reject it, revoke it, hold it for its ETA or
// rate limit, or queue it for the pool (docs/wire.md#receive-path).
func (w *Worker) accept(ctx context.Context, d *celery.Delivery) {
	log := w.o.logger
	if d.Err != nil {
		w.reject(ctx, d, d.Err)
		return
	}
	msg, err := d.DecodeWith(w.decodeOptions())
	if err != nil {
		w.reject(ctx, d, err)
		return
	}
	ctx = replyContext(ctx, msg)
	r := &request{d: d, msg: msg, hasSlot: w.intake.slots != nil, kill: make(chan struct{})}
	r.entry, r.handler = w.mux.lookup(msg.Task)
	w.tm.received(r)
	if r.entry == nil {
		log.Error("received unregistered task", "task", msg.Task, "task_id", msg.ID, "queue", d.Queue)
		w.acker.ack(d)
		w.storeFailure(ctx, r, celery.Exception("NotRegistered", celeryExc, msg.Task), "")
		w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: "NotRegistered(" + pyjson.PyRepr(msg.Task) + ")"})
		w.hooks.unknown(ctx, msg)
		w.done(r)
		return
	}
	if log.Enabled(ctx, slog.LevelInfo) { // skip building the line when off
		log.Info("Task "+msg.Name()+"["+msg.ID+"] received", "task_id", msg.ID, "task", msg.Task)
	}
	if w.maybeRevoke(ctx, r) {
		return
	}
	w.sendReceived(r)
	w.hooks.received(ctx, r)
	w.reg.mu.Lock()
	w.reg.seq++
	r.seq = w.reg.seq
	w.reg.reserved[d.Tag] = r
	w.reg.mu.Unlock()
	w.scale(true)
	now := time.Now()
	at := msg.ETA
	if at.After(now) {
		// ETA tasks don't count against the prefetch window (Celery raises
		// the prefetch count by one for each held ETA task).
		w.giveBackSlot(r)
	}
	if l := w.limiterFor(r); l != nil {
		at = l.reserve(maxTime(at, now))
	}
	if at.After(now) {
		w.sched.hold(r, at.Sub(now))
		w.defers.hold(r, at)
		return
	}
	w.pool.ready.push(r)
}

// replyContext returns ctx with msg's reply_to and correlation_id, for
// a result backend that sends each state to the task's sender (rpc://).
func replyContext(ctx context.Context, msg *celery.Message) context.Context {
	return celery.WithReplyTo(ctx, msg.Properties.ReplyTo, msg.Properties.CorrelationID)
}

// scale lets the autoscaler follow the requests held; received marks
// a task's arrival.
func (w *Worker) scale(received bool) {
	if w.scaler != nil {
		w.scaler.maybeScale(received)
	}
}

func (w *Worker) giveBackSlot(r *request) {
	if r.hasSlot {
		r.hasSlot = false
		w.intake.releaseSlot()
	}
}
