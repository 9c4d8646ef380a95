// Package builtin registers the tasks the celeriac binary serves out of the
// box, so Python code can call a Go worker at once: the original stack's
// tasks.sample_task and the interop harness tasks (add, mul, xsum, sleep,
// stubborn, fail, echo, flaky).
package builtin

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/worker"
)

// FlakyKeyPrefix is the namespace of tasks.flaky's counters: the counter
// of flaky(key, n) is the Redis key FlakyKeyPrefix+key, so that a caller
// can never make the task INCR a key of the transport, the result backend
// or anything else that shares the Redis.
const FlakyKeyPrefix = "celeriac:flaky:"

// APITasks returns the built-in tasks the HTTP API may send by default:
// sample_task, add, mul and xsum. The test-only tasks (tasks.sleep,
// tasks.stubborn, tasks.fail, tasks.echo, tasks.flaky) are registered on
// the worker but
// must be allowed explicitly (serve --allow-tasks): they sleep, fail or
// touch Redis keys on a caller's word.
func APITasks() []string {
	return []string{"tasks.add", "tasks.mul", "tasks.sample_task", "tasks.xsum"}
}

// Defaults of the built-in tasks' bounds (WithMaxSleep,
// WithMaxResultBytes). DefaultMaxSleep equals the API's default
// --max-duration.
const (
	DefaultMaxSleep       = time.Hour
	DefaultMaxResultBytes = 16 << 20
)

// Option configures Register.
type Option func(*options)

type options struct {
	maxSleep  time.Duration
	maxResult int
}

// WithMaxSleep bounds how long tasks.sleep and tasks.sample_task may
// sleep; a longer (or NaN) duration fails the task with a ValueError
// before it sleeps. Default DefaultMaxSleep; a negative d means no bound.
func WithMaxSleep(d time.Duration) Option { return func(o *options) { o.maxSleep = d } }

// WithMaxResultBytes bounds the JSON size of a built-in task's result: a
// larger one fails the task with a MemoryError. tasks.add and tasks.mul
// check before they build the value (tasks.mul ["A"*100000] by 1000 would
// otherwise build 100 MB). Default DefaultMaxResultBytes; 0 or less means
// no bound.
func WithMaxResultBytes(n int) Option { return func(o *options) { o.maxResult = n } }

// Counter keeps tasks.flaky's attempt counters: Incr adds one to the
// counter key, which expires ttl after its last increment, and returns
// its new value. *redis.Broker (celery/redis) implements it on the broker's Redis.
type Counter interface {
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
}

// Register adds the built-in tasks to mux. counter keeps tasks.flaky's
// counters (under FlakyKeyPrefix); usually the broker.
func Register(mux *worker.ServeMux, counter Counter, opts ...Option) {
	o := &options{maxSleep: DefaultMaxSleep, maxResult: DefaultMaxResultBytes}
	for _, opt := range opts {
		opt(o)
	}
	mux.Handle("tasks.sample_task", worker.Func(o.sampleTask, "duration"))
	mux.Handle("tasks.add", o.bounded(worker.Func(pyAdd, "x", "y")))
	mux.Handle("tasks.mul", o.bounded(worker.Func(o.pyMul, "x", "y")))
	mux.Handle("tasks.xsum", o.bounded(worker.Func(func(numbers []Number) (Number, error) {
		sum := Number{i: new(big.Int)}
		var err error
		for _, n := range numbers {
			if sum, err = sum.Add(n); err != nil {
				return Number{}, err
			}
		}
		return sum, nil
	}, "numbers")))
	mux.Handle("tasks.sleep", worker.Func(o.sleep, "seconds"))
	mux.Handle("tasks.stubborn", worker.Func(o.stubborn, "seconds"))
	mux.Handle("tasks.fail", worker.Func(func(msg string) error {
		return worker.NewPyError("ValueError", msg)
	}, "msg"))
	mux.Handle("tasks.echo", o.bounded(worker.HandlerFunc(func(_ context.Context, t *worker.Task) (any, error) {
		return []any{t.Args, t.Kwargs}, nil
	})))
	mux.Handle("tasks.flaky", worker.Func(func(ctx context.Context, key string, failures int) (int, error) {
		n, err := counter.Incr(ctx, FlakyKeyPrefix+key, time.Hour)
		if err != nil {
			return 0, fmt.Errorf("flaky %s: %w", key, err)
		}
		if n <= int64(failures) {
			return 0, worker.Retry(fmt.Errorf("flaky %s: attempt %d of %d failing", key, n, failures), worker.In(200*time.Millisecond), worker.WithMaxRetries(failures+5))
		}
		return int(n), nil
	}, "key", "failures"))
}

func (o *options) sampleTask(ctx context.Context, duration Number) (string, error) {
	f, _ := duration.Float64()
	if err := o.sleepCtx(ctx, f); err != nil {
		return "", err
	}
	// Python's f-string shows 2 as "2" and 2.0 as "2.0".
	return "Task completed in " + duration.pyStr() + " seconds!", nil
}

func (o *options) sleep(ctx context.Context, seconds Number) (Number, error) {
	f, _ := seconds.Float64()
	if err := o.sleepCtx(ctx, f); err != nil {
		return Number{}, err
	}
	return seconds, nil
}

// stubborn sleeps as Python's time.sleep does: it ignores its context
// (revoke with terminate, time limits, the shutdown timeout), to test how
// the worker deals with handlers that do. It still refuses a length over
// the bound.
func (o *options) stubborn(seconds Number) (Number, error) {
	f, _ := seconds.Float64()
	if err := o.sleepCtx(context.Background(), f); err != nil {
		return Number{}, err
	}
	return seconds, nil
}

func (o *options) sleepCtx(ctx context.Context, seconds float64) error {
	switch {
	case seconds < 0:
		return worker.NewPyError("ValueError", "sleep length must be non-negative")
	case math.IsNaN(seconds):
		return worker.NewPyError("ValueError", "Invalid value NaN (not a number)")
	case o.maxSleep >= 0 && seconds > o.maxSleep.Seconds():
		return worker.NewPyError("ValueError", fmt.Sprintf("sleep length %s s is over this worker's limit of %s s (--max-duration)",
			strconv.FormatFloat(seconds, 'g', -1, 64), strconv.FormatFloat(o.maxSleep.Seconds(), 'g', -1, 64)))
	}
	d := time.Duration(math.MaxInt64)
	if seconds < d.Seconds() {
		d = time.Duration(seconds * float64(time.Second))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// bounded fails a task whose result encodes to more than maxResult bytes
// of JSON, before the worker stores it.
func (o *options) bounded(h worker.Handler) worker.Handler {
	if o.maxResult <= 0 {
		return h
	}
	return worker.HandlerFunc(func(ctx context.Context, t *worker.Task) (any, error) {
		res, err := h.ProcessTask(ctx, t)
		if err != nil {
			return res, err
		}
		if b, eerr := pyjson.Encode(res); eerr == nil && len(b) > o.maxResult {
			return nil, o.tooLarge(len(b))
		}
		return res, nil
	})
}

// tooLarge is the error of a result of about n bytes.
func (o *options) tooLarge(n int) error {
	return worker.NewPyError("MemoryError", fmt.Sprintf("result would be about %d bytes of JSON, over the %d-byte limit of built-in tasks' results", n, o.maxResult))
}
