package worker_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/worker"
)

// TestWorkerDirect: with worker_direct the worker consumes
// "<hostname>.dq2" through C.dq2, so a task sent to its hostname reaches it.
func TestWorkerDirect(t *testing.T) {
	f := start(t, nil, worker.WithWorkerDirect(true), worker.WithQueues("other"), worker.WithResultExtended(true))
	waitRedis(t, f, 1, "SCARD", "_kombu.binding.C.dq2") // the worker bound its queue
	want := []string{"other", "go@test.dq2"}
	if got := f.w.Queues(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Queues = %v, want %v", got, want)
	}
	m := wait(t, f, "tasks.add", celery.Args(2, 3), celery.Route(celery.WorkerDirectExchange, "go@test"))
	// result_extended's queue is the delivery's routing key, as Celery's.
	if m.Status != celery.StateSuccess || m.Queue != "go@test" {
		t.Fatalf("got %s, queue %q, want SUCCESS, go@test", m.Status, m.Queue)
	}
}

// TestTopicQueue: a worker binds a topic queue of its routes before
// consuming it; a message published through the exchange with a matching
// routing key reaches it, one that does not match stays out.
func TestTopicQueue(t *testing.T) {
	routes := celery.NewRoutes()
	if err := routes.DeclareQueue(celery.QueueSpec{Name: "feed_tasks", Exchange: "feeds", ExchangeType: celery.ExchangeTopic, RoutingKey: "feed.#"}); err != nil {
		t.Fatal(err)
	}
	f := start(t, nil, worker.WithRoutes(routes), worker.WithQueues("feed_tasks"))
	waitRedis(t, f, 1, "SCARD", "_kombu.binding.feeds") // the worker bound its queue
	m := wait(t, f, "tasks.add", celery.Args(1, 1), celery.Route("feeds", "feed.import.rss"), celery.ExchangeType(celery.ExchangeTopic))
	if m.Status != celery.StateSuccess {
		t.Fatalf("state %s", m.Status)
	}
	br := f.client.Publisher().(*credis.Broker)
	if _, err := f.client.SendTask(ctx(t), "tasks.add", celery.Args(1, 1), celery.Route("feeds", "news.import"), celery.ExchangeType(celery.ExchangeTopic)); err != nil {
		t.Fatal(err)
	}
	if n, err := br.QueueLength(ctx(t), "feed_tasks"); err != nil || n != 0 {
		t.Fatalf("feed_tasks holds %d (%v), want 0", n, err)
	}
}

// TestBroadcastQueue: every worker consuming a broadcast queue runs each
// message sent to it once.
func TestBroadcastQueue(t *testing.T) {
	routes := celery.NewRoutes()
	if err := routes.DeclareQueue(celery.QueueSpec{Name: "bcast_tasks", ExchangeType: celery.ExchangeFanout}); err != nil {
		t.Fatal(err)
	}
	if err := routes.Add("tasks.reload", celery.TaskRoute{Queue: "bcast_tasks"}); err != nil {
		t.Fatal(err)
	}
	var runs [2]atomic.Int32
	count := func(i int) func(*worker.ServeMux) {
		return func(mux *worker.ServeMux) {
			mux.HandleFunc("tasks.reload", func(context.Context, *worker.Task) (any, error) {
				runs[i].Add(1)
				return nil, nil
			})
		}
	}
	// Each also pops a queue: the intake's blocking pop holds the free
	// slots of the prefetch window, which a broadcast must not wait for.
	f := start(t, count(0), worker.WithRoutes(routes), worker.WithQueues("bcast_tasks", "q1"), worker.WithPrefetchMultiplier(1))
	g := startOn(t, f, count(1), worker.WithHostname("go2@test"), worker.WithRoutes(routes), worker.WithQueues("q2", "bcast_tasks"))
	if got := g.Queues(); len(got) != 2 || got[0] != "q2" || got[1] != "bcast_tasks" {
		t.Fatalf("Queues = %v", got)
	}
	// Both workers listen (and their remote-control nodes): a broadcast
	// reaches whoever listens at the moment.
	waitRedis(t, f, 4, "CLIENT", "LIST")
	c := celery.NewClient(f.client.Publisher(), nil, celery.WithRouter(routes))
	for range 3 {
		if _, err := c.SendTask(ctx(t), "tasks.reload"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for runs[0].Load() < 3 || runs[1].Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("runs %d and %d, want 3 each", runs[0].Load(), runs[1].Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // nothing more comes
	if runs[0].Load() != 3 || runs[1].Load() != 3 {
		t.Fatalf("runs %d and %d, want 3 each", runs[0].Load(), runs[1].Load())
	}
}

// waitRedis waits until Redis answers cmd args with at least n (for
// CLIENT LIST: n connections subscribed to a pattern).
func waitRedis(t *testing.T, f *fixture, n int, cmd string, args ...any) {
	t.Helper()
	c, err := redis.DialURL(f.srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		if cmd == "CLIENT" {
			var list string
			list, err = redis.String(c.Do(cmd, args...))
			got = strings.Count(list, " psub=1 ")
		} else {
			got, err = redis.Int(c.Do(cmd, args...))
		}
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %v = %d (%v), want %d", cmd, args, got, err, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startOn runs a second worker on f's Redis until the test ends.
func startOn(t *testing.T, f *fixture, register func(*worker.ServeMux), opts ...worker.Option) *worker.Worker {
	t.Helper()
	br, err := credis.NewBroker(f.srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	mux := worker.NewServeMux()
	if register != nil {
		register(mux)
	}
	w := worker.New(br, credis.NewBackendOn(br), mux, append([]worker.Option{worker.WithConcurrency(2)}, opts...)...)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		br.Close()
	})
	return w
}
