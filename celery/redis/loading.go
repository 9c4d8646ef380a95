package redis

import (
	"context"
	"strings"
	"time"

	redigo "github.com/gomodule/redigo/redis"
)

// loadingError is Redis' LOADING reply (a server still loading its data
// set): celery.IsUnavailable counts it as an outage, through its
// Unavailable method. It unwraps to the redigo.Error.
type loadingError struct{ err redigo.Error }

func (e loadingError) Error() string     { return e.err.Error() }
func (e loadingError) Unwrap() error     { return e.err }
func (e loadingError) Unavailable() bool { return true }

// markLoading turns a LOADING error reply into a loadingError.
func markLoading(err error) error {
	if re, ok := err.(redigo.Error); ok && strings.HasPrefix(string(re), "LOADING") {
		return loadingError{re}
	}
	return err
}

// loadingConn marks the LOADING replies of a connection's commands (see
// loadingError). It keeps redigo's context and timeout variants.
type loadingConn struct{ redigo.Conn }

func (c loadingConn) Do(cmd string, args ...any) (any, error) {
	r, err := c.Conn.Do(cmd, args...)
	return r, markLoading(err)
}

func (c loadingConn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	r, err := redigo.DoContext(c.Conn, ctx, cmd, args...)
	return r, markLoading(err)
}

func (c loadingConn) DoWithTimeout(d time.Duration, cmd string, args ...any) (any, error) {
	r, err := redigo.DoWithTimeout(c.Conn, d, cmd, args...)
	return r, markLoading(err)
}

func (c loadingConn) Receive() (any, error) {
	r, err := c.Conn.Receive()
	return r, markLoading(err)
}

func (c loadingConn) ReceiveContext(ctx context.Context) (any, error) {
	r, err := redigo.ReceiveContext(c.Conn, ctx)
	return r, markLoading(err)
}

func (c loadingConn) ReceiveWithTimeout(d time.Duration) (any, error) {
	r, err := redigo.ReceiveWithTimeout(c.Conn, d)
	return r, markLoading(err)
}

// markLoadingPool makes pool's connections loadingConns.
func markLoadingPool(pool *redigo.Pool) *redigo.Pool {
	dial := pool.DialContext
	pool.DialContext = func(ctx context.Context) (redigo.Conn, error) {
		c, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		return loadingConn{c}, nil
	}
	return pool
}
