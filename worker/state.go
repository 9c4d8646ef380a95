package worker

import (
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"
)

func numCPU() int { return runtime.NumCPU() }

func newTag() string { return uuid.NewString() }

// readyQueue is the FIFO of requests waiting for a pool goroutine. notify
// carries one wake-up token; a consumer that pops while more remain passes
// the token on, so no waiting goroutine sleeps through queued work.
type readyQueue struct {
	mu     sync.Mutex
	items  []*request
	notify chan struct{}
}

func (q *readyQueue) push(r *request) {
	q.mu.Lock()
	q.items = append(q.items, r)
	q.mu.Unlock()
	q.wake()
}

func (q *readyQueue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *readyQueue) pop() *request {
	q.mu.Lock()
	if len(q.items) == 0 {
		q.mu.Unlock()
		return nil
	}
	r := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	more := len(q.items) > 0
	q.mu.Unlock()
	if more {
		q.wake()
	}
	return r
}

func (q *readyQueue) drain() []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items
	q.items = nil
	return out
}

// revokedSet is Celery's LimitedSet of revoked ids: at most maxLen ids,
// entries older than expiry dropped when full (worker/state.py).
type revokedSet struct {
	maxLen int
	expiry time.Duration
	ids    map[string]time.Time
	order  []string
}

func newRevokedSet(maxLen int, expiry time.Duration) *revokedSet {
	return &revokedSet{maxLen: maxLen, expiry: expiry, ids: map[string]time.Time{}}
}

func (s *revokedSet) add(id string, now time.Time) {
	if _, ok := s.ids[id]; !ok {
		s.order = append(s.order, id)
	}
	s.ids[id] = now
	for len(s.ids) > s.maxLen || (len(s.order) > 0 && now.Sub(s.ids[s.order[0]]) > s.expiry) {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *revokedSet) has(id string) bool { _, ok := s.ids[id]; return ok }

func (s *revokedSet) list() []string { return append([]string(nil), s.order...) }

// window is the prefetch window: a counting semaphore whose size can
// change at run time (pool_grow/pool_shrink change the prefetch count as
// Celery's _update_prefetch_count does). One goroutine acquires; any
// releases.
type window struct {
	mu    sync.Mutex
	limit int
	used  int
	wake  chan struct{}
}

func newWindow(limit int) *window {
	return &window{limit: limit, wake: make(chan struct{}, 1)}
}

func (w *window) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// tryAcquire takes a slot when one is free.
func (w *window) tryAcquire() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.used < w.limit {
		w.used++
		return true
	}
	return false
}

// acquire waits for a free slot; false when done closed first.
func (w *window) acquire(done <-chan struct{}) bool {
	for {
		if w.tryAcquire() {
			return true
		}
		select {
		case <-w.wake:
		case <-done:
			return false
		}
	}
}

func (w *window) release() {
	w.mu.Lock()
	w.used--
	w.mu.Unlock()
	w.signal()
}

func (w *window) setLimit(n int) {
	w.mu.Lock()
	w.limit = max(n, 1)
	w.mu.Unlock()
	w.signal()
}

func (w *window) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limit
}
