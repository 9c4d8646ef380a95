// Command drainbench measures how fast a worker drains a pre-filled queue:
// it empties the Redis database, publishes N tasks.add(i, i) messages to the
// "celery" queue, starts the worker command given after "--", and times
// until the queue is empty and all N results (celery-task-meta-<id>) exist.
// Then it stops the worker (SIGTERM to its process group, SIGKILL after
// 30 s). Run by bench/drain.sh; it prints one line:
//
//	<name> n=<N> startup_s=<worker start → first message taken> drain_s=<first taken → all results> rate=<N / drain_s>
//
// The worker runs with CELERY_BROKER_URL and CELERY_RESULT_BACKEND set to
// the broker URL, in -dir if given.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
)

const queue = "celery"

func main() {
	url := flag.String("broker", "redis://127.0.0.1:6379/0", "broker and result backend URL")
	n := flag.Int("n", 10000, "tasks to drain")
	name := flag.String("name", "worker", "label for the output line")
	dir := flag.String("dir", "", "working directory of the worker")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: drainbench [flags] -- worker-command [args...]")
		os.Exit(2)
	}
	if err := run(*url, *name, *dir, *n, *timeout, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "drainbench:", err)
		os.Exit(1)
	}
}

func run(url, name, dir string, n int, timeout time.Duration, argv []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := celery.NewClient(url)
	if err != nil {
		return err
	}
	defer c.Close()
	pool := c.Broker().Pool()
	if err := waitRedis(ctx, c.Broker()); err != nil {
		return err
	}
	if err := do(pool, "FLUSHDB"); err != nil {
		return err
	}
	ids, err := prefill(ctx, c, n)
	if err != nil {
		return err
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CELERY_BROKER_URL="+url, "CELERY_RESULT_BACKEND="+url)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer stop(cmd, exited)

	conn := pool.Get()
	defer conn.Close()
	// The worker's first BRPOP: the queue gets shorter.
	var first time.Time
	for first.IsZero() {
		l, err := redis.Int(conn.Do("LLEN", queue))
		if err != nil {
			return err
		}
		if l < n {
			first = time.Now()
			break
		}
		if err := pause(ctx, exited, time.Millisecond); err != nil {
			return err(waitErr)
		}
	}
	// Then: queue empty and every result stored.
	keys := make([]any, len(ids))
	for i, id := range ids {
		keys[i] = "celery-task-meta-" + id
	}
	for {
		l, err := redis.Int(conn.Do("LLEN", queue))
		if err != nil {
			return err
		}
		if l == 0 {
			have, err := redis.Int(conn.Do("EXISTS", keys...))
			if err != nil {
				return err
			}
			if have == n {
				break
			}
		}
		if err := pause(ctx, exited, 5*time.Millisecond); err != nil {
			return err(waitErr)
		}
	}
	end := time.Now()
	drain := end.Sub(first).Seconds()
	if err := check(conn, ids); err != nil {
		return err
	}
	fmt.Printf("%s n=%d startup_s=%.3f drain_s=%.3f rate=%.0f\n", name, n, first.Sub(start).Seconds(), drain, float64(n)/drain)
	return nil
}

// prefill publishes n tasks.add(i, i) in batches of 1000.
func prefill(ctx context.Context, c *celery.Client, n int) ([]string, error) {
	ids := make([]string, 0, n)
	pubs := make([]celery.Publishing, 0, 1000)
	for i := range n {
		m, pub := c.BuildMessage("tasks.add", celery.Args(i, i), celery.Queue(queue))
		body, err := celery.EncodeMessage(m)
		if err != nil {
			return nil, err
		}
		pub.Body = body
		pubs = append(pubs, pub)
		ids = append(ids, m.ID)
		if len(pubs) == cap(pubs) || i == n-1 {
			if err := c.Broker().PublishBatch(ctx, pubs); err != nil {
				return nil, err
			}
			pubs = pubs[:0]
		}
	}
	return ids, nil
}

// check samples results: all SUCCESS with the right sum.
func check(conn redis.Conn, ids []string) error {
	for i := 0; i < len(ids); i += max(1, len(ids)/100) {
		raw, err := redis.Bytes(conn.Do("GET", "celery-task-meta-"+ids[i]))
		if err != nil {
			return err
		}
		m, err := celery.DecodeResultMeta(raw)
		if err != nil {
			return err
		}
		var got int
		if m.Status != celery.StateSuccess || m.Decode(&got) != nil || got != 2*i {
			return fmt.Errorf("task %d (%s): %s %v, want SUCCESS %d", i, ids[i], m.Status, m.Result, 2*i)
		}
	}
	return nil
}

func waitRedis(ctx context.Context, b *celery.Broker) error {
	for {
		err := b.Ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func do(pool *redis.Pool, cmd string, args ...any) error {
	c := pool.Get()
	defer c.Close()
	_, err := c.Do(cmd, args...)
	return err
}

// pause sleeps for d; it returns a function building the error when the
// context ended or the worker exited first.
func pause(ctx context.Context, exited <-chan struct{}, d time.Duration) func(error) error {
	select {
	case <-ctx.Done():
		return func(error) error { return fmt.Errorf("not drained: %w", ctx.Err()) }
	case <-exited:
		return func(waitErr error) error {
			return fmt.Errorf("worker exited before the queue was drained: %v", waitErr)
		}
	case <-time.After(d):
		return nil
	}
}

// stop ends the worker: SIGTERM to its process group (warm shutdown), then
// SIGKILL after 30 s.
func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers (pool children)
}
