package worker

import (
	"context"
	"sync"
)

func (w *Worker) poolLoop(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-stop: // shutting down: start nothing new
			return
		case <-w.quit: // pool_shrink
			return
		default:
		}
		if r := w.ready.pop(); r != nil {
			w.execute(ctx, r)
			continue
		}
		select {
		case <-w.ready.notify:
		case <-stop:
			return
		case <-w.quit:
			w.ready.wake() // pass on a token this goroutine may have eaten
			return
		}
	}
}

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
