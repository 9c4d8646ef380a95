package worker

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Go cannot kill a goroutine. A handler abandoned at its hard time limit
// or by revoke(terminate=True) has its context cancelled and its slot
// freed, but if it ignores the context it runs on in the background. The
// worker counts such handlers (Abandoned, the
// celeriac_worker_abandoned_handlers gauge, "abandoned" in inspect stats)
// and logs one warning when a handler is abandoned and one when it finally
// returns, so that a leak shows.

// abandonGrace is how long a terminated handler may take to return before
// it is reported as abandoned.
const abandonGrace = 100 * time.Millisecond

// handlerRun is the state one running handler shares with its goroutine.
type handlerRun struct {
	mu        sync.Mutex
	returned  bool
	abandoned time.Time // zero unless abandoned
}

// abandon marks the handler abandoned unless it already returned; it
// reports whether it did.
func (h *handlerRun) abandon(w *Worker, task, id, why string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.returned {
		return false
	}
	h.abandoned = time.Now()
	n := w.abandoned.Add(1)
	w.o.logger.Warn("task handler abandoned: it still runs in the background until it returns (it ignores its context)",
		"task", task, "task_id", id, "reason", why, "abandoned", n)
	return true
}

// returned is called by the handler goroutine when the handler returned.
func (h *handlerRun) finished(w *Worker, task, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.returned = true
	if h.abandoned.IsZero() {
		return
	}
	n := w.abandoned.Add(-1)
	w.o.logger.Warn("abandoned task handler returned",
		"task", task, "task_id", id, "after", time.Since(h.abandoned).Round(time.Millisecond), "abandoned", n)
}

// Abandoned returns how many abandoned task handlers are still running.
func (w *Worker) Abandoned() int64 { return w.abandoned.Load() }

// WithRegisterer registers the worker's Prometheus metrics with reg:
// celeriac_worker_abandoned_handlers (handlers abandoned at their hard time
// limit or by terminate that have not returned yet),
// celeriac_worker_tasks_processed_total, and those of metrics.go: task
// counters by outcome and task name, the runtime histogram, queue
// lengths, the prefetch window, running tasks, pool size and broker
// reconnects (docs/operations.md lists them). Default: none.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.registerer = reg }
}

func (w *Worker) registerMetrics() {
	reg := w.o.registerer
	if reg == nil {
		return
	}
	labels := prometheus.Labels{"hostname": w.o.hostname}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "celeriac_worker_abandoned_handlers",
			Help:        "Task handlers abandoned at their hard time limit or by terminate that still run.",
			ConstLabels: labels,
		}, func() float64 { return float64(w.abandoned.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "celeriac_worker_tasks_processed_total",
			Help:        "Tasks taken to run since the worker started.",
			ConstLabels: labels,
		}, func() float64 { return float64(w.processed.Load()) }),
	)
}
