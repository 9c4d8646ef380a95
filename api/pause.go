package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/celeriac/celeriac/celery"
)

// QueuePauser pauses and resumes queues fleet-wide (cancel_consumer and
// add_consumer broadcasts to the workers that consume them) and lists the
// paused ones. celeriac serve builds one from celery/control and the
// broker (control.Control.PauseQueue with a celery.PauseStore).
type QueuePauser interface {
	PauseQueue(ctx context.Context, queue string) (*celery.PausedQueue, error)
	ResumeQueue(ctx context.Context, queue string) (*celery.PausedQueue, error)
	PausedQueues(ctx context.Context) ([]celery.PausedQueue, error)
}

// pauseQueue is POST /api/v1/queues/{name}/pause.
func (h *handlers) pauseQueue(c *gin.Context) { h.pauseOrResume(c, true) }

// resumeQueue is POST /api/v1/queues/{name}/resume.
func (h *handlers) resumeQueue(c *gin.Context) { h.pauseOrResume(c, false) }

func (h *handlers) pauseOrResume(c *gin.Context, pause bool) {
	q, err := queueParam(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if h.pauser == nil {
		h.fail(c, errStatus(http.StatusNotImplemented, "pausing queues is not available: no remote control configured"))
		return
	}
	var p *celery.PausedQueue
	if pause {
		p, err = h.pauser.PauseQueue(c.Request.Context(), q)
	} else {
		p, err = h.pauser.ResumeQueue(c.Request.Context(), q)
	}
	if errors.Is(err, celery.ErrNotPaused) {
		err = errStatus(http.StatusConflict, "queue "+q+" is not paused")
	}
	if p == nil {
		h.fail(c, err)
		return
	}
	body := gin.H{"queue": q, "paused": pause, "workers": p.Workers}
	if err != nil { // recorded, but some worker did not take it
		h.o.logger.WarnContext(c.Request.Context(), "pause/resume incomplete", "queue", q, "error", err)
		body["warning"] = err.Error()
	}
	c.JSON(http.StatusOK, body)
}

// pausedSet returns the paused queues by name (none without a pauser or
// when they cannot be read: the listing does not fail for it).
func (h *handlers) pausedSet(ctx context.Context) map[string]bool {
	if h.pauser == nil {
		return nil
	}
	ps, err := h.pauser.PausedQueues(ctx)
	if err != nil {
		h.o.logger.WarnContext(ctx, "could not read the paused queues", "error", err)
		return nil
	}
	out := make(map[string]bool, len(ps))
	for _, p := range ps {
		out[p.Queue] = true
	}
	return out
}
