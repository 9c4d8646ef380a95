package worker

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// restore puts messages the worker holds but never ran back on their
// queues, first-taken first out.
func (w *Worker) restore(rs []*request) {
	if len(rs) == 0 {
		return
	}
	// First taken, first restored: ETA-held requests come from a map.
	slices.SortStableFunc(rs, func(a, b *request) int { return cmp.Compare(a.seq, b.seq) })
	ds := make([]*celery.Delivery, 0, len(rs))
	for _, r := range rs {
		ds = append(ds, r.d)
		w.forget(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Requeue confirms each record before it restores the message; a
	// message whose record failed is back on its queue already.
	n, err := w.broker.Requeue(ctx, ds...)
	if err != nil {
		w.o.logger.Error("could not restore all unacknowledged messages; the visibility sweep will", "error", err)
	}
	w.o.logger.Info("restored unacknowledged messages", "count", n)
}

// ack hands a delivery's acknowledgement to the acker, which sends acks in
// batches. An early ack may thus reach Redis just after its task started,
// as in Celery, whose main process acks while the pool child already runs
// the task.
func (w *Worker) ack(_ context.Context, d *celery.Delivery) {
	if d.Tracked {
		w.acks <- d
	}
}

// ackLoop sends queued acknowledgements, as many per round trip as have
// queued up meanwhile, until acks is closed and drained.
func (w *Worker) ackLoop() {
	const maxBatch = 512
	batch := make([]*celery.Delivery, 0, maxBatch)
	for d := range w.acks {
		batch = append(batch[:0], d)
	more:
		for len(batch) < maxBatch {
			select {
			case d, ok := <-w.acks:
				if !ok {
					break more
				}
				batch = append(batch, d)
			default:
				break more
			}
		}
		// Not cancellable, so no goroutine per round trip (rconn.Do); the
		// connection's read timeout bounds it. Ack keeps each ack behind
		// its delivery's record in unacked.
		if err := w.broker.Ack(context.Background(), batch...); err != nil && !errors.Is(err, celery.ErrNotRecorded) {
			w.o.logger.Error("ack failed; the messages may run again after the visibility timeout", "count", len(batch), "delivery_tag", batch[0].Tag, "error", err)
		}
		clear(batch)
	}
}

// giveBack puts the message of a late-acknowledged task whose outcome
// could not be stored (a result, or the retry message) back on its queue
// instead of acknowledging it: the task runs again rather than its
// outcome being lost. If even that fails, the message stays in unacked
// and the visibility sweep restores it.
func (w *Worker) giveBack(r *request) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := w.o.logger
	if err := w.broker.Reject(ctx, r.d, true); err != nil {
		log.Error("Task "+r.msg.Name()+"["+r.msg.ID+"] outcome not stored and message not requeued; it stays unacknowledged and runs again after the visibility timeout", "task_id", r.msg.ID, "error", err)
		return
	}
	log.Warn("Task "+r.msg.Name()+"["+r.msg.ID+"] outcome could not be stored: message requeued, not acknowledged, to run again", "task_id", r.msg.ID)
}
