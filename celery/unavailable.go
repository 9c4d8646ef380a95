package celery

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
)

// IsUnavailable reports whether err means the broker or the result
// backend cannot be reached right now: a refused, reset or dropped
// connection, a network timeout, or an error that says so itself (one
// with an Unavailable() bool method: a transport's, e.g. Redis still
// loading its data set). Such an error is worth a retry later; an HTTP
// API answers it with 503.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var u interface{ Unavailable() bool }
	if errors.As(err, &u) {
		return u.Unavailable()
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}
