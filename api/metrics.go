package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the API's Prometheus metrics, on a registry of its own (no
// global registry: two APIs in one process, as in tests, do not collide).
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	submitted *prometheus.CounterVec
	handler   http.Handler
}

// WithMetrics adds what g gathers to GET /metrics, e.g. the metrics of
// a worker running in the same process (celeriac serve). Their names must
// differ from the API's own. Default none.
func WithMetrics(g prometheus.Gatherer) Option {
	return func(o *options) { o.gatherers = append(o.gatherers, g) }
}

func newMetrics(extra ...prometheus.Gatherer) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "celeriac_api_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "celeriac_api_request_duration_seconds",
			Help:    "HTTP request latency by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "celeriac_api_tasks_submitted_total",
			Help: "Tasks sent to the broker by the API, by task name.",
		}, []string{"task"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.submitted,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(append(prometheus.Gatherers{m.reg}, extra...), promhttp.HandlerOpts{})
	return m
}
