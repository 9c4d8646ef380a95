package api

import (
	"github.com/gin-gonic/gin"

	"github.com/celeriac/celeriac/celery"
)

// The API has no connection of its own to watch: each request borrows one
// from the client's pool, which redials after Redis comes back. A Redis
// outage would log one "request failed" error per request; instead the
// API logs one line when requests start failing for want of Redis
// ("broker connection lost") and one when a request that needs Redis
// succeeds again ("broker connection restored"). The request log still
// has one line per request.

// brokerDown records a failure of err; it reports whether the caller
// should still log err (it is not a Redis outage already logged).
func (h *handlers) brokerDown(err error) bool {
	if !celery.IsUnavailable(err) {
		return true
	}
	h.conn.Lost(err)
	return false
}

// watchBroker is middleware that notes when the broker is back: a request
// that uses Redis succeeded while it was marked down.
func (h *handlers) watchBroker(c *gin.Context) {
	c.Next()
	if !h.conn.Down() || c.Writer.Status() >= 500 {
		return
	}
	switch c.FullPath() {
	case "", "/healthz", "/openapi.json", "/docs", "/metrics":
		return // these do not touch Redis
	}
	h.conn.Up()
}
