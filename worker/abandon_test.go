package worker_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/logbuf"
	"github.com/celeriac/celeriac/worker"
)

// A handler that ignores its context is abandoned at the hard time limit:
// its slot runs the next task at once, the gauge counts it until it
// returns, and one warning is logged at each end. goleak (TestMain)
// checks that the handler's goroutine is gone once it returned.
func TestAbandonedHandler(t *testing.T) {
	var logs logbuf.Buffer
	release := make(chan struct{})
	reg := prometheus.NewRegistry()
	f := start(t, func(m *worker.ServeMux) {
		m.HandleFunc("t.stubborn", func(context.Context, *worker.Task) (any, error) {
			<-release // ignores ctx
			return "late", nil
		})
	}, worker.WithConcurrency(1), worker.WithRegisterer(reg),
		worker.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	defer close(release)

	m := wait(t, f, "t.stubborn", celery.TimeLimits(200*time.Millisecond, 0))
	if m.Status != celery.StateFailure || m.Err().(*celery.TaskError).Type != "TimeLimitExceeded" {
		t.Fatalf("stubborn task: %s %v", m.Status, m.Result)
	}
	// The only slot is free again although the handler still runs.
	if m := wait(t, f, "tasks.add", celery.Args(2, 3)); m.Status != celery.StateSuccess {
		t.Fatalf("next task: %s %v", m.Status, m.Result)
	}
	if n := f.w.Abandoned(); n != 1 {
		t.Errorf("Abandoned() = %d, want 1", n)
	}
	if n := gauge(t, reg); n != 1 {
		t.Errorf("gauge = %v, want 1", n)
	}
	if n := strings.Count(logs.String(), "task handler abandoned"); n != 1 {
		t.Errorf("%d abandonment warnings, want 1:\n%s", n, logs.String())
	}

	release <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for f.w.Abandoned() != 0 || !strings.Contains(logs.String(), "abandoned task handler returned") {
		if time.Now().After(deadline) {
			t.Fatalf("abandoned handler not reported as returned (count %d):\n%s", f.w.Abandoned(), logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := gauge(t, reg); n != 0 {
		t.Errorf("gauge = %v after return, want 0", n)
	}
	// A handler that obeys its limit is never reported.
	if m := wait(t, f, "tasks.add", celery.Args(1, 1), celery.TimeLimits(time.Second, 0)); m.Status != celery.StateSuccess {
		t.Fatalf("add: %s", m.Status)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Errorf("%d warnings, want 2 (abandoned, returned):\n%s", n, logs.String())
	}
}

func gauge(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "celeriac_worker_abandoned_handlers" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("celeriac_worker_abandoned_handlers not registered")
	return 0
}

// At the shutdown timeout the worker gives up on running tasks: a handler
// that ignores its context no longer blocks Run, and with acks-late its
// message goes back to the queue, as does that of a handler that returned
// a cancellation error. An early-acknowledged task is not run again (at
// most once). Each given-up id is logged.
func TestShutdownTimeoutGivesUp(t *testing.T) {
	var logs logbuf.Buffer
	release := make(chan struct{})
	started := make(chan string, 3)
	stubborn := func(_ context.Context, tk *worker.Task) (any, error) {
		started <- tk.ID
		<-release // ignores ctx
		return "late", nil
	}
	f := start(t, func(m *worker.ServeMux) {
		m.HandleFunc("t.stubborn", stubborn)
		m.HandleFunc("t.stubborn_early", stubborn, worker.AcksLate(false))
		m.HandleFunc("t.obedient", func(ctx context.Context, tk *worker.Task) (any, error) {
			started <- tk.ID
			<-ctx.Done()
			return nil, ctx.Err()
		})
	}, worker.WithConcurrency(3), worker.WithAcksLate(true), worker.WithShutdownTimeout(300*time.Millisecond),
		worker.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	defer close(release)
	ids := map[string]string{}
	for _, name := range []string{"t.stubborn", "t.stubborn_early", "t.obedient"} {
		r, err := f.client.SendTask(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = r.ID
	}
	for range 3 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("tasks did not start")
		}
	}
	stopped := make(chan struct{})
	go func() { f.stop(t); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not return after the shutdown timeout:\n%s", logs.String())
	}
	c := f.srv.Dial(t)
	queued, err := redis.Strings(c.Do("LRANGE", celery.DefaultQueue, 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	var back []string
	for _, raw := range queued {
		var env struct {
			Headers struct{ ID string } `json:"headers"`
		}
		if err := json.Unmarshal([]byte(raw), &env); err != nil {
			t.Fatal(err)
		}
		back = append(back, env.Headers.ID)
	}
	slices.Sort(back)
	want := []string{ids["t.stubborn"], ids["t.obedient"]}
	slices.Sort(want)
	if !slices.Equal(back, want) {
		t.Errorf("queue after shutdown holds %v, want the acks-late ones %v", back, want)
	}
	if n, err := redis.Int(c.Do("HLEN", "unacked")); err != nil || n != 0 {
		t.Errorf("unacked holds %d messages after shutdown (%v)", n, err)
	}
	log := logs.String()
	for _, id := range ids {
		if !strings.Contains(log, id) {
			t.Errorf("the log does not name task %s:\n%s", id, log)
		}
	}
	if !strings.Contains(log, "shutdown timeout: gave up on running tasks") {
		t.Errorf("no give-up line:\n%s", log)
	}
}
