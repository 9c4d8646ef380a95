package redis

import (
	"context"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// publishRetries is how often a publish is retried after a connection
// error, as Celery's default retry policy (task_publish_retry: three
// retries within about a second). A pooled connection that Redis dropped
// (a restart) fails once and is discarded; the retry gets a fresh one.
const publishRetries = 3

var publishBackoff = reconnect.Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond}

// withRetry runs f, and again after a connection error, at most
// publishRetries more times, until ctx ends.
func withRetry(ctx context.Context, f func() error) error {
	err := f()
	for attempt := 0; attempt < publishRetries && celery.IsUnavailable(err); attempt++ {
		t := time.NewTimer(publishBackoff.Delay(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		err = f()
	}
	return err
}
