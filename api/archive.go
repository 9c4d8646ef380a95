package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// The archive (issue #22): work that will not run again by itself, kept
// by the workers (celery.Archiver). On a transport without one the routes
// answer 501.

// listArchive is GET /api/v1/archive?limit=N&cursor=C, newest first.
func (h *handlers) listArchive(c *gin.Context) {
	limit, cursor, err := pageParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	page, err := h.client.ArchivedMessages(c.Request.Context(), cursor, limit)
	if err != nil {
		h.fail(c, pageErr(err, cursor))
		return
	}
	c.JSON(http.StatusOK, gin.H{"messages": page.Messages, "next_cursor": nextCursor(page.Next)})
}

// requeueArchived is POST /api/v1/archive/{task_id}/requeue.
func (h *handlers) requeueArchived(c *gin.Context) {
	id, err := taskIDParam(c, "task_id")
	if err != nil {
		h.fail(c, err)
		return
	}
	m, err := h.client.RequeueArchived(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"requeued": m})
}

// deleteArchived is DELETE /api/v1/archive/{task_id}.
func (h *handlers) deleteArchived(c *gin.Context) {
	id, err := taskIDParam(c, "task_id")
	if err != nil {
		h.fail(c, err)
		return
	}
	m, err := h.client.DeleteArchived(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": m})
}
