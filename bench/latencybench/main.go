// Command latencybench measures task latency at a steady, open-loop rate:
// it starts the worker command given after "--" (which must send task
// events, e.g. `celeriac worker -E`), waits for its worker-online event,
// then sends tasks.add(i, i) at -rate per second for -d and, for each task,
// records
//
//   - start latency: the worker's task-started event timestamp minus the
//     time just before SendTask was called. The worker stamps the event
//     right before it calls the handler, on the same machine and clock, so
//     this is enqueue → task start; how fast the event itself travels back
//     does not matter.
//   - result latency: the time AsyncResult.Wait returned minus the same
//     start time: enqueue → result visible to a waiting client. Wait is
//     called as the send starts, so the client subscribes to the result
//     channel while the task is published, as Celery's apply_async does
//     (the backend's on_task_call subscribes before publishing).
//
// It prints one JSON line for bench/gendoc with percentiles and a sorted
// sample of both distributions (for the CDF plot).
//
// With -floor it measures the floor instead: the same client against a
// stand-in worker with no celeriac code (this binary again, with
// -floor-worker), which only BRPOPs a message and stores and publishes a
// SUCCESS for its id in one MULTI: no unacked record, no ack, no events.
// What the floor's latency shows is what this machine, Redis and the
// client cost; celeriac's latency minus the floor is what its worker adds.
//
// With -jitter it measures only the machine: how late a goroutine wakes
// from 1 ms sleeps, for -d (the wake-up noise every hop of a task pays).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/google/uuid"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	credis "github.com/celeriac/celeriac/celery/redis"
)

func main() {
	url := flag.String("broker", "redis://127.0.0.1:6379/0", "broker and result backend URL")
	rate := flag.Int("rate", 1000, "tasks per second")
	dur := flag.Duration("d", 10*time.Second, "measured duration")
	warm := flag.Duration("warmup", time.Second, "unmeasured warm-up at the same rate")
	impl := flag.String("impl", "go", "label: impl field of the record")
	conc := flag.Int("conc", 8, "worker concurrency (recorded; the -floor stand-in uses it)")
	evs := flag.Bool("events", true, "the worker sends task events: measure the start latency too")
	floor := flag.Bool("floor", false, "measure the floor: a stand-in worker with no celeriac code (no command needed)")
	floorWorker := flag.Bool("floor-worker", false, "internal: be the stand-in worker of -floor")
	round := flag.Int("round", 0, "label: round field of the record")
	jitter := flag.Bool("jitter", false, "measure only how late 1 ms sleeps wake, for -d")
	flag.Parse()
	if *jitter {
		printJitter(*round, *dur)
		return
	}
	if *floorWorker {
		if err := serveFloor(os.Getenv("CELERY_BROKER_URL"), *conc); err != nil {
			fmt.Fprintln(os.Stderr, "latencybench -floor-worker:", err)
			os.Exit(1)
		}
		return
	}
	argv := flag.Args()
	if *floor {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "latencybench:", err)
			os.Exit(1)
		}
		argv, *evs, *impl = []string{self, "-floor-worker", "-conc", strconv.Itoa(*conc)}, false, "floor"
	}
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "usage: latencybench [flags] -- worker-command [args...]")
		os.Exit(2)
	}
	if err := run(*url, *impl, *conc, *round, *rate, *dur, *warm, *evs, *floor, argv); err != nil {
		fmt.Fprintln(os.Stderr, "latencybench:", err)
		os.Exit(1)
	}
}

type sample struct {
	sent    time.Time
	started time.Time
	result  time.Duration
}

func run(url, impl string, conc, round, rate int, dur, warm time.Duration, withEvents, floor bool, argv []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dur+warm+2*time.Minute)
	defer cancel()
	br, be, err := credis.Dial(url)
	if err != nil {
		return err
	}
	c := celery.NewClient(br, be, celery.WithOwnership())
	defer c.Close()

	var mu sync.Mutex
	samples := map[string]*sample{}
	online := make(chan struct{})
	var onlineOnce sync.Once
	rctx, stopRecv := context.WithCancel(ctx)
	recvReady := make(chan struct{})
	recv := events.NewReceiver(br, events.WithOnReady(func(context.Context) { close(recvReady) }))
	var recvDone sync.WaitGroup
	recvDone.Go(func() {
		_ = recv.Run(rctx, func(ev events.Typed) {
			switch e := ev.(type) {
			case *events.WorkerOnlineEvent, *events.WorkerHeartbeatEvent:
				onlineOnce.Do(func() { close(online) })
			case *events.TaskStartedEvent:
				mu.Lock()
				if s := samples[e.UUID]; s != nil {
					s.started = e.Time()
				}
				mu.Unlock()
			}
		})
	})
	defer func() { stopRecv(); recvDone.Wait() }()
	select {
	case <-recvReady:
	case <-ctx.Done():
		return ctx.Err()
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "CELERY_BROKER_URL="+url, "CELERY_RESULT_BACKEND="+url)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var ready io.Reader
	if !floor {
		cmd.Stdout = os.Stderr
	} else { // the stand-in sends no events: it says "ready" on stdout
		pr, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		ready = pr
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	if ready != nil {
		go func() {
			if line, _ := bufio.NewReader(ready).ReadString('\n'); line == "ready\n" {
				onlineOnce.Do(func() { close(online) })
			}
			_, _ = io.Copy(os.Stderr, ready)
		}()
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		t := time.NewTimer(30 * time.Second)
		defer t.Stop()
		select {
		case <-exited:
		case <-t.C:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()
	select {
	case <-online:
	case <-exited:
		return errors.New("worker exited before it was online")
	case <-ctx.Done():
		return ctx.Err()
	}

	// Open loop: one send per tick, each in its own goroutine, so a slow
	// reply never delays the next send.
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	send := func(i int, record bool) {
		defer wg.Done()
		t0 := time.Now()
		s := &sample{sent: t0}
		id := uuid.NewString()
		if record {
			mu.Lock()
			samples[id] = s
			mu.Unlock()
		}
		// Wait from before the send, as Celery's client subscribes to the
		// result channel before it publishes (on_task_call).
		waited := make(chan error, 1)
		go func() {
			_, err := c.AsyncResult(id).Wait(ctx)
			waited <- err
		}()
		_, err := c.SendTask(ctx, "tasks.add", celery.Args(i, i), celery.TaskID(id))
		if err == nil {
			err = <-waited
		}
		if err != nil {
			errMu.Lock()
			firstErr = cmp(firstErr, err)
			errMu.Unlock()
			return
		}
		d := time.Since(t0)
		mu.Lock()
		s.result = d
		mu.Unlock()
	}
	tick := time.NewTicker(interval)
	total := int((warm + dur) / interval)
	nwarm := int(warm / interval)
	for i := range total {
		select {
		case <-tick.C:
		case <-exited:
			tick.Stop()
			return errors.New("worker exited during the run")
		}
		wg.Add(1)
		go send(i, i >= nwarm)
	}
	tick.Stop()
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	// Every task finished (Wait returned), so its task-started event was
	// sent before its result; give the event stream a moment to deliver
	// the last batch.
	flushed := time.NewTimer(500 * time.Millisecond)
	<-flushed.C
	stopRecv()
	recvDone.Wait()

	var start, result []float64
	missing := 0
	for _, s := range samples {
		if s.started.IsZero() {
			missing++
		} else {
			start = append(start, float64(s.started.Sub(s.sent).Microseconds())/1000)
		}
		result = append(result, float64(s.result.Microseconds())/1000)
	}
	slices.Sort(result)
	rec := map[string]any{
		"kind": "latency", "impl": impl, "conc": conc, "rate": rate, "n": len(samples), "events": withEvents, "round": round,
		"result_ms": pct(result), "result_cdf": cdf(result),
	}
	if withEvents {
		if len(start) == 0 {
			return errors.New("no task-started events (does the worker send task events, -E?)")
		}
		slices.Sort(start)
		rec["missing_started"] = missing
		rec["start_ms"], rec["start_cdf"] = pct(start), cdf(start)
	}
	b, _ := json.Marshal(rec)
	fmt.Println(string(b))
	return nil
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func pct(sorted []float64) map[string]float64 {
	q := func(p float64) float64 { return sorted[int(float64(len(sorted)-1)*p)] }
	return map[string]float64{"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999), "max": sorted[len(sorted)-1]}
}

// cdf returns 201 quantiles (0, 0.5%, ..., 100%).
func cdf(sorted []float64) []float64 {
	out := make([]float64, 201)
	for i := range out {
		out[i] = sorted[int(float64(len(sorted)-1)*float64(i)/200)]
	}
	return out
}

// serveFloor is the -floor stand-in worker: one goroutine BRPOPs the
// default queue and hands each message's task id to conc goroutines, each
// with its own connection, that store and publish a SUCCESS for it in one
// MULTI, as the result backend's readers expect it. It is concurrent like
// the worker it stands in for, so that one slow round trip does not hold
// up the tasks behind it. Only redigo, no celeriac code.
func serveFloor(url string, conc int) error {
	pop, err := redis.DialURL(url)
	if err != nil {
		return err
	}
	defer pop.Close()
	ids := make(chan string, 1024)
	errs := make(chan error, conc)
	for range max(conc, 1) {
		c, err := redis.DialURL(url)
		if err != nil {
			return err
		}
		defer c.Close()
		go func() {
			for id := range ids {
				meta := `{"status": "SUCCESS", "result": 0, "traceback": null, "children": [], "date_done": null, "task_id": "` + id + `"}`
				key := "celery-task-meta-" + id
				c.Send("MULTI")
				c.Send("SETEX", key, 600, meta)
				c.Send("PUBLISH", key, meta)
				if _, err := c.Do("EXEC"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	fmt.Println("ready")
	for {
		select {
		case err := <-errs:
			return err
		default:
		}
		reply, err := redis.ByteSlices(pop.Do("BRPOP", "celery", 1))
		if errors.Is(err, redis.ErrNil) {
			continue
		}
		if err != nil {
			return err
		}
		var env struct {
			Headers struct {
				ID string `json:"id"`
			} `json:"headers"`
		}
		if err := json.Unmarshal(reply[1], &env); err != nil || env.Headers.ID == "" {
			return fmt.Errorf("no task id in %.100q", reply[1])
		}
		ids <- env.Headers.ID
	}
}

// printJitter sleeps 1 ms at a time for d and prints how late each wake-up
// was. It is a measurement of the machine, and the one place this module
// sleeps in a loop on purpose.
func printJitter(round int, d time.Duration) {
	var late []float64
	for end := time.Now().Add(d); time.Now().Before(end); {
		t := time.Now()
		time.Sleep(time.Millisecond)
		late = append(late, float64(time.Since(t)-time.Millisecond)/1e6)
	}
	slices.Sort(late)
	b, _ := json.Marshal(map[string]any{"kind": "jitter", "round": round, "n": len(late), "oversleep_ms": pct(late)})
	fmt.Println(string(b))
}
