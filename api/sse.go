package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/celeriac/celeriac/celery"
)

// taskEvents is GET /api/v1/tasks/{id}/events: a Server-Sent Events stream
// of the task's states, e.g. PENDING → STARTED → PROGRESS (with meta) →
// SUCCESS. Each event is
//
//	id: <n>
//	event: state
//	data: <the JSON of GET /api/v1/tasks/{id}>
//
// The stream is driven by the task's result channel (Backend.Watch
// subscribes before it reads, so no state stored after the stream opened
// is missed and nothing polls). Intermediate states stored faster than
// the client reads may be coalesced; the final state is always sent, after
// which the server closes the stream. An idle stream gets a comment line
// every keep-alive interval.
func (h *handlers) taskEvents(c *gin.Context) {
	id, err := taskIDParam(c, "task")
	if err != nil {
		h.fail(c, err)
		return
	}
	ctx, cancel := context.WithCancel(c.Request.Context())
	defer cancel()

	states := make(chan *celery.ResultMeta)
	done := make(chan error, 1)
	go func() {
		_, err := h.client.Results().WatchMax(ctx, id, h.o.maxResult, func(m *celery.ResultMeta) {
			select {
			case states <- m:
			case <-ctx.Done():
			}
		})
		done <- err
	}()

	w := c.Writer
	// A stream outlives the server's WriteTimeout: lift the deadline.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Connection", "keep-alive")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()

	keepAlive := time.NewTicker(h.o.keepAlive)
	defer keepAlive.Stop()
	n := 0
	var last []byte
	for {
		select {
		case m := <-states:
			data, err := json.Marshal(viewOf(m))
			if err != nil {
				h.o.logger.ErrorContext(ctx, "event stream: encode", "task_id", id, "error", err)
				continue
			}
			// Watch re-reads the key after (re)subscribing, so the same
			// state may come twice: send each distinct state once.
			if bytes.Equal(data, last) {
				continue
			}
			last = data
			n++
			if _, err := w.WriteString("id: " + strconv.Itoa(n) + "\nevent: state\ndata: " + string(data) + "\n\n"); err != nil {
				return
			}
			w.Flush()
		case err := <-done:
			// Watch returns after it delivered the final state (or when
			// the client left, or on a backend error, reported in-band
			// since the 200 is already sent).
			if err != nil && !errors.Is(err, context.Canceled) {
				h.o.logger.WarnContext(ctx, "event stream: watch failed", "task_id", id, "error", err)
				_, detail := statusOf(err)
				data, _ := json.Marshal(gin.H{"detail": detail})
				w.WriteString("event: error\ndata: " + string(data) + "\n\n")
				w.Flush()
			}
			return
		case <-h.o.shutdown.Done():
			return
		case <-keepAlive.C:
			if _, err := w.WriteString(": keep-alive\n\n"); err != nil {
				return
			}
			w.Flush()
		}
	}
}
