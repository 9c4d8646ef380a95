package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/redistest"
	"github.com/celeriac/celeriac/internal/testtasks"
	"github.com/celeriac/celeriac/worker"
	"github.com/celeriac/celeriac/worker/builtin"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type fixture struct {
	srv    *redistest.Server
	client *celery.Client
	cancel context.CancelFunc
	done   chan error
	w      *worker.Worker
}

// start runs a worker with the built-ins plus register's handlers.
func start(t *testing.T, register func(*worker.ServeMux), opts ...worker.Option) *fixture {
	t.Helper()
	f := &fixture{srv: redistest.Start(t)}
	var err error
	if f.client, err = credis.NewClient(f.srv.URL(0)); err != nil {
		t.Fatal(err)
	}
	mux := worker.NewServeMux()
	builtin.Register(mux)
	testtasks.Register(mux, f.client.Publisher().(*credis.Broker))
	if register != nil {
		register(mux)
	}
	f.w = worker.New(f.client.Publisher().(*credis.Broker), f.client.Results().(*credis.Backend), mux, append([]worker.Option{worker.WithConcurrency(4), worker.WithHostname("go@test")}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.done = make(chan error, 1)
	go func() { f.done <- f.w.Run(ctx) }()
	t.Cleanup(func() {
		f.stop(t)
		f.client.Close()
	})
	return f
}

func (f *fixture) stop(t *testing.T) {
	if f.cancel == nil {
		return
	}
	f.cancel()
	f.cancel = nil
	if err := <-f.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func wait(t *testing.T, f *fixture, name string, opts ...celery.SendOption) *celery.ResultMeta {
	t.Helper()
	r, err := f.client.SendTask(ctx(t), name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.Wait(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBuiltins(t *testing.T) {
	f := start(t, nil, worker.WithResultExtended(true))
	for _, tc := range []struct {
		name string
		args []any
		want string
	}{
		{"tasks.add", []any{2, 3}, "5"},
		{"tasks.add", []any{0.5, 1}, "1.5"},
		{"tasks.add", []any{"123456789012345678901234567890", 1}, ""},
		{"tasks.mul", []any{6, 7}, "42"},
		{"tasks.xsum", []any{[]any{1, 2, 3}}, "6"},
		{"tasks.sleep", []any{0.01}, "0.01"},
		{"tasks.echo", []any{1, "é"}, "[[1, 'é'], {}]"},
		{"tasks.sample_task", []any{0}, "'Task completed in 0 seconds!'"},
	} {
		m := wait(t, f, tc.name, celery.Args(tc.args...))
		if tc.want == "" {
			if m.Status != celery.StateFailure {
				t.Errorf("%s%v = %v, want FAILURE", tc.name, tc.args, m.Status)
			}
			continue
		}
		if m.Status != celery.StateSuccess || pyRepr(m.Result) != tc.want {
			t.Errorf("%s%v = %v %v, want %s", tc.name, tc.args, m.Status, pyRepr(m.Result), tc.want)
		}
		if m.Name != tc.name || m.Worker != "go@test" || m.Queue != "celery" {
			t.Errorf("extended fields: %+v", m)
		}
	}
	// result_extended is off by default, as in Celery.
	plain := start(t, nil)
	if m := wait(t, plain, "tasks.add", celery.Args(1, 2)); m.Name != "" || m.Args != nil || m.Worker != "" || m.Queue != "" {
		t.Errorf("result_extended off: extended fields stored: %+v", m)
	}
	var te *celery.TaskError
	r, _ := f.client.SendTask(ctx(t), "tasks.fail", celery.Args("nope"))
	if err := r.Get(ctx(t), nil); !errors.As(err, &te) || te.Type != "ValueError" || te.Message() != "nope" || te.Traceback == "" {
		t.Errorf("tasks.fail: %v", err)
	}
	m := wait(t, f, "tasks.flaky", celery.Args("flaky-key", 2))
	if m.Status != celery.StateSuccess || pyRepr(m.Result) != "3" || m.Retries != 2 {
		t.Errorf("tasks.flaky: %+v", m)
	}
	// Its counter lives in its own namespace: a caller naming a key of
	// the transport (the default queue) cannot touch it.
	if n, _ := redis.Int(f.srv.Do(t, "GET", testtasks.FlakyKeyPrefix+"flaky-key"), nil); n != 3 {
		t.Errorf("flaky counter %d, want 3", n)
	}
	m = wait(t, f, "tasks.flaky", celery.Args("celery", 0))
	if typ, _ := redis.String(f.srv.Do(t, "TYPE", "celery"), nil); m.Status != celery.StateSuccess || typ == "string" {
		t.Errorf("tasks.flaky(\"celery\", 0): %v, the queue key is a %s", m.Status, typ)
	}
	m = wait(t, f, "tasks.unknown")
	if m.Status != celery.StateFailure || m.Err().(*celery.TaskError).Type != "NotRegistered" {
		t.Errorf("unknown task: %+v", m)
	}
}

func pyRepr(v any) string { return worker.ReprOf(v) }

func TestRetryPanicAndLimits(t *testing.T) {
	var attempts atomic.Int32
	f := start(t, func(mux *worker.ServeMux) {
		mux.HandleFunc("t.always_retry", func(ctx context.Context, task *worker.Task) (any, error) {
			attempts.Add(1)
			return nil, worker.Retry(nil, worker.In(10*time.Millisecond))
		}, worker.MaxRetries(2))
		mux.HandleFunc("t.panic", func(context.Context, *worker.Task) (any, error) { panic("kaboom") })
		mux.HandleFunc("t.soft", func(ctx context.Context, _ *worker.Task) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, worker.TimeLimits(0, 50*time.Millisecond))
		mux.HandleFunc("t.hard", func(ctx context.Context, _ *worker.Task) (any, error) {
			<-ctx.Done() // returns only when abandoned
			return nil, nil
		})
		mux.HandleFunc("t.progress", func(ctx context.Context, _ *worker.Task) (any, error) {
			if err := worker.UpdateState(ctx, "PROGRESS", map[string]any{"current": 1}); err != nil {
				return nil, err
			}
			return "done", nil
		})
		mux.Handle("t.auto", worker.Func(func(ctx context.Context) error {
			return errors.New("transient")
		}), worker.AutoRetryFor(func(error) bool { return true }), worker.MaxRetries(1), worker.RetryBackoff(time.Millisecond, 5*time.Millisecond, true))
	}, worker.WithResultExtended(true))
	m := wait(t, f, "t.always_retry")
	if m.Status != celery.StateFailure || m.Err().(*celery.TaskError).Type != "MaxRetriesExceededError" || attempts.Load() != 3 {
		t.Errorf("max retries: %+v attempts=%d", m, attempts.Load())
	}
	m = wait(t, f, "t.panic")
	if te := m.Err().(*celery.TaskError); m.Status != celery.StateFailure || te.Type != "PanicError" || !strings.Contains(te.Traceback, "kaboom") {
		t.Errorf("panic: %+v", m)
	}
	m = wait(t, f, "t.soft")
	if m.Status != celery.StateFailure || m.Err().(*celery.TaskError).Type != "SoftTimeLimitExceeded" {
		t.Errorf("soft limit: %+v", m)
	}
	start := time.Now()
	m = wait(t, f, "t.hard", celery.TimeLimits(100*time.Millisecond, 0))
	if m.Status != celery.StateFailure || m.Err().(*celery.TaskError).Type != "TimeLimitExceeded" || time.Since(start) > 5*time.Second {
		t.Errorf("hard limit: %+v", m)
	}
	m = wait(t, f, "t.progress")
	if m.Status != celery.StateSuccess || m.Result != "done" {
		t.Errorf("progress: %+v", m)
	}
	m = wait(t, f, "t.auto")
	if m.Status != celery.StateFailure || m.Retries != 1 || m.Err().(*celery.TaskError).Message() != "transient" {
		t.Errorf("autoretry: %+v", m)
	}
}

func TestExpiredAndRevoked(t *testing.T) {
	f := start(t, nil)
	m := wait(t, f, "tasks.add", celery.Args(1, 1), celery.Expires(time.Now().Add(-time.Second)))
	if te, ok := m.Err().(*celery.TaskError); m.Status != celery.StateRevoked || !ok || te.Type != "TaskRevokedError" {
		t.Errorf("expired: %+v", m)
	}
	f.w.Revoke("revoked-id")
	m = wait(t, f, "tasks.add", celery.Args(1, 1), celery.TaskID("revoked-id"))
	if m.Status != celery.StateRevoked {
		t.Errorf("revoked: %+v", m)
	}
}

func TestRateLimit(t *testing.T) {
	f := start(t, func(mux *worker.ServeMux) {
		mux.Handle("t.limited", worker.Func(func() int { return 1 }), worker.RateLimit("20/s"))
	})
	begin := time.Now()
	var rs []*celery.AsyncResult
	for range 5 {
		r, err := f.client.SendTask(ctx(t), "t.limited")
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	for _, r := range rs {
		if err := r.Get(ctx(t), nil); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(begin); d < 200*time.Millisecond {
		t.Errorf("5 tasks at 20/s took %v, want >= 200ms", d)
	}
}

func TestWarmShutdownRestoresHeld(t *testing.T) {
	f := start(t, nil, worker.WithConcurrency(1))
	c := ctx(t)
	// An ETA task is held unacked in memory; shutdown must put it back.
	if _, err := f.client.SendTask(c, "tasks.add", celery.Args(1, 2), celery.TaskID("eta"), celery.Countdown(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); f.srv.Do(t, "HLEN", "unacked") != int64(1); {
		if time.Now().After(deadline) {
			t.Fatal("ETA task never taken")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.stop(t)
	if n, _ := f.client.Publisher().(*credis.Broker).QueueLength(c, "celery"); n != 1 {
		t.Errorf("queue length after shutdown = %d, want 1", n)
	}
	if n := f.srv.Do(t, "HLEN", "unacked"); n != int64(0) {
		t.Errorf("unacked after shutdown = %v", n)
	}
}
