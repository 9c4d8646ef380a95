package worker_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/worker"
)

// A complete worker: Python's app.send_task("tasks.add", (2, 3)) reaches it.
func Example() {
	broker, err := credis.NewBroker("redis://localhost:6379/0")
	if err != nil {
		panic(err)
	}
	backend := credis.NewBackendOn(broker)
	mux := worker.NewServeMux()
	mux.Handle("tasks.add", worker.Func(func(ctx context.Context, x, y int) (int, error) {
		return x + y, nil
	}, "x", "y"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	w := worker.New(broker, backend, mux, worker.WithConcurrency(8),
		worker.WithMaxMessageSize(8<<20)) // reject task messages over 8 MiB
	if err := w.Run(ctx); err != nil {
		fmt.Println(err)
	}
}

func ExampleRetry() {
	mux := worker.NewServeMux()
	mux.HandleFunc("tasks.fetch", func(ctx context.Context, t *worker.Task) (any, error) {
		var url string
		if err := t.Arg(0, &url); err != nil {
			return nil, err
		}
		if err := fetch(ctx, url); err != nil {
			// Runs again in 5 s with retries+1; after 3 retries the
			// error is stored as the FAILURE.
			return nil, worker.Retry(err, worker.In(5e9))
		}
		return "ok", nil
	}, worker.MaxRetries(3))
	fmt.Println(mux.Names())
	// Output: [tasks.fetch]
}

func fetch(context.Context, string) error { return nil }

func ExampleUpdateState() {
	mux := worker.NewServeMux()
	mux.HandleFunc("tasks.import", func(ctx context.Context, t *worker.Task) (any, error) {
		for i := 1; i <= 3; i++ {
			// Python's AsyncResult(id).state == "PROGRESS", .info == {...}
			if err := worker.UpdateState(ctx, "PROGRESS", map[string]any{"current": i, "total": 3}); err != nil {
				return nil, err
			}
		}
		return "imported", nil
	})
	fmt.Println(mux.Names())
	// Output: [tasks.import]
}

func ExampleNewPyError() {
	err := worker.NewPyError("ValueError", "negative amount")
	fmt.Println(err)
	// Output: ValueError: negative amount
}
