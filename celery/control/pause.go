package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// PauseQueue stops queue fleet-wide: it asks every worker which queues it
// consumes (active_queues, waiting timeout for replies), tells those that
// consume queue to stop (cancel_consumer, Go and Python workers alike)
// and records them in store, so that ResumeQueue makes exactly them
// consume it again (an add_consumer to all would add the queue to workers
// that never consumed it). It returns the record; a queue nobody consumes
// is recorded as paused with no workers.
func (c *Control) PauseQueue(ctx context.Context, store celery.PauseStore, queue string, timeout time.Duration) (*celery.PausedQueue, error) {
	if err := celery.ValidateQueue(queue); err != nil {
		return nil, err
	}
	active, err := c.ActiveQueues(ctx, timeout)
	if err != nil && len(active) == 0 && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("pause %s: active_queues: %w", queue, err)
	}
	var workers []string
	for node, qs := range active {
		if slices.ContainsFunc(qs, func(q QueueInfo) bool { return q.Name == queue }) {
			workers = append(workers, node)
		}
	}
	// Recorded first: a resume must find every worker that stopped.
	p, err := store.SetPaused(ctx, queue, workers)
	if err != nil {
		return nil, err
	}
	if len(workers) > 0 {
		replies, err := c.CancelConsumer(ctx, queue, timeout, workers...)
		if err != nil && len(replies) == 0 {
			return p, fmt.Errorf("pause %s: cancel_consumer: %w", queue, err)
		}
		var errs []error
		for _, w := range workers {
			r, ok := replies[w]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s did not reply to cancel_consumer", w))
			case r.Err() != nil:
				errs = append(errs, fmt.Errorf("%s: %w", w, r.Err()))
			}
		}
		if len(errs) > 0 {
			return p, fmt.Errorf("pause %s: %w", queue, errors.Join(errs...))
		}
	}
	return p, nil
}

// ResumeQueue undoes PauseQueue: the workers recorded as consuming queue
// consume it again (add_consumer to them only), and the record goes.
// celery.ErrNotPaused when queue is not paused.
func (c *Control) ResumeQueue(ctx context.Context, store celery.PauseStore, queue string, timeout time.Duration) (*celery.PausedQueue, error) {
	if err := celery.ValidateQueue(queue); err != nil {
		return nil, err
	}
	p, err := store.TakePaused(ctx, queue)
	if err != nil {
		return nil, err
	}
	if len(p.Workers) == 0 {
		return p, nil
	}
	replies, err := c.AddConsumer(ctx, queue, timeout, p.Workers...)
	if err != nil && len(replies) == 0 {
		return p, fmt.Errorf("resume %s: add_consumer: %w", queue, err)
	}
	var errs []error
	for _, w := range p.Workers {
		if r, ok := replies[w]; !ok {
			errs = append(errs, fmt.Errorf("%s did not reply to add_consumer (gone?)", w))
		} else if r.Err() != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w, r.Err()))
		}
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("resume %s: %w", queue, errors.Join(errs...))
	}
	return p, nil
}
