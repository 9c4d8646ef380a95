package worker

import (
	"context"
	"slices"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// skipPaused leaves out of the consumed queues those paused fleet-wide
// (celery/control's PauseQueue; the transport is a celery.PauseStore), and
// adds the worker to each one's record, so that the resume makes it
// consume them. Without it a worker started during a pause would consume
// the paused queue. It runs before the intake starts; a failure to read
// the records is logged and the worker consumes every queue.
func (w *Worker) skipPaused(ctx context.Context) {
	ps, ok := w.broker.(celery.PauseStore)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	paused, err := ps.PausedQueues(ctx)
	if err != nil {
		w.o.logger.Warn("could not read the paused queues; consuming every queue", "error", err)
		return
	}
	isPaused := func(q string) bool {
		return slices.ContainsFunc(paused, func(p celery.PausedQueue) bool { return p.Queue == q })
	}
	in := w.intake
	in.mu.Lock()
	var skipped []string
	in.queues = slices.DeleteFunc(in.queues, func(q string) bool {
		if isPaused(q) {
			skipped = append(skipped, q)
			return true
		}
		return false
	})
	in.mu.Unlock()
	for _, q := range skipped {
		w.o.logger.Warn("queue is paused fleet-wide: not consuming it until it is resumed", "queue", q)
		if _, err := ps.SetPaused(ctx, q, []string{w.o.hostname}); err != nil {
			w.o.logger.Warn("could not join the paused queue's record; a resume will not restart this worker on it", "queue", q, "error", err)
		}
	}
}
