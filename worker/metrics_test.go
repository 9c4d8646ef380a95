package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/worker"
)

// TestWorkerMetrics: WithRegisterer counts tasks by outcome and task name,
// times them, and reports queue lengths and the prefetch window.
func TestWorkerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := start(t, func(mux *worker.ServeMux) {
		mux.HandleFunc("t.retry_once", func(ctx context.Context, task *worker.Task) (any, error) {
			if task.Retries == 0 {
				return nil, worker.Retry(nil, worker.In(10*time.Millisecond))
			}
			return "ok", nil
		})
	}, worker.WithRegisterer(reg), worker.WithQueues("celery", "idle"), worker.WithPrefetchMultiplier(2))

	for range 3 {
		wait(t, f, "tasks.add", celery.Args(1, 2))
	}
	wait(t, f, "tasks.fail", celery.Args("boom"))
	wait(t, f, "t.retry_once")
	wait(t, f, "no.such.task")
	wait(t, f, "tasks.add", celery.Args(1, 1), celery.Expires(time.Now().Add(-time.Second)))

	for _, tc := range []struct {
		metric, task string
		want         float64
	}{
		{"celeriac_worker_tasks_received_total", "tasks.add", 4},
		{"celeriac_worker_tasks_succeeded_total", "tasks.add", 3},
		{"celeriac_worker_tasks_revoked_total", "tasks.add", 1},
		{"celeriac_worker_tasks_failed_total", "tasks.fail", 1},
		{"celeriac_worker_tasks_retried_total", "t.retry_once", 1},
		{"celeriac_worker_tasks_succeeded_total", "t.retry_once", 1},
		{"celeriac_worker_tasks_received_total", "<unregistered>", 1},
		{"celeriac_worker_tasks_failed_total", "<unregistered>", 1},
	} {
		if got := counterValue(t, reg, tc.metric, "task", tc.task); got != tc.want {
			t.Errorf("%s{task=%q} = %v, want %v", tc.metric, tc.task, got, tc.want)
		}
	}
	if n := seriesCount(t, reg, "celeriac_worker_task_runtime_seconds"); n != 3 {
		t.Errorf("runtime histogram has %d series, want 3 (tasks.add, tasks.fail, t.retry_once)", n)
	}
	if got := counterValue(t, reg, "celeriac_worker_queue_length", "queue", "celery"); got != 0 {
		t.Errorf("queue length of celery = %v, want 0", got)
	}
	if got := counterValue(t, reg, "celeriac_worker_queue_length", "queue", "idle"); got != 0 {
		t.Errorf("queue length of idle = %v, want 0", got)
	}
	if got := counterValue(t, reg, "celeriac_worker_prefetch_window", "", ""); got != 8 {
		t.Errorf("prefetch window = %v, want 8 (4 × 2)", got)
	}
	if got := counterValue(t, reg, "celeriac_worker_prefetch_in_use", "", ""); got != 0 {
		t.Errorf("prefetch in use = %v, want 0 when idle", got)
	}
	if got := counterValue(t, reg, "celeriac_worker_broker_reconnects_total", "", ""); got != 0 {
		t.Errorf("reconnects = %v, want 0", got)
	}
}

// counterValue returns the value of metric's series whose label has
// value (any series when label is ""), or fails.
func counterValue(t *testing.T, reg *prometheus.Registry, metric, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", metric, label, value)
	return 0
}

func seriesCount(t *testing.T, reg *prometheus.Registry, metric string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == metric {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// TestWorkerMetricsReconnects: a Redis restart counts one reconnect, and
// the worker runs tasks again.
func TestWorkerMetricsReconnects(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := start(t, nil, worker.WithRegisterer(reg))
	wait(t, f, "tasks.add", celery.Args(1, 2))
	f.srv.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for counterValue(t, reg, "celeriac_worker_broker_reconnects_total", "", "") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no reconnect counted after a Redis restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m := wait(t, f, "tasks.add", celery.Args(2, 2)); m.Status != celery.StateSuccess {
		t.Errorf("after the restart: %s", m.Status)
	}
}
