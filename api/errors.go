package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/celeriac/celeriac/celery"
)

// Every error body has FastAPI's shape: {"detail": "text"} for plain
// errors and {"detail": [fieldError, ...]} for 422 validation errors, so
// clients of the original FastAPI app keep working.

// httpError is an error with its status and the detail to show.
type httpError struct {
	status int
	detail string
}

func (e *httpError) Error() string { return e.detail }

func errStatus(status int, detail string) error { return &httpError{status, detail} }

// fieldError is one entry of a 422 body, as pydantic v2 writes it.
type fieldError struct {
	Type  string         `json:"type"`
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
}

// validationError is a 422 with one or more field errors.
type validationError struct{ fields []fieldError }

func (e *validationError) Error() string {
	if len(e.fields) == 0 {
		return "validation error"
	}
	return e.fields[0].Msg
}

func invalid(typ string, loc []any, msg string, input any, ctx map[string]any) error {
	return &validationError{[]fieldError{{Type: typ, Loc: loc, Msg: msg, Input: input, Ctx: ctx}}}
}

var (
	errNotFound     = errStatus(http.StatusNotFound, "Not Found")
	errUnauthorized = errStatus(http.StatusUnauthorized, "Not authenticated")
)

// statusOf maps an error to its HTTP status and the detail shown to the
// client. It is the only place that decides statuses.
func statusOf(err error) (int, any) {
	var he *httpError
	var ve *validationError
	var mbe *http.MaxBytesError
	var ne net.Error
	var rtl *celery.ResultTooLargeError
	switch {
	case errors.As(err, &he):
		return he.status, he.detail
	case errors.As(err, &rtl):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"result of task %s is %d bytes, over this API's limit of %d bytes (--max-result-bytes); read it from the result backend directly",
			rtl.TaskID, rtl.Size, rtl.Limit)
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, ve.fields
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "request body too large"
	case errors.Is(err, celery.ErrInvalidQueue), errors.Is(err, celery.ErrNotAQueue):
		return http.StatusUnprocessableEntity, err.Error() // a queue no task can be sent to
	case errors.Is(err, celery.ErrMessageNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, celery.ErrNotRequeueable):
		return http.StatusConflict, err.Error()
	case errors.Is(err, celery.ErrUnsupported):
		return http.StatusNotImplemented, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timed out"
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this. 499 is nginx's
		// "client closed request", kept for logs and metrics.
		return 499, "client closed request"
	case errors.Is(err, celery.ErrClosed), errors.As(err, &ne), celery.IsUnavailable(err):
		return http.StatusServiceUnavailable, "broker unavailable"
	}
	return http.StatusInternalServerError, "internal server error"
}

// fail aborts the request with err's status and a JSON body. 5xx errors
// are logged with the cause, which the body does not reveal.
func (h *handlers) fail(c *gin.Context, err error) {
	status, detail := statusOf(err)
	if status >= 500 && h.brokerDown(err) {
		h.o.logger.ErrorContext(c.Request.Context(), "request failed",
			"method", c.Request.Method, "route", c.FullPath(), "status", status, "error", err)
	}
	c.Error(err) //nolint:errcheck // recorded for the request log
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", "Bearer")
	}
	c.AbortWithStatusJSON(status, gin.H{"detail": detail})
}
