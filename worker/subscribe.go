package worker

import (
	"context"
	"time"

	"github.com/celeriac/celeriac/internal/reconnect"
)

// keepSubscribed runs session until ctx ends, running it again with
// backoff after each failure (a lost subscription); conn logs each outage
// once. ready is closed when the first session is up (its up callback).
// The remote-control node and the broadcast queues use it.
func keepSubscribed(ctx context.Context, conn *reconnect.State, ready chan struct{}, session func(ctx context.Context, up func()) error) {
	var backoff reconnect.Backoff
	fails := 0
	readyOnce := false
	for {
		err := session(ctx, func() {
			fails = 0
			conn.Up()
			if !readyOnce {
				readyOnce = true
				close(ready)
			}
		})
		if ctx.Err() != nil {
			return
		}
		conn.Lost(err) // one line per outage, not one per retry
		t := time.NewTimer(backoff.Delay(fails))
		fails++
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
