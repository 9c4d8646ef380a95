package worker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/worker"
)

// TestMaxTasksPerChildRecycles: after two tasks the worker stops, Run
// returns ErrRecycle, and the tasks it did not run are back in the queue.
func TestMaxTasksPerChildRecycles(t *testing.T) {
	f := start(t, nil, worker.WithConcurrency(1), worker.WithMaxTasksPerChild(2))
	var ids []string
	for range 5 {
		r, err := f.client.SendTask(ctx(t), "tasks.sleep", celery.Args(0.02))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	var err error
	select {
	case err = <-f.done:
		f.cancel = nil
	case <-time.After(15 * time.Second):
		t.Fatal("the worker did not recycle")
	}
	if !errors.Is(err, worker.ErrRecycle) {
		t.Fatalf("Run = %v, want ErrRecycle", err)
	}
	done := 0
	for _, id := range ids {
		m, err := f.client.AsyncResult(id).Info(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if m.Status == celery.StateSuccess {
			done++
		}
	}
	if done != 2 {
		t.Errorf("%d tasks ran before the recycle, want 2", done)
	}
	c := f.srv.Dial(t)
	if n, err := c.Do("LLEN", "celery"); err != nil || n.(int64) != 3 {
		t.Errorf("queue holds %v (%v), want the 3 tasks not run", n, err)
	}
}

// TestColdShutdownSoftTimeout: ColdShutdown gives a running task the soft
// shutdown timeout, then cancels it, well before the warm shutdown
// timeout would.
func TestColdShutdownSoftTimeout(t *testing.T) {
	f := start(t, nil, worker.WithConcurrency(1), worker.WithShutdownTimeout(time.Minute),
		worker.WithSoftShutdownTimeout(200*time.Millisecond))
	r, err := f.client.SendTask(ctx(t), "tasks.sleep", celery.Args(30))
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := f.client.AsyncResult(r.ID).Info(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if f.w.Processed() == 1 || m.Status.Ready() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.w.ColdShutdown()
	select {
	case err := <-f.done:
		f.cancel = nil
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the cold shutdown did not end at the soft shutdown timeout")
	}
}

// TestMaxTasksPerChildWithSeveralGoroutines: with four goroutines and a
// limit of two, no task starts after the second one.
func TestMaxTasksPerChildWithSeveralGoroutines(t *testing.T) {
	f := start(t, nil, worker.WithConcurrency(4), worker.WithMaxTasksPerChild(2))
	var ids []string
	for range 8 {
		r, err := f.client.SendTask(ctx(t), "tasks.sleep", celery.Args(0.3))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	select {
	case err := <-f.done:
		f.cancel = nil
		if !errors.Is(err, worker.ErrRecycle) {
			t.Fatalf("Run = %v, want ErrRecycle", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the worker did not recycle")
	}
	ran := 0
	for _, id := range ids {
		m, err := f.client.AsyncResult(id).Info(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if m.Status == celery.StateSuccess {
			ran++
		}
	}
	// The goroutines may have taken up to four before the second started.
	if ran < 2 || ran > 4 {
		t.Errorf("%d tasks ran before the recycle, want 2 to 4", ran)
	}
	c := f.srv.Dial(t)
	if n, err := c.Do("LLEN", "celery"); err != nil || int(n.(int64)) != len(ids)-ran {
		t.Errorf("queue holds %v (%v), want the %d tasks not run", n, err, len(ids)-ran)
	}
}
