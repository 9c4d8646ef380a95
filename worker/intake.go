package worker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// unlimitedBatch bounds one fetch when prefetch is unlimited.
const unlimitedBatch = 256

func (w *Worker) consume(ctx context.Context, c celery.Receiver) error {
	// A queue change (add_consumer/cancel_consumer) cancels the fetch in
	// progress and wakes its BRPOP (Consumer.Wake), which returns at once
	// without losing a message; the new queue set applies to the next fetch.
	var (
		fetchMu     sync.Mutex
		cancelFetch context.CancelFunc
		changed     atomic.Bool
	)
	changedCh := make(chan struct{}, 1)
	stopWatch := make(chan struct{})
	var watcher sync.WaitGroup
	// wake ends a BRPOP in progress at once instead of at its poll timeout.
	wake := func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := c.Wake(wctx); err != nil {
			w.o.logger.Debug("could not wake the consumer; it notices at the poll timeout", "error", err)
		}
	}
	watcher.Go(func() {
		done := ctx.Done()
		for {
			select {
			case <-w.queuesCh:
				changed.Store(true)
				select {
				case changedCh <- struct{}{}:
				default:
				}
				fetchMu.Lock()
				fetching := cancelFetch != nil
				if fetching {
					cancelFetch()
				}
				fetchMu.Unlock()
				if fetching {
					wake()
				}
			case <-done: // shutdown: end the fetch now
				done = nil
				wake()
			case <-stopWatch:
				return
			}
		}
	})
	defer func() { close(stopWatch); watcher.Wait() }()
	for {
		if changed.Swap(false) {
			c.SetQueues(w.Queues())
			w.queuesApplied()
		}
		if len(c.Queues()) == 0 { // nothing to consume: wait for a queue
			select {
			case <-changedCh:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		n := w.acquireSlots(ctx)
		if n == 0 {
			return ctx.Err()
		}
		fctx, cancel := context.WithCancel(ctx)
		fetchMu.Lock()
		cancelFetch = cancel
		fetchMu.Unlock()
		if changed.Load() {
			cancel()
		}
		ds, err := c.ReceiveBatch(fctx, n)
		fetchMu.Lock()
		cancelFetch = nil
		fetchMu.Unlock()
		cancel()
		for range n - len(ds) {
			w.releaseSlot()
		}
		if err != nil {
			if ctx.Err() == nil && fctx.Err() != nil {
				continue // queues changed
			}
			return err
		}
		for _, d := range ds {
			w.accept(ctx, d)
		}
	}
}

// acquireSlots waits for one free slot of the prefetch window and takes
// every other free one too: a fetch may bring that many messages. It
// returns 0 when ctx ended.
func (w *Worker) acquireSlots(ctx context.Context) int {
	if w.slots == nil {
		return unlimitedBatch
	}
	if !w.slots.acquire(ctx.Done()) {
		return 0
	}
	n := 1
	for w.slots.tryAcquire() {
		n++
	}
	return n
}

func (w *Worker) releaseSlot() {
	if w.slots != nil {
		w.slots.release()
	}
}

// accept routes one delivery: reject it, revoke it, hold it for its ETA or
// rate limit, or queue it for the pool (docs/wire.md#receive-path).
func (w *Worker) accept(ctx context.Context, d *celery.Delivery) {
	log := w.o.logger
	if d.Err != nil {
		w.reject(ctx, d, d.Err)
		return
	}
	msg, err := celery.DecodeEnvelope(d.Envelope)
	if err != nil {
		w.reject(ctx, d, err)
		return
	}
	r := &request{d: d, msg: msg, hasSlot: w.slots != nil, kill: make(chan struct{})}
	r.entry, r.handler = w.mux.lookup(msg.Task)
	w.tm.received(r)
	if r.entry == nil {
		log.Error("received unregistered task", "task", msg.Task, "task_id", msg.ID, "queue", d.Queue)
		w.acker.ack(d)
		w.storeFailure(ctx, r, celery.Exception("NotRegistered", celeryExc, msg.Task), "")
		w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: "NotRegistered(" + pyjson.PyRepr(msg.Task) + ")"})
		w.done(r)
		return
	}
	if log.Enabled(ctx, slog.LevelInfo) { // skip building the line when off
		log.Info("Task "+msg.Name()+"["+msg.ID+"] received", "task_id", msg.ID, "task", msg.Task)
	}
	if w.maybeRevoke(ctx, r) {
		return
	}
	w.sendReceived(r)
	w.mu.Lock()
	w.seq++
	r.seq = w.seq
	w.reserved[d.Tag] = r
	w.mu.Unlock()
	now := time.Now()
	at := msg.ETA
	if at.After(now) {
		// ETA tasks don't count against the prefetch window (Celery raises
		// the prefetch count by one for each held ETA task).
		w.giveBackSlot(r)
	}
	if l := w.limiterFor(r); l != nil {
		at = l.reserve(maxTime(at, now))
	}
	if at.After(now) {
		w.mu.Lock()
		r.timer = time.AfterFunc(at.Sub(now), func() { w.due(r) })
		w.mu.Unlock()
		return
	}
	w.pool.ready.push(r)
}

func (w *Worker) giveBackSlot(r *request) {
	if r.hasSlot {
		r.hasSlot = false
		w.releaseSlot()
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
