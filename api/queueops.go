package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/celeriac/celeriac/celery"
)

// Queue operations (issue #22): peek at, remove and move the messages
// waiting in a queue. They need a transport that is a
// celery.QueueInspector (Redis is); on another the routes answer 501.

// defaultPage and maxPage bound ?limit= of the message listing.
const (
	defaultPage = 50
	maxPage     = 1000
)

// queueParam reads and checks the {name} path parameter: a queue name
// the API lets clients use (validName) that is no key of the transport or
// the backend (celery.ValidateQueue).
func queueParam(c *gin.Context) (string, error) {
	return checkQueueName(c.Param("name"), []any{"path", "name"})
}

func checkQueueName(n string, loc []any) (string, error) {
	if !validName(n) {
		return "", invalid("string_pattern_mismatch", loc, "Queue must be 1-255 characters from A-Z a-z 0-9 . _ : @ + -", n, nil)
	}
	if err := celery.ValidateQueue(n); err != nil {
		return "", invalid("value_error", loc, "Value error, "+err.Error(), n, nil)
	}
	return n, nil
}

// listMessages is GET /api/v1/queues/{name}/messages?limit=N&cursor=C.
func (h *handlers) listMessages(c *gin.Context) {
	q, err := queueParam(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	page, err := h.client.PendingMessages(c.Request.Context(), q, cursor, limit)
	if err != nil {
		h.fail(c, pageErr(err, cursor))
		return
	}
	c.JSON(http.StatusOK, gin.H{"queue": q, "messages": page.Messages, "next_cursor": nextCursor(page.Next)})
}

// pageParams reads a listing's limit (1 to maxPage, default defaultPage)
// and cursor query parameters.
func pageParams(c *gin.Context) (limit int, cursor string, err error) {
	limit = defaultPage
	if raw, ok := c.GetQuery("limit"); ok {
		if limit, err = strconv.Atoi(raw); err != nil || limit < 1 || limit > maxPage {
			return 0, "", invalid("value_error", []any{"query", "limit"}, "Limit must be an integer from 1 to 1000", raw, nil)
		}
	}
	return limit, c.Query("cursor"), nil
}

// pageErr is a listing's error: a cursor the transport does not know is
// the caller's (422), the rest as they are.
func pageErr(err error, cursor string) error {
	if errors.Is(err, celery.ErrBadCursor) {
		return invalid("value_error", []any{"query", "cursor"}, "Cursor must be a next_cursor this API returned", cursor, nil)
	}
	return err
}

// nextCursor is a page's next_cursor: null on the last page.
func nextCursor(next string) any {
	if next == "" {
		return nil
	}
	return next
}

// removeMessage is DELETE /api/v1/queues/{name}/messages/{task_id}: the
// message leaves the queue and REVOKED is stored for it.
func (h *handlers) removeMessage(c *gin.Context) {
	q, err := queueParam(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	id, err := taskIDParam(c, "task_id")
	if err != nil {
		h.fail(c, err)
		return
	}
	m, err := h.client.RemovePending(c.Request.Context(), q, id)
	if err != nil && m == nil {
		h.fail(c, err)
		return
	}
	if err != nil { // removed, but REVOKED not stored
		h.o.logger.WarnContext(c.Request.Context(), "message removed; REVOKED not stored", "task_id", id, "error", err)
	}
	c.JSON(http.StatusOK, gin.H{"queue": q, "removed": m})
}

// purgeMessages is DELETE /api/v1/queues/{name}/messages?task=NAME: the
// messages of one task name leave the queue, REVOKED stored for each.
func (h *handlers) purgeMessages(c *gin.Context) {
	q, err := queueParam(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	task, ok := c.GetQuery("task")
	if !ok {
		h.fail(c, invalid("missing", []any{"query", "task"}, "Field required (to empty a whole queue use celeriac purge)", nil, nil))
		return
	}
	if !validName(task) {
		h.fail(c, invalid("string_pattern_mismatch", []any{"query", "task"}, "Task name must be 1-255 characters from A-Z a-z 0-9 . _ : @ + -", task, nil))
		return
	}
	n, err := h.client.PurgeTask(c.Request.Context(), q, task)
	if err != nil && n == 0 {
		h.fail(c, err)
		return
	}
	if err != nil {
		h.o.logger.WarnContext(c.Request.Context(), "messages purged; REVOKED not stored for all", "queue", q, "task", task, "error", err)
	}
	c.JSON(http.StatusOK, gin.H{"queue": q, "task": task, "purged": n})
}

// moveRequest is the body of POST /api/v1/queues/{name}/move.
type moveRequest struct {
	To     string `json:"to"`
	TaskID string `json:"task_id"`
	Task   string `json:"task"`
	Limit  int    `json:"limit"`
}

// moveMessages is POST /api/v1/queues/{name}/move: messages (one task
// id, one task name, or all, up to limit) go to the back of another queue.
func (h *handlers) moveMessages(c *gin.Context) {
	from, err := queueParam(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	var req moveRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		h.fail(c, err)
		return
	}
	to, err := checkQueueName(req.To, body("to"))
	if err != nil {
		h.fail(c, err)
		return
	}
	if to == from {
		h.fail(c, invalid("value_error", body("to"), "Value error, the destination is the source queue", to, nil))
		return
	}
	if req.TaskID != "" && !validName(req.TaskID) {
		h.fail(c, invalid("string_pattern_mismatch", body("task_id"), "Task id must be 1-255 characters from A-Z a-z 0-9 . _ : @ + -", req.TaskID, nil))
		return
	}
	if req.Task != "" && !validName(req.Task) {
		h.fail(c, invalid("string_pattern_mismatch", body("task"), "Task name must be 1-255 characters from A-Z a-z 0-9 . _ : @ + -", req.Task, nil))
		return
	}
	if req.Limit < 0 {
		h.fail(c, invalid("greater_than_equal", body("limit"), "Input should be greater than or equal to 0", req.Limit, nil))
		return
	}
	n, err := h.client.MovePending(c.Request.Context(), from, to, celery.MessageFilter{TaskID: req.TaskID, Task: req.Task, Limit: req.Limit})
	if err != nil {
		h.fail(c, err)
		return
	}
	if req.TaskID != "" && n == 0 {
		h.fail(c, errStatus(http.StatusNotFound, "no pending message of task "+req.TaskID+" in queue "+from))
		return
	}
	c.JSON(http.StatusOK, gin.H{"from": from, "to": to, "moved": n})
}

// decodeStrict reads a JSON object body into v, refusing unknown fields
// and trailing data, with FastAPI-shaped errors.
func decodeStrict(r io.Reader, v any) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return invalid("missing", []any{"body"}, "Field required", nil, nil)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return invalid("json_invalid", []any{"body"}, "JSON decode error: trailing data", nil, nil)
	}
	return nil
}
