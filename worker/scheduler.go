package worker

import (
	"time"
)

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (w *Worker) limiterFor(r *request) *limiter {
	if w.o.disableRateLimits {
		return nil
	}
	w.mux.mu.RLock()
	defer w.mux.mu.RUnlock()
	return r.entry.limiter
}

// due moves a held request to the pool queue, unless shutdown took it.
func (w *Worker) due(r *request) {
	w.mu.Lock()
	held := r.timer != nil
	r.timer = nil
	w.mu.Unlock()
	if held {
		w.pool.ready.push(r)
	}
}

// releaseHeld stops every ETA/rate-limit timer and returns those requests.
func (w *Worker) releaseHeld() []*request {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*request
	for _, r := range w.reserved {
		if r.timer != nil && r.timer.Stop() {
			r.timer = nil
			out = append(out, r)
		}
	}
	return out
}
