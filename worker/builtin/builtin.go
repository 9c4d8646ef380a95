// Package builtin registers the tasks the celeriac binary serves out of the
// box, so Python code can call a Go worker at once: the original stack's
// tasks.sample_task and the interop harness tasks (add, mul, xsum, sleep,
// fail, echo, flaky).
package builtin

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/worker"
)

// FlakyKeyPrefix is the namespace of tasks.flaky's counters: the counter
// of flaky(key, n) is the Redis key FlakyKeyPrefix+key, so that a caller
// can never make the task INCR a key of the transport, the result backend
// or anything else that shares the Redis.
const FlakyKeyPrefix = "celeriac:flaky:"

// Register adds the built-in tasks to mux. pool is the broker's Redis,
// used by tasks.flaky for its counter (under FlakyKeyPrefix).
func Register(mux *worker.ServeMux, pool *redis.Pool) {
	mux.Handle("tasks.sample_task", worker.Func(sampleTask, "duration"))
	mux.Handle("tasks.add", worker.Func(pyAdd, "x", "y"))
	mux.Handle("tasks.mul", worker.Func(pyMul, "x", "y"))
	mux.Handle("tasks.xsum", worker.Func(func(numbers []Number) (Number, error) {
		sum := Number{i: new(big.Int)}
		var err error
		for _, n := range numbers {
			if sum, err = sum.Add(n); err != nil {
				return Number{}, err
			}
		}
		return sum, nil
	}, "numbers"))
	mux.Handle("tasks.sleep", worker.Func(sleep, "seconds"))
	mux.Handle("tasks.fail", worker.Func(func(msg string) error {
		return worker.NewPyError("ValueError", msg)
	}, "msg"))
	mux.HandleFunc("tasks.echo", func(_ context.Context, t *worker.Task) (any, error) {
		return []any{t.Args, t.Kwargs}, nil
	})
	mux.Handle("tasks.flaky", worker.Func(func(ctx context.Context, key string, failures int) (int, error) {
		c, err := pool.GetContext(ctx)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		counter := FlakyKeyPrefix + key
		c.Send("MULTI")
		c.Send("INCR", counter)
		c.Send("EXPIRE", counter, 3600)
		vals, err := redis.Values(redis.DoContext(c, ctx, "EXEC"))
		if err != nil {
			return 0, err
		}
		n, err := redis.Int(vals[0], nil)
		if err != nil { // an error inside EXEC
			return 0, fmt.Errorf("flaky %s: %w", key, err)
		}
		if n <= failures {
			return 0, worker.Retry(fmt.Errorf("flaky %s: attempt %d of %d failing", key, n, failures), worker.In(200*time.Millisecond), worker.WithMaxRetries(failures+5))
		}
		return n, nil
	}, "key", "failures"))
}

func sampleTask(ctx context.Context, duration Number) (string, error) {
	f, _ := duration.Float64()
	if err := sleepCtx(ctx, f); err != nil {
		return "", err
	}
	// Python's f-string shows 2 as "2" and 2.0 as "2.0".
	return "Task completed in " + duration.pyStr() + " seconds!", nil
}

func sleep(ctx context.Context, seconds Number) (Number, error) {
	f, _ := seconds.Float64()
	if err := sleepCtx(ctx, f); err != nil {
		return Number{}, err
	}
	return seconds, nil
}

func sleepCtx(ctx context.Context, seconds float64) error {
	if seconds < 0 {
		return worker.NewPyError("ValueError", "sleep length must be non-negative")
	}
	t := time.NewTimer(time.Duration(seconds * float64(time.Second)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
