package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// WithMaxInFlight sheds load: while n requests are being served, another
// one is answered at once with 503, a JSON reason and Retry-After, instead
// of queueing behind them until the server falls over. Probes (/healthz,
// /readyz), /metrics and event streams are never shed. Default 0: no
// limit.
func WithMaxInFlight(n int) Option { return func(o *options) { o.maxInFlight = n } }

const shedDetail = "server overloaded: too many requests in flight, retry later"

// shedRetryAfter is the Retry-After of a shed request, in seconds.
const shedRetryAfter = 1

// shedder returns the load-shedding middleware for n concurrent requests;
// it counts shed requests in celeriac_api_shed_total.
func (h *handlers) shedder(n int) gin.HandlerFunc {
	shed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "celeriac_api_shed_total",
		Help: "Requests answered 503 at once because the API had its maximum in flight.",
	})
	h.metrics.reg.MustRegister(shed)
	slots := make(chan struct{}, n)
	return func(c *gin.Context) {
		if exemptFromShedding(c.Request.URL.Path) {
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			shed.Inc()
			c.Header("Retry-After", strconv.Itoa(shedRetryAfter))
			// Not h.fail: a burst of shed requests must not log an error
			// each (the request log still has one line per request).
			c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"detail": shedDetail})
			return
		}
		defer func() { <-slots }()
		c.Next()
	}
}

func exemptFromShedding(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasSuffix(path, "/events")
}
