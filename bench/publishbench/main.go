// Command publishbench measures how fast the Go client publishes task
// messages: Client.SendTask one at a time, SendTask from 16 goroutines,
// and Broker.PublishBatch of pre-encoded messages. Run by bench/run.sh; it prints one JSON line per
// mode for bench/gendoc. With -fill it only publishes -n messages (in
// batches) to -queue and leaves them there (the backlog of the memory
// measurement).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
)

func main() {
	broker := flag.String("broker", "redis://127.0.0.1:6379/0", "broker URL")
	n := flag.Int("n", 20000, "messages per mode")
	batch := flag.Int("batch", 500, "messages per PublishBatch call")
	queue := flag.String("queue", "bench.publish", "queue to publish to (nothing consumes it)")
	fill := flag.Bool("fill", false, "only publish -n messages with PublishBatch and leave them in -queue")
	flag.Parse()
	run := run
	if *fill {
		run = fillQueue
	}
	if err := run(*broker, *queue, *n, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "publishbench:", err)
		os.Exit(1)
	}
}

func run(url, queue string, n, batch int) error {
	ctx := context.Background()
	b, be, err := credis.Dial(url)
	if err != nil {
		return err
	}
	c := celery.NewClient(b, be, celery.WithOwnership())
	defer c.Close()
	// Warm up: connection, queue declaration.
	if _, err := c.SendTask(ctx, "tasks.add", celery.Args(0, 0), celery.Queue(queue)); err != nil {
		return err
	}
	if _, err := b.Purge(ctx, queue); err != nil {
		return err
	}

	modes := []struct {
		name string
		fn   func() error
	}{
		{"sequential", func() error {
			for i := range n {
				if _, err := c.SendTask(ctx, "tasks.add", celery.Args(i, i), celery.Queue(queue)); err != nil {
					return err
				}
			}
			return nil
		}},
		{"concurrent", func() error {
			// One message per SendTask call, from 16 goroutines (as an
			// API server's handlers send): the pool pipelines nothing,
			// but round trips overlap.
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for range 16 {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= n {
							return
						}
						if _, err := c.SendTask(ctx, "tasks.add", celery.Args(i, i), celery.Queue(queue)); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			return <-errs
		}},
		{"batch", func() error { return publishAdds(ctx, c, queue, n, batch) }},
	}
	for _, m := range modes {
		start := time.Now()
		if err := m.fn(); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		elapsed := time.Since(start)
		got, err := b.Purge(ctx, queue)
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("%s: %d messages in %s, want %d", m.name, got, queue, n)
		}
		rec, _ := json.Marshal(map[string]any{"kind": "publish", "impl": "go", "mode": m.name, "n": n, "batch": batch, "rate": float64(n) / elapsed.Seconds()})
		fmt.Println(string(rec))
	}
	return nil
}

func fillQueue(url, queue string, n, batch int) error {
	c, err := credis.NewClient(url)
	if err != nil {
		return err
	}
	defer c.Close()
	return publishAdds(context.Background(), c, queue, n, batch)
}

// publishAdds publishes n tasks.add(i, i) messages to queue, batch per
// pipelined round trip, encoding included.
func publishAdds(ctx context.Context, c *celery.Client, queue string, n, batch int) error {
	pubs := make([]celery.Publishing, 0, batch)
	for i := range n {
		m, pub := c.BuildMessage("tasks.add", celery.Args(i, i), celery.Queue(queue))
		body, err := celery.EncodeMessage(m)
		if err != nil {
			return err
		}
		pub.Body = body
		pubs = append(pubs, pub)
		if len(pubs) == batch || i == n-1 {
			if err := c.Publisher().PublishBatch(ctx, pubs); err != nil {
				return err
			}
			pubs = pubs[:0]
		}
	}
	return nil
}
