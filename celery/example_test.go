package celery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/embedded"
	"github.com/celeriac/celeriac/internal/testtasks"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

// runWorker starts a Go worker with the built-in tasks on url.
func runWorker(ctx context.Context, url string) (stop func()) {
	broker, _ := credis.NewBroker(url, credis.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	backend := credis.NewBackendOn(broker)
	mux := worker.NewServeMux()
	builtin.Register(mux)
	testtasks.Register(mux, broker)
	w := worker.New(broker, backend, mux, worker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	return func() { cancel(); <-done; backend.Close(); broker.Close() }
}

func ExampleClient_SendTask() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	emb, err := embedded.Start("127.0.0.1:0") // or a real redis:// URL
	if err != nil {
		panic(err)
	}
	defer emb.Close()
	stop := runWorker(ctx, emb.URL())
	defer stop()

	client, err := credis.NewClient(emb.URL())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	res, err := client.SendTask(ctx, "tasks.add", celery.Args(2, 3))
	if err != nil {
		panic(err)
	}
	var sum int
	if err := res.Get(ctx, &sum); err != nil {
		panic(err)
	}
	fmt.Println(sum)

	res, _ = client.SendTask(ctx, "tasks.fail", celery.Args("bad input"))
	var te *celery.TaskError
	if err := res.Get(ctx, nil); errors.As(err, &te) {
		fmt.Println(te.Type, te.Message())
	}
	// Output:
	// 5
	// ValueError bad input
}

// Before-publish hooks change each message a client sends (Celery's
// before_task_publish); sent hooks see it published (after_task_publish).
func ExampleWithBeforePublish() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	emb, err := embedded.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer emb.Close()
	stop := runWorker(ctx, emb.URL())
	defer stop()

	client, err := credis.NewClient(emb.URL(), credis.WithClientOptions(
		celery.WithBeforePublish(func(ctx context.Context, m *celery.Message, pub *celery.Publishing) error {
			if m.Headers == nil {
				m.Headers = map[string]any{}
			}
			m.Headers["trace_id"] = "abc123" // a Python task reads self.request.trace_id
			return nil
		}),
		celery.WithSentHook(func(m *celery.Message, pub celery.Publishing) {
			fmt.Println("sent", m.Task, "with trace_id", m.Headers["trace_id"], "to", pub.Queue)
		})))
	if err != nil {
		panic(err)
	}
	defer client.Close()
	res, err := client.SendTask(ctx, "tasks.add", celery.Args(2, 3))
	if err != nil {
		panic(err)
	}
	var sum int
	if err := res.Get(ctx, &sum); err != nil {
		panic(err)
	}
	fmt.Println(sum)
	// Output:
	// sent tasks.add with trace_id abc123 to celery
	// 5
}
