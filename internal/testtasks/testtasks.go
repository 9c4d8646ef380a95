// Package testtasks registers the tasks that celeriac's own tests (Go and
// Python alike) call on a Go worker: tasks.sleep, tasks.stubborn,
// tasks.fail, tasks.echo, tasks.flaky and tasks.autoretry, the same names as the Python
// interop app (integration/pyapp). The celeriac binary registers them
// beside worker/builtin's tasks; the HTTP API sends them only when
// `serve --allow-tasks` names them, since they sleep, fail or count in
// Redis on a caller's word.
package testtasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/celeriac/celeriac/internal/taskbounds"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

// FlakyKeyPrefix is the namespace of tasks.flaky's counters: the counter
// of flaky(key, n) is the Redis key FlakyKeyPrefix+key, so that a caller
// can never make the task INCR a key of the transport, the result backend
// or anything else that shares the Redis.
const FlakyKeyPrefix = "celeriac:flaky:"

// Names returns the tasks Register registers.
func Names() []string {
	return []string{"tasks.sleep", "tasks.stubborn", "tasks.fail", "tasks.echo", "tasks.flaky", "tasks.autoretry"}
}

// Counter keeps tasks.flaky's attempt counters: Incr adds one to the
// counter key, which expires ttl after its last increment, and returns
// its new value. *celery.Broker implements it on the broker's Redis.
type Counter interface {
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
}

// Register adds the test tasks to mux. counter keeps tasks.flaky's
// counters (under FlakyKeyPrefix); usually the broker. opts are
// builtin.Register's: the sleeps and results are bounded alike.
func Register(mux *worker.ServeMux, counter Counter, opts ...builtin.Option) {
	b := taskbounds.Default()
	for _, opt := range opts {
		opt(&b)
	}
	sleep := func(ctx context.Context, seconds builtin.Number) (builtin.Number, error) {
		f, _ := seconds.Float64()
		if err := b.Sleep(ctx, f); err != nil {
			return builtin.Number{}, err
		}
		return seconds, nil
	}
	mux.Handle("tasks.sleep", worker.Func(sleep, "seconds"))
	// tasks.stubborn sleeps as Python's time.sleep does: it ignores its
	// context (revoke with terminate, time limits, the shutdown timeout),
	// to test how the worker deals with handlers that do. It still
	// refuses a length over the bound.
	mux.Handle("tasks.stubborn", worker.Func(func(seconds builtin.Number) (builtin.Number, error) {
		return sleep(context.Background(), seconds)
	}, "seconds"))
	mux.Handle("tasks.fail", worker.Func(func(msg string) error {
		return worker.NewPyError("ValueError", msg)
	}, "msg"))
	mux.Handle("tasks.echo", b.Wrap(worker.HandlerFunc(func(_ context.Context, t *worker.Task) (any, error) {
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
	// tasks.autoretry is tasks.flaky with Celery's autoretry_for instead
	// of an explicit retry: it fails with ValueError (counted under
	// FlakyKeyPrefix+"auto:"+key) until called more than failures times,
	// and the worker retries it by itself, 0.2 s later each time.
	mux.Handle("tasks.autoretry", worker.Func(func(ctx context.Context, key string, failures int) (int, error) {
		n, err := counter.Incr(ctx, FlakyKeyPrefix+"auto:"+key, time.Hour)
		if err != nil {
			return 0, fmt.Errorf("autoretry %s: %w", key, err)
		}
		if n <= int64(failures) {
			return 0, worker.NewPyError("ValueError", fmt.Sprintf("autoretry %s: attempt %d of %d failing", key, n, failures))
		}
		return int(n), nil
	}, "key", "failures"), worker.AutoRetryFor(func(err error) bool {
		var pe *worker.PyError
		return errors.As(err, &pe) && pe.Type == "ValueError"
	}),
		worker.DefaultRetryDelay(200*time.Millisecond), worker.MaxRetries(10))
}
