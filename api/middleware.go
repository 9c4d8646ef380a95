package api

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// recovery turns a handler panic into a 500 with a JSON body and logs it
// with its stack. http.ErrAbortHandler is re-raised: net/http uses it to
// abort a response on purpose.
func (h *handlers) recovery(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(r)
		}
		h.o.logger.ErrorContext(c.Request.Context(), "panic in handler",
			"method", c.Request.Method, "path", c.Request.URL.Path, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"detail": "internal server error"})
	}()
	c.Next()
}

// logRequests logs one line per request: Info for 1xx–4xx, Warn for 5xx.
func (h *handlers) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	log := h.o.logger
	if !log.Enabled(c.Request.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.String("route", c.FullPath()),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", c.ClientIP()),
	}
	if errs := c.Errors.ByType(gin.ErrorTypePrivate); len(errs) > 0 && status >= 400 {
		attrs = append(attrs, slog.String("error", errs.Last().Error()))
	}
	log.LogAttrs(c.Request.Context(), level, "http request", attrs...)
}

// measure records requests by route, method and status, and their
// latency, in Prometheus metrics. It runs before authentication, so every
// label comes from a bounded set: the route is a registered template or
// "unmatched", the method a standard one or "other", the status one of the
// codes the server writes (metricLabels).
func (h *handlers) measure(c *gin.Context) {
	start := time.Now()
	c.Next()
	route, method, status := metricLabels(c.FullPath(), c.Request.Method, c.Writer.Status())
	h.metrics.requests.WithLabelValues(route, method, status).Inc()
	h.metrics.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
}

// metricLabels bounds the label values of one request: any client may
// send any method token and path, and each distinct label set would be a
// time series kept for the life of the process.
func metricLabels(route, method string, status int) (string, string, string) {
	if route == "" {
		route = "unmatched"
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		method = "other"
	}
	if status < 100 || status > 599 {
		status = 0
	}
	return route, method, strconv.Itoa(status)
}

// authenticate requires the bearer token when one is configured. The
// comparison takes constant time.
func (h *handlers) authenticate(c *gin.Context) {
	if h.o.token == "" {
		return
	}
	scheme, tok, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") ||
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(h.o.token)) != 1 {
		h.fail(c, errUnauthorized)
		return
	}
}

// limitBody enforces the body size limit and JSON-only request bodies.
// A body that declares a larger Content-Length is refused before it is
// read; one that lies is cut by http.MaxBytesReader while decoding.
func (h *handlers) limitBody(c *gin.Context) {
	r := c.Request
	if r.ContentLength > h.o.maxBody {
		h.fail(c, errStatus(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body too large (limit %d bytes)", h.o.maxBody)))
		return
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		if ct := r.Header.Get("Content-Type"); ct != "" || r.ContentLength > 0 {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
				h.fail(c, errStatus(http.StatusUnsupportedMediaType, "Content-Type must be application/json"))
				return
			}
		}
		r.Body = http.MaxBytesReader(c.Writer, r.Body, h.o.maxBody)
	}
}

// notFound and notAllowed give unknown routes and methods JSON bodies.
func (h *handlers) notFound(c *gin.Context) { h.fail(c, errNotFound) }

func (h *handlers) notAllowed(c *gin.Context) {
	h.fail(c, errStatus(http.StatusMethodNotAllowed, "Method Not Allowed"))
}
