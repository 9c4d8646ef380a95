package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// errPoolStopped is returned by grow once the pool stops taking work.
var errPoolStopped = errors.New("pool is not running")

// errPoolMinimum is returned by shrink when the pool would have no
// goroutine left.
var errPoolMinimum = errors.New("pool would have no goroutine left")

// pool is the executor pool: goroutines that take ready requests in
// arrival order and run them with exec. Its size changes at run time
// (pool_grow, pool_shrink); a goroutine retired by shrink leaves when it
// is next idle.
type pool struct {
	ready readyQueue
	exec  func(ctx context.Context, r *request)
	size  atomic.Int64  // goroutines wanted (pool_grow/pool_shrink)
	quit  chan struct{} // one token per goroutine to retire
	// paused stops the goroutines from starting requests before the
	// shutdown (a recycle); the queued ones are then drained and restored.
	paused atomic.Bool

	mu      sync.Mutex // guards running, ctx and wg.Go
	running bool       // grow may start goroutines
	ctx     context.Context
	stop    chan struct{} // closed by stop: start nothing new
	wg      sync.WaitGroup
}

func newPool(size int, exec func(ctx context.Context, r *request)) *pool {
	p := &pool{exec: exec, quit: make(chan struct{}, 1<<16), stop: make(chan struct{})}
	p.ready.notify = make(chan struct{}, 1)
	p.size.Store(int64(size))
	return p
}

// start starts the pool's goroutines; tasks run with ctx.
func (p *pool) start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ctx, p.running = ctx, true
	p.spawn(int(p.size.Load()))
}

// spawn starts n goroutines; p.mu must be held.
func (p *pool) spawn(n int) {
	for range n {
		p.wg.Go(p.loop)
	}
}

// grow starts n more goroutines.
func (p *pool) grow(n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return errPoolStopped
	}
	p.size.Add(int64(n))
	p.spawn(n)
	return nil
}

// shrink retires n goroutines, each when it is next idle; the pool keeps
// at least one.
func (p *pool) shrink(n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(p.size.Load())-n < 1 {
		return errPoolMinimum
	}
	p.size.Add(int64(-n))
	for range n {
		p.quit <- struct{}{}
	}
	return nil
}

// seal ends grow: the pool is about to stop.
func (p *pool) seal() {
	p.mu.Lock()
	p.running = false
	p.mu.Unlock()
}

// shutdown makes the goroutines start nothing new and returns a channel
// closed once every one has returned (their running tasks finished or
// were abandoned).
func (p *pool) shutdown() <-chan struct{} {
	p.seal()
	close(p.stop)
	finished := make(chan struct{})
	go func() { p.wg.Wait(); close(finished) }()
	return finished
}

func (p *pool) loop() {
	for {
		select {
		case <-p.stop: // shutting down: start nothing new
			return
		case <-p.quit: // pool_shrink
			return
		default:
		}
		if p.paused.Load() {
			select {
			case <-p.stop:
			case <-p.quit:
			}
			return
		}
		if r := p.ready.pop(); r != nil {
			p.exec(p.ctx, r)
			continue
		}
		select {
		case <-p.ready.notify:
		case <-p.stop:
			return
		case <-p.quit:
			p.ready.wake() // pass on a token this goroutine may have eaten
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

// len returns how many requests wait for a runner.
func (q *readyQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// queued returns how many requests wait for a runner, and the number of
// runners.
func (p *pool) queued() (ready, runners int) { return p.ready.len(), int(p.size.Load()) }

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
