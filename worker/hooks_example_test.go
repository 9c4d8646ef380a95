package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/worker"
)

// Middleware wraps every handler, like Celery's task_prerun and
// task_postrun receivers: here it times each run.
func ExampleServeMux_Use() {
	mux := worker.NewServeMux()
	mux.Use(func(next worker.Handler) worker.Handler {
		return worker.HandlerFunc(func(ctx context.Context, t *worker.Task) (any, error) {
			start := time.Now()
			res, err := next.ProcessTask(ctx, t)
			slog.Info("task ran", "task", t.Task, "id", t.ID, "took", time.Since(start), "error", err)
			return res, err
		})
	})
}

// Hooks receive what middleware cannot see: the state stored, retries,
// revocations and the worker's own start and stop (Celery's signals).
func ExampleWithHooks() {
	hooks := worker.Hooks{
		WorkerReady: func(w *worker.Worker) { slog.Info("ready", "node", w.Hostname()) },
		TaskPostrun: func(ctx context.Context, t *worker.Task, state celery.State, retval any) {
			slog.Info("task done", "id", t.ID, "state", state)
		},
		TaskFailure: func(ctx context.Context, t *worker.Task, err error) {
			var te *celery.TaskError
			if errors.As(err, &te) { // a failure the worker raised (time limit, panic...)
				slog.Error("task failed", "id", t.ID, "exc_type", te.Type)
				return
			}
			slog.Error("task failed", "id", t.ID, "error", err)
		},
		TaskRevoked: func(ctx context.Context, t *worker.Task, info worker.Revoked) {
			slog.Warn("revoked", "id", t.ID, "expired", info.Expired, "terminated", info.Terminated)
		},
	}
	_ = worker.WithHooks(hooks) // pass to worker.New
}

// Reject, Ignore and Replace end a task the way Celery's Reject, Ignore
// and Task.replace do.
func ExampleReplace() {
	mux := worker.NewServeMux()
	mux.HandleFunc("tasks.process", func(ctx context.Context, t *worker.Task) (any, error) {
		var n int
		if err := t.Arg(0, &n); err != nil {
			return nil, worker.Reject(err, false) // FAILURE Reject; not retried
		}
		if n == 0 {
			return nil, worker.Ignore() // no state stored
		}
		// The caller of this task gets the sum of the group's results.
		return nil, worker.Replace(celery.Chain(
			celery.NewGroup(celery.S("tasks.add", n, 1), celery.S("tasks.add", n, 2)),
			celery.S("tasks.xsum"),
		))
	}, worker.AcksLate(true))
}
