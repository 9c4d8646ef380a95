// Command asynqbench runs the asynq side of make bench: the same trivial
// task as celeriac's tasks.add(x, y), enqueued and processed by
// github.com/hibiken/asynq on the same redis-server. It lives in its own Go
// module so that celeriac itself does not depend on asynq.
//
//	asynqbench -redis URL -mode publish -n N          # sequential Client.Enqueue
//	asynqbench -redis URL -mode drain -n N -c C [-strict] [-warmup W]
//	                                                  # pre-filled queue, Server with Concurrency C
//	asynqbench -redis URL -mode latency -rate R -d D -c C  # enqueue → handler start at a steady rate
//
// Each run prints one JSON line (the records bench/gendoc reads). For a
// fair comparison with celeriac's results-on drain, every task is enqueued
// with Retention, and the handler writes its result with ResultWriter, so
// the sum is stored in Redis as Celery's result backend would store it.
//
// asynq is measured at its best: bench/run.sh sweeps its Concurrency and
// its queue setting (weighted Queues, or StrictPriority), and bench/gendoc
// compares celeriac with the fastest run. A drain times only the steady
// state: the first W tasks (-warmup) start the server's goroutines and
// fill go-redis' connection pool, and the clock starts when they are done.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

func main() {
	url := flag.String("redis", "redis://127.0.0.1:6379/0", "redis URL")
	mode := flag.String("mode", "drain", "drain or publish")
	n := flag.Int("n", 10000, "tasks")
	conc := flag.Int("c", 8, "server concurrency (drain, latency)")
	strict := flag.Bool("strict", false, "Config.StrictPriority (drain)")
	warmup := flag.Int("warmup", 1000, "tasks run before the clock starts (drain)")
	rate := flag.Int("rate", 1000, "tasks per second (latency)")
	dur := flag.Duration("d", 10*time.Second, "measured duration (latency)")
	flag.Parse()
	var err error
	switch *mode {
	case "drain":
		err = drain(*url, drainConfig{n: *n, conc: *conc, strict: *strict, warmup: max(*warmup, 1)})
	case "publish":
		err = publish(*url, *n)
	case "latency":
		err = latency(*url, *conc, *rate, *dur)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "asynqbench:", err)
		os.Exit(1)
	}
}

type addArgs struct {
	X int `json:"x"`
	Y int `json:"y"`
}

func newTask(i int) *asynq.Task {
	p, _ := json.Marshal(addArgs{i, i})
	return asynq.NewTask("tasks.add", p, asynq.Retention(time.Hour), asynq.MaxRetry(0))
}

func emit(rec map[string]any) {
	b, _ := json.Marshal(rec)
	fmt.Println(string(b))
}

// openFlushed parses url for asynq and returns a plain client on the same
// database, emptied so that each measurement starts from nothing.
func openFlushed(ctx context.Context, url string) (asynq.RedisConnOpt, *redis.Client, error) {
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return nil, nil, err
	}
	ro := opt.(asynq.RedisClientOpt)
	rdb := redis.NewClient(&redis.Options{Addr: ro.Addr, DB: ro.DB})
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return opt, rdb, nil
}

func publish(url string, n int) error {
	ctx := context.Background()
	opt, rdb, err := openFlushed(ctx, url)
	if err != nil {
		return err
	}
	defer rdb.Close()
	c := asynq.NewClient(opt)
	defer c.Close()
	if _, err := c.Enqueue(newTask(-1)); err != nil { // warm up
		return err
	}
	start := time.Now()
	for i := range n {
		if _, err := c.Enqueue(newTask(i)); err != nil {
			return err
		}
	}
	el := time.Since(start).Seconds()
	emit(map[string]any{"kind": "publish", "impl": "asynq", "mode": "sequential", "n": n, "rate": float64(n) / el})
	return rdb.FlushDB(ctx).Err()
}

// drainConfig is one drain measurement: n timed tasks after warmup
// untimed ones, with the server's Concurrency and StrictPriority.
type drainConfig struct {
	n, conc, warmup int
	strict          bool
}

func drain(url string, cfg drainConfig) error {
	n, conc, total := cfg.n, cfg.conc, cfg.n+cfg.warmup
	ctx := context.Background()
	opt, rdb, err := openFlushed(ctx, url)
	if err != nil {
		return err
	}
	defer rdb.Close()
	// Pre-fill from 16 goroutines: asynq has no batch enqueue.
	c := asynq.NewClient(opt)
	var next atomic.Int64
	var wg sync.WaitGroup
	var ferr atomic.Value
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				if _, err := c.Enqueue(newTask(i)); err != nil {
					ferr.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c.Close()
	if e, ok := ferr.Load().(error); ok {
		return fmt.Errorf("prefill: %w", e)
	}
	runtime.GC() // the prefill's garbage is not the server's
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		return err
	}

	var done atomic.Int64
	var first, last atomic.Int64
	finished := make(chan struct{})
	h := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var a addArgs
		if err := json.Unmarshal(t.Payload(), &a); err != nil {
			return err
		}
		if _, err := t.ResultWriter().Write(strconv.AppendInt(nil, int64(a.X+a.Y), 10)); err != nil {
			return err
		}
		switch done.Add(1) {
		case int64(cfg.warmup): // the clock starts after the warm-up
			first.Store(time.Now().UnixNano())
		case int64(total):
			last.Store(time.Now().UnixNano())
			close(finished)
		}
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:    conc,
		Queues:         map[string]int{"default": 1},
		StrictPriority: cfg.strict,
		LogLevel:       asynq.ErrorLevel,
	})
	cpu0, err := redisCPU(ctx, rdb)
	if err != nil {
		return err
	}
	self0 := selfCPU()
	start := time.Now()
	if err := srv.Start(h); err != nil {
		return err
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Minute):
		srv.Shutdown()
		return fmt.Errorf("not drained: %d of %d", done.Load(), total)
	}
	// The last handler returned before asynq marked its task complete:
	// wait for the final bookkeeping before stopping, so it is counted.
	srv.Shutdown()
	self1 := selfCPU()
	cpu1, err := redisCPU(ctx, rdb)
	if err != nil {
		return err
	}
	stats, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return err
	}
	calls, per := commandCalls(stats)
	drainS := float64(last.Load()-first.Load()) / 1e9
	queues := "weighted"
	if cfg.strict {
		queues = "strict"
	}
	// Costs per task are over every task the server ran, warm-up included.
	emit(map[string]any{
		"kind": "drain", "impl": "asynq", "conc": conc, "n": n, "warmup": cfg.warmup, "queues": queues, "events": false,
		"startup_s": float64(first.Load()-start.UnixNano()) / 1e9,
		"drain_s":   drainS, "rate": float64(n) / drainS,
		"redis_calls_per_task": float64(calls) / float64(total), "redis_commands": per,
		"redis_cpu_us_per_task":  (cpu1 - cpu0) * 1e6 / float64(total),
		"worker_cpu_us_per_task": float64((self1 - self0).Microseconds()) / float64(total),
	})
	return rdb.FlushDB(ctx).Err()
}

// commandCalls sums the calls in INFO commandstats; per maps each command
// to its calls.
func commandCalls(info string) (int64, map[string]int64) {
	per := map[string]int64{}
	var total int64
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				c, _ := strconv.ParseInt(v, 10, 64)
				per[strings.TrimPrefix(name, "cmdstat_")] = c
				total += c
			}
		}
	}
	return total, per
}

// redisCPU is redis-server's CPU time so far (INFO cpu), in seconds.
func redisCPU(ctx context.Context, rdb *redis.Client) (float64, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return total, nil
}

// selfCPU is this process's user+system CPU time (the asynq server runs
// in it; nothing else does during the drain).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// latency enqueues at a steady rate (open loop) and records, in the
// handler, the time since the enqueue started (carried in the payload).
// asynq has no push notification of results, so only the start is
// measured.
func latency(url string, conc, rate int, dur time.Duration) error {
	ctx := context.Background()
	opt, rdb, err := openFlushed(ctx, url)
	if err != nil {
		return err
	}
	defer rdb.Close()
	warm := time.Second
	interval := time.Second / time.Duration(rate)
	total := int((warm + dur) / interval)
	nwarm := int(warm / interval)
	lat := make([]float64, total)
	var got atomic.Int64
	finished := make(chan struct{})
	h := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		now := time.Now().UnixNano()
		var p struct{ I, T0 int64 }
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return err
		}
		lat[p.I] = float64(now-p.T0) / 1e6
		if got.Add(1) == int64(total) {
			close(finished)
		}
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: conc, Queues: map[string]int{"default": 1}, LogLevel: asynq.ErrorLevel})
	if err := srv.Start(h); err != nil {
		return err
	}
	defer srv.Shutdown()
	c := asynq.NewClient(opt)
	defer c.Close()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var wg sync.WaitGroup
	var ferr atomic.Value
	for i := range total {
		<-tick.C
		wg.Go(func() {
			p, _ := json.Marshal(struct{ I, T0 int64 }{int64(i), time.Now().UnixNano()})
			if _, err := c.Enqueue(asynq.NewTask("tasks.add", p, asynq.MaxRetry(0))); err != nil {
				ferr.Store(err)
			}
		})
	}
	wg.Wait()
	if e, ok := ferr.Load().(error); ok {
		return e
	}
	select {
	case <-finished:
	case <-time.After(time.Minute):
		return fmt.Errorf("only %d of %d tasks ran", got.Load(), total)
	}
	start := lat[nwarm:]
	slices.Sort(start)
	q := func(p float64) float64 { return start[int(float64(len(start)-1)*p)] }
	cdf := make([]float64, 201)
	for i := range cdf {
		cdf[i] = start[int(float64(len(start)-1)*float64(i)/200)]
	}
	emit(map[string]any{
		"kind": "latency", "impl": "asynq", "conc": conc, "rate": rate, "n": len(start),
		"start_ms":  map[string]float64{"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999), "max": start[len(start)-1]},
		"start_cdf": cdf,
	})
	return rdb.FlushDB(ctx).Err()
}
