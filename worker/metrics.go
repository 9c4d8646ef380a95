package worker

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// unregisteredLabel is the task label of messages for task names the
// worker does not know: those names come from whoever publishes, so they
// never become label values (the label set stays bounded by the mux).
const unregisteredLabel = "<unregistered>"

// taskMetrics are the worker's per-task Prometheus metrics (see
// WithRegisterer). A nil *taskMetrics records nothing.
type taskMetrics struct {
	receivedTotal, succeededTotal, failedTotal, retriedTotal, revokedTotal *prometheus.CounterVec
	rejectedTotal                                                          prometheus.Counter
	runtime                                                                *prometheus.HistogramVec
}

// registerTaskMetrics registers, beside registerMetrics' gauges, the
// task counters and runtime histogram by task name, and gauges read at
// scrape time: queue lengths, the prefetch window and its use, running
// tasks, pool size and broker reconnects.
func (w *Worker) registerTaskMetrics() {
	reg := w.o.registerer
	if reg == nil {
		return
	}
	labels := prometheus.Labels{"hostname": w.o.hostname}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, []string{"task"})
	}
	m := &taskMetrics{
		receivedTotal:  counter("celeriac_worker_tasks_received_total", "Task messages taken from the broker, by task name ("+unregisteredLabel+" for unknown names)."),
		succeededTotal: counter("celeriac_worker_tasks_succeeded_total", "Tasks that returned a result (SUCCESS), by task name."),
		failedTotal:    counter("celeriac_worker_tasks_failed_total", "Tasks that ended in FAILURE (errors, panics, time limits, max retries, unknown names), by task name."),
		retriedTotal:   counter("celeriac_worker_tasks_retried_total", "Task retries scheduled (RETRY), by task name."),
		revokedTotal:   counter("celeriac_worker_tasks_revoked_total", "Tasks discarded as revoked or expired, or terminated, by task name."),
		rejectedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "celeriac_worker_messages_rejected_total", Help: "Malformed messages rejected (logged, acknowledged, removed).", ConstLabels: labels,
		}),
		runtime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "celeriac_worker_task_runtime_seconds", Help: "Time a task's handler ran, by task name.", ConstLabels: labels,
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"task"}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	reg.MustRegister(m.receivedTotal, m.succeededTotal, m.failedTotal, m.retriedTotal, m.revokedTotal, m.rejectedTotal, m.runtime,
		gauge("celeriac_worker_prefetch_window", "Messages the worker may hold unacknowledged (concurrency × prefetch multiplier; 0 = unlimited).",
			func() float64 { return float64(w.PrefetchCount()) }),
		gauge("celeriac_worker_prefetch_in_use", "Messages taken from the broker and held: reserved (ETA tasks included) or running.",
			func() float64 { return float64(w.held()) }),
		gauge("celeriac_worker_active_tasks", "Tasks running now.", func() float64 {
			w.reg.mu.Lock()
			defer w.reg.mu.Unlock()
			return float64(len(w.reg.active))
		}),
		gauge("celeriac_worker_concurrency", "Pool size: tasks that may run at once.", func() float64 { return float64(w.Concurrency()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "celeriac_worker_broker_reconnects_total", Help: "Times the broker connection of a consumer came back after it was lost.", ConstLabels: labels,
		}, func() float64 { return float64(w.broker.Reconnects()) }),
		&queueCollector{w: w, desc: prometheus.NewDesc("celeriac_worker_queue_length",
			"Messages waiting in a consumed queue (all priority buckets), read from Redis at scrape time.", []string{"queue"}, labels)},
	)
	w.tm = m
}

// taskLabel is r's task name as a label value.
func taskLabel(r *request) string {
	if r.entry == nil {
		return unregisteredLabel
	}
	return r.msg.Task
}

// The methods below record one event of r; on a nil *taskMetrics they do
// nothing.

func (m *taskMetrics) received(r *request) {
	if m != nil {
		m.receivedTotal.WithLabelValues(taskLabel(r)).Inc()
	}
}

func (m *taskMetrics) succeeded(r *request) {
	if m != nil {
		m.succeededTotal.WithLabelValues(taskLabel(r)).Inc()
	}
}

func (m *taskMetrics) failed(r *request) {
	if m != nil {
		m.failedTotal.WithLabelValues(taskLabel(r)).Inc()
	}
}

func (m *taskMetrics) retried(r *request) {
	if m != nil {
		m.retriedTotal.WithLabelValues(taskLabel(r)).Inc()
	}
}

func (m *taskMetrics) revoked(r *request) {
	if m != nil {
		m.revokedTotal.WithLabelValues(taskLabel(r)).Inc()
	}
}

func (m *taskMetrics) observe(r *request, d time.Duration) {
	if m != nil {
		m.runtime.WithLabelValues(taskLabel(r)).Observe(d.Seconds())
	}
}

func (m *taskMetrics) reject() {
	if m != nil {
		m.rejectedTotal.Inc()
	}
}

// held is how many messages the worker took and holds: reserved or
// running.
func (w *Worker) held() int {
	w.reg.mu.Lock()
	defer w.reg.mu.Unlock()
	return len(w.reg.reserved) + len(w.reg.active)
}

// queueCollector reports the length of each consumed queue, asking Redis
// at scrape time (one LLEN per priority bucket, bounded by a timeout).
// When Redis does not answer, the series are left out.
type queueCollector struct {
	w    *Worker
	desc *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, q := range c.w.Queues() {
		n, err := c.w.broker.QueueLength(ctx, q)
		if err != nil {
			// Leave the series out rather than fail the whole scrape
			// (promhttp answers 500 to a collection error): Redis being
			// down shows in the reconnect counter and the logs.
			c.w.o.logger.Debug("metrics: queue length", "queue", q, "error", err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), q)
	}
}
