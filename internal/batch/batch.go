// Package batch coalesces items that concurrent callers hand over into
// shared round trips: whatever queued up while one round trip was in
// flight goes out together in the next. The broker's single publishes
// (celery/redis.Broker.PublishOne) and the event dispatcher's events
// (events.Dispatcher) both go through it.
package batch

import (
	"context"
	"sync"
	"time"
)

// Flusher sends items in batches with its send function. A lone caller
// waits for nobody; many concurrent callers pay one round trip per batch
// instead of one each. A Flusher is safe for concurrent use.
type Flusher[T any] struct {
	send    func(ctx context.Context, items []T) error
	timeout time.Duration

	mu       sync.Mutex
	one      []T // the caller's own send (Do): one item, reused
	pending  []entry[T]
	flushing bool       // a round trip is in flight (or a flush loop runs)
	idle     *sync.Cond // signalled when flushing ends
	closed   bool
}

type entry[T any] struct {
	v    T
	done chan error // nil: nobody waits for the outcome (Enqueue)
}

// New returns a flusher that sends with send, which must not keep items
// after it returns (the slice is reused). Batches sent from the
// background get a context with timeout; a caller's own send (Do with
// nothing in flight) gets the caller's context.
func New[T any](timeout time.Duration, send func(ctx context.Context, items []T) error) *Flusher[T] {
	f := &Flusher[T]{send: send, timeout: timeout, one: make([]T, 1)}
	f.idle = sync.NewCond(&f.mu)
	return f
}

// Do sends v and returns the outcome of the round trip that carried it.
// With nothing in flight v goes out at once from the caller's goroutine;
// otherwise it waits for the next batch (or for ctx to end: the item may
// then still be sent).
func (f *Flusher[T]) Do(ctx context.Context, v T) error {
	f.mu.Lock()
	if !f.flushing {
		f.flushing = true
		f.mu.Unlock()
		// f.one is this goroutine's alone while flushing is set and no
		// flush loop runs (one starts only in roundEnded).
		f.one[0] = v
		err := f.send(ctx, f.one)
		clear(f.one)
		f.mu.Lock()
		f.roundEnded()
		f.mu.Unlock()
		return err
	}
	e := entry[T]{v: v, done: make(chan error, 1)}
	f.pending = append(f.pending, e)
	f.mu.Unlock()
	select {
	case err := <-e.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enqueue queues v for the background flush and returns at once; it
// reports false when the flusher is closed (v is dropped).
func (f *Flusher[T]) Enqueue(v T) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.pending = append(f.pending, entry[T]{v: v})
	if !f.flushing {
		f.flushing = true
		go f.loop()
	}
	return true
}

// roundEnded hands what queued meanwhile to a flush loop, or marks the
// flusher idle; f.mu is held.
func (f *Flusher[T]) roundEnded() {
	if len(f.pending) > 0 {
		go f.loop()
		return
	}
	f.flushing = false
	f.idle.Broadcast()
}

// loop sends pending items until none are left.
func (f *Flusher[T]) loop() {
	var items []T
	for {
		f.mu.Lock()
		batch := f.pending
		f.pending = nil
		if len(batch) == 0 {
			f.flushing = false
			f.idle.Broadcast()
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		items = items[:0]
		for _, e := range batch {
			items = append(items, e.v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
		err := f.send(ctx, items)
		cancel()
		clear(items)
		for _, e := range batch {
			if e.done != nil {
				e.done <- err
			}
		}
	}
}

// Wait blocks until every queued item was sent (or failed).
func (f *Flusher[T]) Wait() {
	f.mu.Lock()
	for f.flushing {
		f.idle.Wait()
	}
	f.mu.Unlock()
}

// Close waits like Wait, then refuses further Enqueue calls.
func (f *Flusher[T]) Close() {
	f.Wait()
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}
