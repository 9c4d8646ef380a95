package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// sweeper is the visibility sweep: every interval it asks the transport to
// put back on their queues the unacknowledged messages whose visibility
// timeout passed (kombu's restore_visible), those of workers that died
// included.
type sweeper struct {
	broker   celery.Transport
	log      *slog.Logger
	interval time.Duration // 0: no sweep
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// start starts sweeping (at once, then every interval) until ctx ends or
// shutdown is called.
func (s *sweeper) start(ctx context.Context) {
	if s.interval <= 0 {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Go(func() { s.loop(ctx) })
}

// shutdown stops sweeping and waits for a sweep in progress.
func (s *sweeper) shutdown() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func (s *sweeper) loop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	conn := &reconnect.State{Name: "visibility sweep", Logger: s.log}
	refused := false // Redis refused the last sweep (logged once)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch _, err := s.broker.RestoreVisible(ctx); {
		case err != nil && ctx.Err() == nil && !celery.IsUnavailable(err):
			// Redis answered, and refused (its lock at maxmemory, say).
			if !refused {
				s.log.Warn("visibility sweep refused by Redis; retrying", "error", err)
				refused = true
			}
		case err != nil && ctx.Err() == nil:
			conn.Lost(err) // one line per outage, not one per sweep
		case err == nil:
			conn.Up()
			if refused {
				s.log.Info("visibility sweep runs again")
				refused = false
			}
		}
		t.Reset(s.interval)
	}
}
