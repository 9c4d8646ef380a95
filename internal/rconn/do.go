package rconn

import (
	"context"
	"errors"
	"fmt"

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

// ErrTxAborted is ExecError's error for an EXEC that ran nothing (a nil
// reply: a WATCHed key changed).
var ErrTxAborted = errors.New("redis: transaction aborted")

// ExecError returns the first error inside an EXEC reply. Redis answers
// EXEC with one reply per queued command, and a command that failed when
// it ran (WRONGTYPE on a key of the wrong kind, say) is an error element
// of that array while EXEC itself succeeds: redigo returns it as a value,
// not as an error, so every caller of EXEC must look inside. A nil reply
// (nothing ran) is ErrTxAborted. It also checks the replies of a pipeline
// read at once with Do("") (redigo returns them as a slice, unchecked).
func ExecError(reply any) error {
	switch r := reply.(type) {
	case nil:
		return ErrTxAborted
	case []any:
		for i, v := range r {
			if e, ok := v.(redis.Error); ok {
				return fmt.Errorf("reply %d: %w", i+1, e)
			}
		}
	}
	return nil
}

// Exec sends EXEC on c (see Do) and returns its replies, or the first
// error among them (ExecError).
func Exec(ctx context.Context, c redis.Conn) ([]any, error) {
	reply, err := Do(ctx, c, "EXEC")
	if err != nil {
		return nil, err
	}
	if err := ExecError(reply); err != nil {
		return nil, err
	}
	vals, _ := reply.([]any)
	return vals, nil
}
