package reconnect

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff computes reconnect delays: exponential from Min, capped at Max,
// with full jitter in [d/2, d]. The zero value uses 100 ms and 10 s.
type Backoff struct {
	Min, Max time.Duration
}

// Delay returns the wait before retry number attempt (0-based).
func (b Backoff) Delay(attempt int) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi <= 0 {
		hi = 10 * time.Second
	}
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d between two attempts; it reports false when ctx ended
// first. A receive on wake (nil: never) cuts the wait short and reports
// true, so that the caller looks at its state again at once.
func Sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}
