package worker

import (
	"context"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/rconn"
)

func (w *Worker) sweepLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	conn := &rconn.State{Name: "visibility sweep", Logger: w.o.logger}
	refused := false // Redis refused the last sweep (logged once)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch _, err := w.broker.RestoreVisible(ctx); {
		case err != nil && ctx.Err() == nil && !celery.IsUnavailable(err):
			// Redis answered, and refused (its lock at maxmemory, say).
			if !refused {
				w.o.logger.Warn("visibility sweep refused by Redis; retrying", "error", err)
				refused = true
			}
		case err != nil && ctx.Err() == nil:
			conn.Lost(err) // one line per outage, not one per sweep
		case err == nil:
			conn.Up()
			if refused {
				w.o.logger.Info("visibility sweep runs again")
				refused = false
			}
		}
		t.Reset(w.o.sweepInterval)
	}
}
