// Package builtin registers the tasks the celeriac binary serves out of the
// box, so Python code can call a Go worker at once: the original stack's
// tasks.sample_task and tasks.add, tasks.mul and tasks.xsum with Python's
// meaning. (Celery's own celery.map and celery.starmap come with every
// worker.New; the interop test tasks, tasks.sleep, tasks.fail and the
// like, are in internal/testtasks.)
package builtin

import (
	"context"
	"math/big"
	"time"

	"github.com/celeriac/celeriac/internal/taskbounds"
	"github.com/celeriac/celeriac/worker"
)

// APITasks returns the built-in tasks the HTTP API may send by default:
// sample_task, add, mul and xsum, all that Register registers. The
// celeriac binary registers the test-only tasks (tasks.sleep,
// tasks.stubborn, tasks.fail, tasks.echo, tasks.flaky) on its worker too,
// but they must be allowed explicitly (serve --allow-tasks): they sleep,
// fail or touch Redis keys on a caller's word.
func APITasks() []string {
	return []string{"tasks.add", "tasks.mul", "tasks.sample_task", "tasks.xsum"}
}

// Defaults of the built-in tasks' bounds (WithMaxSleep,
// WithMaxResultBytes). DefaultMaxSleep equals the API's default
// --max-duration.
const (
	DefaultMaxSleep       = taskbounds.DefaultMaxSleep
	DefaultMaxResultBytes = taskbounds.DefaultMaxResultBytes
)

// Option configures Register.
type Option func(*options)

// options are the bounds; an alias, so that the test tasks of the binary
// (internal/testtasks) take the same Options.
type options = taskbounds.Bounds

// WithMaxSleep bounds how long tasks.sample_task (and the binary's
// tasks.sleep) may sleep; a longer (or NaN) duration fails the task with a
// ValueError before it sleeps. Default DefaultMaxSleep; a negative d means
// no bound.
func WithMaxSleep(d time.Duration) Option { return func(o *options) { o.MaxSleep = d } }

// WithMaxResultBytes bounds the JSON size of a built-in task's result: a
// larger one fails the task with a MemoryError. tasks.add and tasks.mul
// check before they build the value (tasks.mul ["A"*100000] by 1000 would
// otherwise build 100 MB). Default DefaultMaxResultBytes; 0 or less means
// no bound.
func WithMaxResultBytes(n int) Option { return func(o *options) { o.MaxResult = n } }

// Register adds the built-in tasks to mux.
func Register(mux *worker.ServeMux, opts ...Option) {
	o := taskbounds.Default()
	for _, opt := range opts {
		opt(&o)
	}
	mux.Handle("tasks.sample_task", worker.Func(func(ctx context.Context, duration Number) (string, error) {
		return sampleTask(ctx, &o, duration)
	}, "duration"))
	mux.Handle("tasks.add", o.Wrap(worker.Func(pyAdd, "x", "y")))
	mux.Handle("tasks.mul", o.Wrap(worker.Func(func(x, y any) (any, error) { return pyMul(&o, x, y) }, "x", "y")))
	mux.Handle("tasks.xsum", o.Wrap(worker.Func(func(numbers []Number) (Number, error) {
		sum := Number{i: new(big.Int)}
		var err error
		for _, n := range numbers {
			if sum, err = sum.Add(n); err != nil {
				return Number{}, err
			}
		}
		return sum, nil
	}, "numbers")))
}

// sampleTask is the original stack's tasks.sample_task(duration): it
// sleeps, then says for how long.
func sampleTask(ctx context.Context, o *options, duration Number) (string, error) {
	f, _ := duration.Float64()
	if err := o.Sleep(ctx, f); err != nil {
		return "", err
	}
	// Python's f-string shows 2 as "2" and 2.0 as "2.0".
	return "Task completed in " + duration.pyStr() + " seconds!", nil
}
