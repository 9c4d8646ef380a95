package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/celeriac/celeriac/celery"
)

// The archive (issue #22): work that will not run again by itself, kept
// by the workers (celery.Archiver). On a transport without one the routes
// answer 501.

// listArchive is GET /api/v1/archive?limit=N&cursor=C, newest first.
func (h *handlers) listArchive(c *gin.Context) {
	limit := defaultPage
	if raw, ok := c.GetQuery("limit"); ok {
		var err error
		if limit, err = strconv.Atoi(raw); err != nil || limit < 1 || limit > maxPage {
			h.fail(c, invalid("value_error", []any{"query", "limit"}, "Limit must be an integer from 1 to 1000", raw, nil))
			return
		}
	}
	cursor := c.Query("cursor")
	page, err := h.client.ArchivedMessages(c.Request.Context(), cursor, limit)
	if errors.Is(err, celery.ErrBadCursor) {
		err = invalid("value_error", []any{"query", "cursor"}, "Cursor must be a next_cursor this API returned", cursor, nil)
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	var next any
	if page.Next != "" {
		next = page.Next
	}
	c.JSON(http.StatusOK, gin.H{"messages": page.Messages, "next_cursor": next})
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
