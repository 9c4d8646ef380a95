package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// acker settles deliveries with the transport: acknowledgements go out in
// batches from one goroutine; requeues (a task given back) and restores
// (messages held at shutdown) are sent at once. The transport keeps each
// settlement behind its delivery's record (Transport.Ack, Requeue,
// Reject); the acker never settles by hand.
type acker struct {
	broker celery.Transport
	log    *slog.Logger
	acks   chan *celery.Delivery
	wg     sync.WaitGroup
}

func newAcker(broker celery.Transport, log *slog.Logger) *acker {
	return &acker{broker: broker, log: log, acks: make(chan *celery.Delivery, 4096)}
}

// start starts the goroutine that sends queued acknowledgements.
func (a *acker) start() { a.wg.Go(a.loop) }

// shutdown sends the acknowledgements still queued and stops. Nothing may
// call ack after it.
func (a *acker) shutdown() {
	close(a.acks)
	a.wg.Wait()
}

// ack hands a delivery's acknowledgement to the acker, which sends acks in
// batches. An early ack may thus reach Redis just after its task started,
// as in Celery, whose main process acks while the pool child already runs
// the task.
func (a *acker) ack(d *celery.Delivery) {
	if d.Tracked {
		a.acks <- d
	}
}

// loop sends queued acknowledgements, as many per round trip as have
// queued up meanwhile, until acks is closed and drained.
func (a *acker) loop() {
	const maxBatch = 512
	batch := make([]*celery.Delivery, 0, maxBatch)
	for d := range a.acks {
		batch = append(batch[:0], d)
	more:
		for len(batch) < maxBatch {
			select {
			case d, ok := <-a.acks:
				if !ok {
					break more
				}
				batch = append(batch, d)
			default:
				break more
			}
		}
		// Not cancellable, so no goroutine per round trip; the
		// connection's read timeout bounds it. Ack keeps each ack behind
		// its delivery's record in unacked.
		if err := a.broker.Ack(context.Background(), batch...); err != nil && !errors.Is(err, celery.ErrNotRecorded) {
			a.log.Error("ack failed; the messages may run again after the visibility timeout", "count", len(batch), "delivery_tag", batch[0].Tag, "error", err)
		}
		clear(batch)
	}
}

// giveBack puts the message of a late-acknowledged task whose outcome
// could not be stored (a result, or the retry message) back on its queue
// instead of acknowledging it: the task runs again rather than its
// outcome being lost. If even that fails, the message stays in unacked
// and the visibility sweep restores it.
func (a *acker) giveBack(r *request) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.broker.Reject(ctx, r.d, true); err != nil {
		a.log.Error("Task "+r.msg.Name()+"["+r.msg.ID+"] outcome not stored and message not requeued; it stays unacknowledged and runs again after the visibility timeout", "task_id", r.msg.ID, "error", err)
		return
	}
	a.log.Warn("Task "+r.msg.Name()+"["+r.msg.ID+"] outcome could not be stored: message requeued, not acknowledged, to run again", "task_id", r.msg.ID)
}

// restore puts messages the worker holds but never ran back on their
// queues, in the order given.
func (a *acker) restore(ds []*celery.Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Requeue confirms each record before it restores the message; a
	// message whose record failed is back on its queue already.
	n, err := a.broker.Requeue(ctx, ds...)
	if err != nil {
		a.log.Error("could not restore all unacknowledged messages; the visibility sweep will", "error", err)
	}
	a.log.Info("restored unacknowledged messages", "count", n)
}
