package celery

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/rconn"
)

// IsUnavailable reports whether err means Redis cannot be reached right
// now: a refused, reset or dropped connection, a network timeout, or a
// server still loading its data set. Such an error is worth a retry
// later; an HTTP API answers it with 503.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		return strings.HasPrefix(string(re), "LOADING")
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// publishRetries is how often a publish is retried after a connection
// error, as Celery's default retry policy (task_publish_retry: three
// retries within about a second). A pooled connection that Redis dropped
// (a restart) fails once and is discarded; the retry gets a fresh one.
const publishRetries = 3

var publishBackoff = rconn.Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond}

// withRetry runs f, and again after a connection error, at most
// publishRetries more times, until ctx ends.
func withRetry(ctx context.Context, f func() error) error {
	err := f()
	for attempt := 0; attempt < publishRetries && IsUnavailable(err); attempt++ {
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
