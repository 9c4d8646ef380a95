package worker_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/redistest"
	"github.com/celeriac/celeriac/internal/testtasks"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

// BenchmarkDrain measures tasks.add end to end on a real redis-server: a
// pre-filled queue drained by an in-process worker, results stored. It
// reports Redis' CPU time and commands per task too (redis-µs/op,
// redis-calls/op).
func BenchmarkDrain(b *testing.B) {
	srv := redistest.Start(b)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	client, err := credis.NewClient(srv.URL(0), credis.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	pubs := make([]celery.Publishing, 0, b.N)
	ids := make([]string, 0, b.N)
	for i := range b.N {
		m, p := client.BuildMessage("tasks.add", celery.Args(i, i))
		if p.Body, err = celery.EncodeMessage(m); err != nil {
			b.Fatal(err)
		}
		pubs = append(pubs, p)
		ids = append(ids, m.ID)
	}
	for i := 0; i < len(pubs); i += 1000 {
		if err := client.Publisher().(*credis.Broker).PublishBatch(ctx, pubs[i:min(i+1000, len(pubs))]); err != nil {
			b.Fatal(err)
		}
	}
	mux := worker.NewServeMux()
	builtin.Register(mux)
	testtasks.Register(mux, client.Publisher().(*credis.Broker))
	w := worker.New(client.Publisher().(*credis.Broker), client.Results().(*credis.Backend), mux, worker.WithConcurrency(8), worker.WithLogger(quiet))
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := srv.ResetUsage(b)
	b.ResetTimer()
	go func() { done <- w.Run(wctx) }()
	// The last task's result implies the queue is drained (FIFO).
	if _, err := client.AsyncResult(ids[len(ids)-1]).Wait(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	// Redis' share of the work: its CPU time and the commands it ran.
	u := srv.UsageSince(b, start)
	b.ReportMetric(float64(u.CPU.Microseconds())/float64(b.N), "redis-µs/op")
	b.ReportMetric(float64(u.Calls)/float64(b.N), "redis-calls/op")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
