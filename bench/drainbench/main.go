// Command drainbench measures how fast a worker drains a pre-filled queue:
// it empties the Redis database, publishes N tasks.add(i, i) messages to the
// "celery" queue, subscribes to the result channels
// (celery-task-meta-*, which the Redis result backend publishes to on every
// store, in Celery and in celeriac alike), starts -procs copies of the
// worker command given after "--", and times from the first stored result
// to the N-th. Nothing polls: completion is observed on pub/sub. Then it
// stops the workers (SIGTERM to their process groups, SIGKILL after 30 s).
// It prints one JSON line for bench/gendoc:
//
//	{"kind":"drain","impl":...,"conc":...,"procs":...,"events":...,"n":N,
//	 "startup_s":<start → first result>,"drain_s":<first → N-th result>,
//	 "rate":<(N-1)/drain_s>,"redis_calls_per_task":...,"redis_commands":{...}}
//
// redis_calls_per_task comes from INFO commandstats, reset just before the
// workers start. The workers run with CELERY_BROKER_URL and
// CELERY_RESULT_BACKEND set to the broker URL, in -dir if given.
//
// With an amqp:// broker (RabbitMQ), -results names the Redis result
// backend: the tasks are published to RabbitMQ (its "celery" queue purged
// first), the results are watched on that Redis, and the Redis figures
// are the result backend's alone; the record's kind is "amqp_drain".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	camqp "github.com/celeriac/celeriac/celery/amqp"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/rconn"
)

const queue = "celery"

type config struct {
	url, results   string
	impl, dir      string
	n, procs, conc int
	events         bool
	timeout        time.Duration
	argv           []string
}

func main() {
	var c config
	flag.StringVar(&c.url, "broker", "redis://127.0.0.1:6379/0", "broker URL (and result backend, without -results)")
	flag.StringVar(&c.results, "results", "", "Redis result backend URL (default: the broker's; required with amqp://)")
	flag.IntVar(&c.n, "n", 10000, "tasks to drain")
	flag.StringVar(&c.impl, "impl", "worker", "label: impl field of the record")
	flag.IntVar(&c.conc, "conc", 0, "concurrency of each worker (recorded only)")
	flag.BoolVar(&c.events, "events", false, "whether the workers send task events (recorded only)")
	flag.IntVar(&c.procs, "procs", 1, "worker processes to start")
	flag.StringVar(&c.dir, "dir", "", "working directory of the worker")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	c.argv = flag.Args()
	if len(c.argv) == 0 {
		fmt.Fprintln(os.Stderr, "usage: drainbench [flags] -- worker-command [args...]")
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "drainbench:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	if cfg.results == "" {
		cfg.results = cfg.url
	}
	c, err := newClient(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	rcfg, err := rconn.ParseURL(cfg.results)
	if err != nil {
		return err
	}
	pool := rconn.NewPool(rcfg, 4, 0)
	defer pool.Close()
	if err := do(pool, "FLUSHDB"); err != nil {
		return err
	}
	ids, err := prefill(ctx, c, cfg.n)
	if err != nil {
		return err
	}

	// Subscribe before any worker starts, so no result is missed.
	sub := redis.PubSubConn{Conn: pool.Get()}
	defer sub.Close()
	if err := sub.PSubscribe("celery-task-meta-*"); err != nil {
		return err
	}
	if _, ok := sub.Receive().(redis.Subscription); !ok {
		return errors.New("psubscribe not confirmed")
	}
	if err := do(pool, "CONFIG", "RESETSTAT"); err != nil {
		return err
	}
	redisCPU0, err := redisCPU(pool)
	if err != nil {
		return err
	}

	exited := make(chan error, cfg.procs)
	var cmds []*exec.Cmd
	var dones []chan struct{}
	defer func() { stop(cmds, dones) }()
	start := time.Now()
	for i := range cfg.procs {
		argv := make([]string, len(cfg.argv))
		for j, a := range cfg.argv { // distinct node names: %i is the process index
			argv[j] = strings.ReplaceAll(a, "%i", strconv.Itoa(i))
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = cfg.dir
		cmd.Env = append(os.Environ(), "CELERY_BROKER_URL="+cfg.url, "CELERY_RESULT_BACKEND="+cfg.results)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
		done := make(chan struct{})
		dones = append(dones, done)
		go func() { exited <- cmd.Wait(); close(done) }()
	}
	// A worker exiting early or the timeout ends the wait: closing the
	// subscription unblocks Receive.
	failed := make(chan error, 1)
	go func() {
		select {
		case err := <-exited:
			failed <- fmt.Errorf("a worker exited before the queue was drained: %v", err)
		case <-ctx.Done():
			failed <- fmt.Errorf("not drained: %w", ctx.Err())
		}
		sub.Conn.Close()
	}()
	seen := make(map[string]struct{}, cfg.n)
	var first, last time.Time
	var cpuAtFirst time.Duration
	for len(seen) < cfg.n {
		switch m := sub.Receive().(type) {
		case redis.Message:
			// Only final states count (a STARTED or RETRY store also publishes).
			if !strings.Contains(string(m.Data), `"status": "SUCCESS"`) && !strings.Contains(string(m.Data), `"status":"SUCCESS"`) {
				continue
			}
			if len(seen) == 0 {
				first = time.Now()
				for _, cmd := range cmds { // start-up is not counted
					cpuAtFirst += treeCPU(cmd.Process.Pid)
				}
			}
			seen[strings.TrimPrefix(m.Channel, "celery-task-meta-")] = struct{}{}
			last = time.Now()
		case error:
			select {
			case err := <-failed:
				return err
			default:
				return m
			}
		}
	}
	drain := last.Sub(first).Seconds()
	workerCPU := -cpuAtFirst
	for _, cmd := range cmds {
		workerCPU += treeCPU(cmd.Process.Pid)
	}
	redisCPU1, err := redisCPU(pool)
	if err != nil {
		return err
	}
	conn := pool.Get()
	defer conn.Close()
	calls, per, err := commandStats(conn)
	if err != nil {
		return err
	}
	if err := check(conn, ids); err != nil {
		return err
	}
	kind := "drain"
	if cfg.results != cfg.url {
		kind = "amqp_drain"
	}
	rec := map[string]any{
		"kind": kind, "impl": cfg.impl, "conc": cfg.conc, "procs": cfg.procs, "events": cfg.events, "n": cfg.n,
		"startup_s": first.Sub(start).Seconds(), "drain_s": drain, "rate": float64(cfg.n-1) / drain,
		"redis_calls_per_task": float64(calls) / float64(cfg.n), "redis_commands": per,
		// CPU per task: Redis over the whole run, the worker from its first
		// result on (start-up excluded).
		"redis_cpu_us_per_task":  (redisCPU1 - redisCPU0) * 1e6 / float64(cfg.n),
		"worker_cpu_us_per_task": float64(workerCPU.Microseconds()) / float64(cfg.n-1),
	}
	b, _ := json.Marshal(rec)
	fmt.Println(string(b))
	return nil
}

// newClient is a client of cfg's broker and result backend: on Redis, or
// on RabbitMQ with an emptied "celery" queue.
func newClient(ctx context.Context, cfg config) (*celery.Client, error) {
	if !strings.HasPrefix(cfg.url, "amqp") && !strings.HasPrefix(cfg.url, "pyamqp") {
		if cfg.results != cfg.url {
			return nil, errors.New("-results is for an amqp:// broker")
		}
		return credis.NewClient(cfg.url)
	}
	if cfg.results == cfg.url {
		return nil, errors.New("an amqp:// broker needs a Redis result backend (-results redis://host/db)")
	}
	br, err := camqp.NewBroker(cfg.url)
	if err != nil {
		return nil, err
	}
	if _, err := br.Purge(ctx, queue); err != nil {
		br.Close()
		return nil, err
	}
	be, err := credis.NewBackend(cfg.results)
	if err != nil {
		br.Close()
		return nil, err
	}
	return celery.NewClient(br, be, celery.WithOwnership()), nil
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
			if err := c.Publisher().PublishBatch(ctx, pubs); err != nil {
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
			return fmt.Errorf("result of task %d: %w", i, err)
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

// commandStats sums the calls in INFO commandstats.
func commandStats(conn redis.Conn) (int64, map[string]int64, error) {
	info, err := redis.String(conn.Do("INFO", "commandstats"))
	if err != nil {
		return 0, nil, err
	}
	per := map[string]int64{}
	var total int64
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				per[strings.TrimPrefix(name, "cmdstat_")] = n
				total += n
			}
		}
	}
	return total, per, nil
}

// redisCPU is redis-server's CPU time so far (INFO cpu), in seconds.
func redisCPU(pool *redis.Pool) (float64, error) {
	c := pool.Get()
	defer c.Close()
	info, err := redis.String(c.Do("INFO", "cpu"))
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

// treeCPU is the user+system CPU time of pid and its descendants (a
// prefork pool's children), from /proc.
func treeCPU(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	var total time.Duration
	// Fields after the command (which may hold spaces) start after ")".
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 {
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 12 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			total += time.Duration(ut+st) * time.Second / 100 // USER_HZ
		}
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for k := range strings.FieldsSeq(string(kids)) {
			if kp, err := strconv.Atoi(k); err == nil {
				total += treeCPU(kp)
			}
		}
	}
	return total
}

func do(pool *redis.Pool, cmd string, args ...any) error {
	c := pool.Get()
	defer c.Close()
	_, err := c.Do(cmd, args...)
	return err
}

// stop ends the workers: SIGTERM to each process group (warm shutdown),
// then SIGKILL to those still running after 30 s.
func stop(cmds []*exec.Cmd, dones []chan struct{}) {
	for _, cmd := range cmds {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for i, done := range dones {
		select {
		case <-done:
		case <-deadline.C:
			_ = syscall.Kill(-cmds[i].Process.Pid, syscall.SIGKILL)
			<-done
		}
		_ = syscall.Kill(-cmds[i].Process.Pid, syscall.SIGKILL) // stragglers (pool children)
	}
}
