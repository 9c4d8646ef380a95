package main

import (
	"context"
	"time"

	"github.com/celeriac/celeriac/api"
	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
)

// pauseTimeout is how long a pause waits for the workers' active_queues
// replies, and a pause or resume for their cancel_consumer/add_consumer
// replies, by default.
const pauseTimeout = time.Second

// controlPauser is api.QueuePauser over remote control and the broker's
// record of paused queues.
type controlPauser struct {
	c       *control.Control
	store   celery.PauseStore
	timeout time.Duration
}

// newPauser returns a pauser when the broker can record paused queues
// (Redis), else nil (the API then answers 501).
func newPauser(c *control.Control, broker any, timeout time.Duration) api.QueuePauser {
	store, ok := broker.(celery.PauseStore)
	if !ok {
		return nil
	}
	return controlPauser{c: c, store: store, timeout: timeout}
}

func (p controlPauser) PauseQueue(ctx context.Context, q string) (*celery.PausedQueue, error) {
	return p.c.PauseQueue(ctx, p.store, q, p.timeout)
}

func (p controlPauser) ResumeQueue(ctx context.Context, q string) (*celery.PausedQueue, error) {
	return p.c.ResumeQueue(ctx, p.store, q, p.timeout)
}

func (p controlPauser) PausedQueues(ctx context.Context) ([]celery.PausedQueue, error) {
	return p.store.PausedQueues(ctx)
}
