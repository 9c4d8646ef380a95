package rconn

import (
	"context"

	"github.com/gomodule/redigo/redis"
)

// Do runs one command like redis.DoContext, but when ctx can never be
// cancelled (no Done channel: context.Background, context.WithoutCancel)
// it calls the connection directly. redigo's DoContext runs every command
// on a goroutine of its own so that it can return on cancellation; on the
// hot paths that store results and send acks, whose contexts are not
// cancellable, that goroutine and the two hand-offs it costs buy nothing.
// The connection's read timeout still bounds the call.
func Do(ctx context.Context, c redis.Conn, cmd string, args ...any) (any, error) {
	if ctx.Done() == nil {
		return c.Do(cmd, args...)
	}
	return redis.DoContext(c, ctx, cmd, args...)
}

// DoScript is Do for a script (EVALSHA, then EVAL when Redis does not
// know the script yet).
func DoScript(ctx context.Context, s *redis.Script, c redis.Conn, keysAndArgs ...any) (any, error) {
	if ctx.Done() == nil {
		return s.Do(c, keysAndArgs...)
	}
	return s.DoContext(ctx, c, keysAndArgs...)
}
