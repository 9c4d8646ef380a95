package worker

import (
	"sync"
	"time"
)

// scheduler holds requests until their ETA, or their task's rate limit,
// lets them run (Celery's timer), then hands them to ready (the pool's
// queue). Held requests are still reserved: inspect lists them as
// scheduled.
type scheduler struct {
	ready func(r *request)
	mu    sync.Mutex
	held  map[*request]*time.Timer
}

func newScheduler(ready func(r *request)) *scheduler {
	return &scheduler{ready: ready, held: map[*request]*time.Timer{}}
}

// hold keeps r until d has passed.
func (s *scheduler) hold(r *request, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Under mu: due waits until the timer is recorded.
	s.held[r] = time.AfterFunc(d, func() { s.due(r) })
}

// isHeld reports whether r waits for its time.
func (s *scheduler) isHeld(r *request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.held[r]
	return ok
}

// due moves a held request to the pool's queue, unless shutdown took it.
func (s *scheduler) due(r *request) {
	s.mu.Lock()
	_, held := s.held[r]
	delete(s.held, r)
	s.mu.Unlock()
	if held {
		s.ready(r)
	}
}

// shutdown stops every timer and returns the requests it held. A request
// whose timer already fired is not among them: due hands it to ready.
func (s *scheduler) shutdown() []*request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*request
	for r, t := range s.held {
		if t.Stop() {
			delete(s.held, r)
			out = append(out, r)
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// limiterFor returns the rate limiter of r's task; nil when it has none
// or rate limits are off.
func (w *Worker) limiterFor(r *request) *limiter {
	if w.o.disableRateLimits {
		return nil
	}
	w.mux.mu.RLock()
	defer w.mux.mu.RUnlock()
	return r.entry.limiter
}
