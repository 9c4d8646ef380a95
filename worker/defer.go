package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// deferrer tells the transport (when it is a celery.Deferrer: Redis) of
// each message the scheduler holds for its ETA or rate limit, so that no
// visibility sweep, this worker's or a Python worker's, restores the
// message while this worker lives and holds it: without it an ETA beyond
// the visibility timeout is restored by every sweep and runs many times
// (docs/wire.md#eta-once). Deferrals go out in
// batches from one goroutine, as acknowledgements do.
type deferrer struct {
	to  celery.Deferrer // nil: the transport has no visibility timeout
	log *slog.Logger
	ch  chan celery.Deferral
	wg  sync.WaitGroup
}

func newDeferrer(broker celery.Transport, log *slog.Logger) *deferrer {
	d := &deferrer{log: log}
	if to, ok := broker.(celery.Deferrer); ok {
		d.to, d.ch = to, make(chan celery.Deferral, 4096)
	}
	return d
}

func (d *deferrer) start() {
	if d.to != nil {
		d.wg.Go(d.loop)
	}
}

// shutdown sends the deferrals still queued and stops. Nothing may call
// hold after it.
func (d *deferrer) shutdown() {
	if d.to != nil {
		close(d.ch)
		d.wg.Wait()
	}
}

// hold queues a deferral of r's message until at.
func (d *deferrer) hold(r *request, at time.Time) {
	if d.to != nil && r.d.Tracked {
		d.ch <- celery.Deferral{Delivery: r.d, Until: at}
	}
}

func (d *deferrer) loop() {
	const maxBatch = 512
	batch := make([]celery.Deferral, 0, maxBatch)
	for df := range d.ch {
		batch = append(batch[:0], df)
	more:
		for len(batch) < maxBatch {
			select {
			case df, ok := <-d.ch:
				if !ok {
					break more
				}
				batch = append(batch, df)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := d.to.Defer(ctx, batch...); err != nil {
			d.log.Error("could not defer the visibility of held messages; they may run again after the visibility timeout", "count", len(batch), "error", err)
		}
		cancel()
		clear(batch)
	}
}
