package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// unlimitedBatch bounds one fetch when prefetch is unlimited.
const unlimitedBatch = 256

// errQueuesChanged ends a fetch cut short by a change of the queue set.
var errQueuesChanged = errors.New("queues changed")

// intake is the consuming side of the worker: it takes deliveries from
// the consumed queues through the transport, never more than the prefetch
// window holds unacknowledged, and hands each to deliver (Worker.accept).
// The queue set changes at run time (add_consumer, cancel_consumer).
type intake struct {
	broker         celery.Transport
	log            *slog.Logger
	maxMessageSize int
	slots          *window // prefetch window; nil = unlimited
	deliver        func(ctx context.Context, d *celery.Delivery)
	// queued reports how many requests wait for a runner and how many
	// runners there are (nil: unknown, every fetch goes at once).
	queued func() (ready, runners int)

	mu      sync.Mutex
	queues  []string        // consumed queues
	changed chan struct{}   // signalled when queues change
	applied []chan struct{} // closed once the consumer applied a change
}

func newIntake(broker celery.Transport, o *options, deliver func(context.Context, *celery.Delivery)) *intake {
	in := &intake{
		broker: broker, log: o.logger, maxMessageSize: o.maxMessageSize, deliver: deliver,
		queues: append([]string(nil), o.queues...), changed: make(chan struct{}, 1),
	}
	if o.prefetchMultiplier > 0 {
		in.slots = newWindow(o.concurrency * o.prefetchMultiplier)
	}
	return in
}

// open returns the receiver of the consumed queues. When the transport
// can set it up ahead of the first fetch (celery.Preparer: AMQP declares
// the queues and opens its channel), it does so now, so that the worker
// says it is ready once its queues exist, as Celery's consumer does; an
// error then comes back from the first fetch, which reports it.
func (in *intake) open(ctx context.Context) celery.Receiver {
	c := in.broker.Consume(in.Queues()...)
	c.SetMaxMessageSize(in.maxMessageSize)
	if p, ok := c.(celery.Preparer); ok {
		_ = p.Prepare(ctx)
	}
	return c
}

// run consumes from c (open's) until ctx ends or the transport fails for
// good, then closes it; it returns ctx's error or the transport's.
func (in *intake) run(ctx context.Context, c celery.Receiver) error {
	defer c.Close()
	return in.consume(ctx, c)
}

// Queues returns the consumed queues.
func (in *intake) Queues() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.queues...)
}

// prefetch returns the prefetch window's size (0 = unlimited).
func (in *intake) prefetch() int {
	if in.slots == nil {
		return 0
	}
	return in.slots.size()
}

// resize sets the prefetch window to n (pool_grow/pool_shrink).
func (in *intake) resize(n int) {
	if in.slots != nil {
		in.slots.setLimit(n)
	}
}

// fetchState is what consume shares with its queue watcher.
type fetchState struct {
	mu      sync.Mutex
	cancel  context.CancelFunc // ends the fetch in progress; nil between fetches
	changed atomic.Bool        // the queue set changed since it was applied
	signal  chan struct{}      // wakes a consumer waiting for a queue
}

// interrupt cancels the fetch in progress, if any, and reports whether
// there was one.
func (st *fetchState) interrupt() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cancel == nil {
		return false
	}
	st.cancel()
	return true
}

func (st *fetchState) setCancel(cancel context.CancelFunc) {
	st.mu.Lock()
	st.cancel = cancel
	st.mu.Unlock()
}

// consume is the intake loop. Each round applies a pending change of the
// queue set, waits for free slots of the prefetch window, fetches up to
// that many deliveries in one call (fetch) and hands them to deliver in
// order. It returns when ctx ends or a fetch fails otherwise than by a
// queue change.
//
// A queue change (add_consumer/cancel_consumer) cancels the fetch in
// progress and wakes its blocking pop (Receiver.Wake), which returns at
// once without losing a message; the new queue set applies to the next
// fetch. The end of ctx wakes it the same way.
func (in *intake) consume(ctx context.Context, c celery.Receiver) error {
	st := &fetchState{signal: make(chan struct{}, 1)}
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() { in.watch(ctx, c, st, stop) })
	defer func() { close(stop); watcher.Wait() }()
	for {
		if st.changed.Swap(false) {
			c.SetQueues(in.Queues())
			in.queuesApplied()
		}
		if len(c.Queues()) == 0 { // nothing to consume: wait for a queue
			select {
			case <-st.signal:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ds, err := in.fetch(ctx, c, st)
		if errors.Is(err, errQueuesChanged) {
			continue
		}
		if err != nil {
			return err
		}
		for _, d := range ds {
			in.deliver(ctx, d)
		}
	}
}

// fetch takes free slots of the prefetch window (waiting for one) and
// receives at most that many deliveries; the slots left unused are given
// back. It returns errQueuesChanged when a queue change cut it short, and
// ctx's error when ctx ended.
func (in *intake) fetch(ctx context.Context, c celery.Receiver, st *fetchState) ([]*celery.Delivery, error) {
	n := in.acquireSlots(ctx)
	if n == 0 {
		return nil, ctx.Err()
	}
	fctx, cancel := context.WithCancel(ctx)
	st.setCancel(cancel)
	if st.changed.Load() {
		cancel()
	}
	ds, err := c.ReceiveBatch(fctx, n)
	cut := fctx.Err() != nil // by a queue change, not by this cancel
	st.setCancel(nil)
	cancel()
	for range n - len(ds) {
		in.releaseSlot()
	}
	if err != nil && ctx.Err() == nil && cut {
		return nil, errQueuesChanged
	}
	return ds, err
}

// watch cuts the fetch in progress short when the queue set changes and
// when ctx ends, until stop is closed.
func (in *intake) watch(ctx context.Context, c celery.Receiver, st *fetchState, stop <-chan struct{}) {
	done := ctx.Done()
	for {
		select {
		case <-in.changed:
			st.changed.Store(true)
			select {
			case st.signal <- struct{}{}:
			default:
			}
			if st.interrupt() {
				in.wake(ctx, c)
			}
		case <-done: // shutdown: end the fetch now
			done = nil
			in.wake(ctx, c)
		case <-stop:
			return
		}
	}
}

// wake ends a blocking pop in progress at once instead of at its poll
// timeout.
func (in *intake) wake(ctx context.Context, c celery.Receiver) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := c.Wake(wctx); err != nil {
		in.log.Debug("could not wake the consumer; it notices at the poll timeout", "error", err)
	}
}

// acquireSlots waits for one free slot of the prefetch window and takes
// every other free one too: a fetch may bring that many messages. It
// returns 0 when ctx ended.
//
// Each fetch is a round trip, so while the pool has plenty of work at
// hand (fed) a fetch waits until a quarter of the window is free and
// takes it in one batch, rather than one message per finished task. The
// pool is fed when every runner has a next request waiting, and more
// besides than the batch awaited, so that no runner goes idle meanwhile;
// otherwise (an idle or starving pool, a window of one runner's size) the
// fetch goes at once, as before.
func (in *intake) acquireSlots(ctx context.Context) int {
	if in.slots == nil {
		return unlimitedBatch
	}
	if !in.slots.acquire(ctx.Done()) {
		return 0
	}
	n := 1
	for in.slots.tryAcquire() {
		n++
	}
	for batch := in.slots.size() / 4; n < batch && in.fed(batch); n++ {
		if !in.slots.acquire(ctx.Done()) {
			for range n {
				in.releaseSlot()
			}
			return 0
		}
		for in.slots.tryAcquire() {
			n++
		}
	}
	return n
}

// fed reports whether the pool has work queued for every runner and batch
// requests more.
func (in *intake) fed(batch int) bool {
	if in.queued == nil {
		return false
	}
	ready, runners := in.queued()
	return ready >= runners+batch
}

// releaseSlot gives back one slot of the prefetch window.
func (in *intake) releaseSlot() {
	if in.slots != nil {
		in.slots.release()
	}
}

// setQueues changes the consumed queues; the consumer picks the change up
// before its next fetch.
// It waits (at most 3 s) until the consumer applied the change, so that
// the reply is true when it arrives.
func (in *intake) setQueues(f func([]string) []string) {
	applied := make(chan struct{})
	in.mu.Lock()
	in.queues = f(in.queues)
	in.applied = append(in.applied, applied)
	in.mu.Unlock()
	select {
	case in.changed <- struct{}{}:
	default:
	}
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	select {
	case <-applied:
	case <-t.C:
	}
}

// queuesApplied releases setQueues callers once the consumer uses the
// current queue set.
func (in *intake) queuesApplied() {
	in.mu.Lock()
	acks := in.applied
	in.applied = nil
	in.mu.Unlock()
	for _, ch := range acks {
		close(ch)
	}
}

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
