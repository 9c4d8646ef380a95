package celery

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// This file is the optional seam for looking into and changing what waits
// in queues (issue #22): listing pending messages without consuming them,
// removing or moving some, and pausing a queue. It is not part of
// Transport: a transport offers it when it can (celery/redis does), and
// callers (the API, the CLI) type-assert and say so when it cannot.

// QueueInspector peeks at and edits the messages waiting in a queue,
// every priority bucket included, without loading a queue whole.
type QueueInspector interface {
	// Messages returns up to limit messages of queue from cursor ("" for
	// the first), in the order workers will take them (the first priority
	// bucket first, oldest first). The page's Next is the cursor of the
	// following page ("" at the end). A cursor is a position, not a
	// snapshot: messages taken or removed between two pages shift it.
	Messages(ctx context.Context, queue, cursor string, limit int) (*MessagePage, error)
	// RemoveMessages removes the messages of queue that f selects and
	// calls removed (when not nil) with each; it returns how many it
	// removed. Messages published during the call may be left.
	RemoveMessages(ctx context.Context, queue string, f MessageFilter, removed func(PendingMessage)) (int, error)
	// MoveMessages moves the messages of from that f selects to the back
	// of to (same priority), each atomically, and returns how many.
	MoveMessages(ctx context.Context, from, to string, f MessageFilter) (int, error)
}

// MessageFilter selects pending messages: by task id, by task name, or
// (both empty) all, at most Limit of them (0: no limit).
type MessageFilter struct {
	TaskID string
	Task   string
	Limit  int
}

// Match reports whether m is selected (Limit aside).
func (f MessageFilter) Match(m *PendingMessage) bool {
	return (f.TaskID == "" || m.TaskID == f.TaskID) && (f.Task == "" || m.Task == f.Task)
}

// PendingMessage is a message waiting in a queue, as a QueueInspector
// sees it.
type PendingMessage struct {
	TaskID string `json:"task_id"`
	Task   string `json:"task"`
	// Args and Kwargs are Python reprs (the message's argsrepr and
	// kwargsrepr when it has them), truncated to MaxReprLen bytes.
	Args   string     `json:"args"`
	Kwargs string     `json:"kwargs"`
	ETA    *time.Time `json:"eta"`
	// Priority is the message's priority property.
	Priority int `json:"priority"`
	// Size is the message's length in bytes.
	Size int `json:"size"`
	// Error tells why the message could not be read whole (not a task
	// message, a body that cannot be decoded, too large to peek at); the
	// fields above then hold what could be found.
	Error string `json:"error,omitempty"`
	// Raw is the message as it waits (not shown; empty for a message too
	// large to peek at).
	Raw []byte `json:"-"`
}

// MaxReprLen bounds PendingMessage.Args and Kwargs.
const MaxReprLen = 256

// MessagePage is one page of Messages.
type MessagePage struct {
	Messages []PendingMessage
	// Next is the cursor of the following page; "" when this is the last.
	Next string
}

// ErrMessageNotFound is returned when no pending message has the task id
// asked for (it may have been taken by a worker meanwhile).
var ErrMessageNotFound = errors.New("celery: no such message")

// ErrUnsupported is wrapped by the errors of an operation the transport
// does not offer.
var ErrUnsupported = errors.New("celery: not supported by this transport")

// ErrBadCursor is wrapped by Messages' error for a cursor it did not give.
var ErrBadCursor = errors.New("celery: bad cursor")

// inspector returns the client's publisher as a QueueInspector.
func (c *Client) inspector() (QueueInspector, error) {
	qi, ok := c.pub.(QueueInspector)
	if !ok {
		return nil, fmt.Errorf("queue inspection: %w", ErrUnsupported)
	}
	return qi, nil
}

// PendingMessages lists up to limit messages waiting in queue from cursor
// (QueueInspector.Messages).
func (c *Client) PendingMessages(ctx context.Context, queue, cursor string, limit int) (*MessagePage, error) {
	qi, err := c.inspector()
	if err != nil {
		return nil, err
	}
	if err := ValidateQueue(queue); err != nil {
		return nil, err
	}
	return qi.Messages(ctx, queue, cursor, limit)
}

// RemovePending removes the message of task id from queue before any
// worker takes it and stores REVOKED (TaskRevokedError) for it, so that a
// client waiting for its result returns. ErrMessageNotFound when queue
// holds no such message.
func (c *Client) RemovePending(ctx context.Context, queue, id string) (*PendingMessage, error) {
	var got *PendingMessage
	n, err := c.removePending(ctx, queue, MessageFilter{TaskID: id, Limit: 1}, func(m PendingMessage) { got = &m })
	if err != nil {
		return got, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: task %s in %s", ErrMessageNotFound, id, queue)
	}
	return got, nil
}

// PurgeTask removes the messages of task name from queue and stores
// REVOKED for each, as RemovePending; it returns how many it removed.
func (c *Client) PurgeTask(ctx context.Context, queue, name string) (int, error) {
	if name == "" {
		return 0, errors.New("celery: purge by task: no task name")
	}
	return c.removePending(ctx, queue, MessageFilter{Task: name}, nil)
}

func (c *Client) removePending(ctx context.Context, queue string, f MessageFilter, each func(PendingMessage)) (int, error) {
	qi, err := c.inspector()
	if err != nil {
		return 0, err
	}
	if err := ValidateQueue(queue); err != nil {
		return 0, err
	}
	var errs []error
	n, err := qi.RemoveMessages(ctx, queue, f, func(m PendingMessage) {
		if each != nil {
			each(m)
		}
		if c.results == nil || m.TaskID == "" {
			return
		}
		meta := &ResultMeta{TaskID: m.TaskID, Status: StateRevoked, Name: m.Task, Queue: queue, DateDone: time.Now().UTC(),
			Result: Exception("TaskRevokedError", "celery.exceptions", "removed from queue "+queue)}
		if _, err := c.results.Store(ctx, meta); err != nil {
			errs = append(errs, fmt.Errorf("store REVOKED for %s: %w", m.TaskID, err))
		}
	})
	return n, errors.Join(append([]error{err}, errs...)...)
}

// MovePending moves the messages of from that f selects to the back of
// queue to and returns how many it moved.
func (c *Client) MovePending(ctx context.Context, from, to string, f MessageFilter) (int, error) {
	qi, err := c.inspector()
	if err != nil {
		return 0, err
	}
	for _, q := range []string{from, to} {
		if err := ValidateQueue(q); err != nil {
			return 0, err
		}
	}
	if from == to {
		return 0, fmt.Errorf("celery: move: %q to itself", from)
	}
	return qi.MoveMessages(ctx, from, to, f)
}

// PausedQueue is a queue paused fleet-wide (celery/control's PauseQueue):
// the workers that consumed it when it was paused, which a resume makes
// consume it again.
type PausedQueue struct {
	Queue    string    `json:"queue"`
	Workers  []string  `json:"workers"`
	PausedAt time.Time `json:"paused_at"`
}

// PauseStore records the paused queues (celery/redis keeps them in Redis).
type PauseStore interface {
	// SetPaused records queue as paused by workers (added to those
	// recorded already).
	SetPaused(ctx context.Context, queue string, workers []string) (*PausedQueue, error)
	// TakePaused removes queue's record and returns it
	// (ErrNotPaused when it has none).
	TakePaused(ctx context.Context, queue string) (*PausedQueue, error)
	// PausedQueues returns every record.
	PausedQueues(ctx context.Context) ([]PausedQueue, error)
}

// ErrNotPaused is returned when resuming a queue that is not paused.
var ErrNotPaused = errors.New("celery: queue is not paused")
