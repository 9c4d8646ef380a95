package celery

import (
	"context"
	"fmt"
	"time"
)

// The archive (dead-letter) keeps copies of work that will not run again
// by itself: tasks that failed for good, messages rejected without
// requeue, malformed messages. A worker copies them to it; the API and the
// CLI list them, put them back on their queues or drop them. It is an
// optional transport capability (celery/redis keeps it in Redis), not part
// of Transport: callers type-assert.

// Archive reasons.
const (
	ArchiveFailed    = "failed"    // the task failed for good (retries exhausted)
	ArchiveRejected  = "rejected"  // rejected without requeue (an unregistered task, say)
	ArchiveMalformed = "malformed" // the message could not be read or run
)

// ArchivedMessage is one entry of the archive.
type ArchivedMessage struct {
	// ID names the entry: the task id, or a generated one for a message
	// whose task id could not be found.
	ID     string `json:"id"`
	TaskID string `json:"task_id"`
	Task   string `json:"task"`
	Args   string `json:"args"`
	Kwargs string `json:"kwargs"`
	Queue  string `json:"queue"`
	// Priority is the message's priority: requeued into that bucket.
	Priority int `json:"priority"`
	// Reason is ArchiveFailed, ArchiveRejected or ArchiveMalformed;
	// Error the exception or the rejection's reason.
	Reason     string    `json:"reason"`
	Error      string    `json:"error"`
	ArchivedAt time.Time `json:"archived_at"`
	// Size is the message's length in bytes.
	Size int `json:"size"`
	// Requeueable reports whether the message itself was kept (one over
	// the archive's size bound is not).
	Requeueable bool `json:"requeueable"`
	// Message is the message as it was taken (not listed).
	Message []byte `json:"-"`
}

// ArchivePage is one page of the archive, newest first.
type ArchivePage struct {
	Messages []ArchivedMessage
	Next     string // cursor of the next page; "" at the end
}

// Archiver keeps the archive.
type Archiver interface {
	// Archive adds m (replacing an entry of the same ID), then drops
	// entries older than maxAge and the oldest beyond maxCount.
	Archive(ctx context.Context, m ArchivedMessage, maxCount int, maxAge time.Duration) error
	// ArchivedMessages lists up to limit entries from cursor ("" first),
	// newest first; Message is not filled in.
	ArchivedMessages(ctx context.Context, cursor string, limit int) (*ArchivePage, error)
	// ArchivedMessage returns entry id, Message included
	// (ErrMessageNotFound when there is none).
	ArchivedMessage(ctx context.Context, id string) (*ArchivedMessage, error)
	// RequeueArchived publishes entry id's message again to its queue and
	// removes the entry. ErrMessageNotFound when there is none;
	// ErrNotRequeueable when its message was not kept.
	RequeueArchived(ctx context.Context, id string) (*ArchivedMessage, error)
	// DeleteArchived removes entry id (ErrMessageNotFound when there is
	// none).
	DeleteArchived(ctx context.Context, id string) (*ArchivedMessage, error)
}

// ErrNotRequeueable is returned by RequeueArchived for an entry whose
// message was too large to keep.
var ErrNotRequeueable = fmt.Errorf("celery: archived message not kept (too large); it cannot be requeued")

func (c *Client) archiver() (Archiver, error) {
	a, ok := c.pub.(Archiver)
	if !ok {
		return nil, fmt.Errorf("archive: %w", ErrUnsupported)
	}
	return a, nil
}

// ArchivedMessages lists the archive, newest first (Archiver).
func (c *Client) ArchivedMessages(ctx context.Context, cursor string, limit int) (*ArchivePage, error) {
	a, err := c.archiver()
	if err != nil {
		return nil, err
	}
	return a.ArchivedMessages(ctx, cursor, limit)
}

// RequeueArchived puts archive entry id's message back on its queue. The
// task's stored result (its FAILURE) is forgotten first, so that clients
// wait for the new run.
func (c *Client) RequeueArchived(ctx context.Context, id string) (*ArchivedMessage, error) {
	a, err := c.archiver()
	if err != nil {
		return nil, err
	}
	m, err := a.ArchivedMessage(ctx, id)
	if err != nil {
		return nil, err
	}
	if !m.Requeueable {
		return nil, ErrNotRequeueable
	}
	if c.results != nil && m.TaskID != "" {
		if err := c.results.Forget(ctx, m.TaskID); err != nil {
			return nil, fmt.Errorf("requeue %s: forget its result: %w", id, err)
		}
	}
	return a.RequeueArchived(ctx, id)
}

// DeleteArchived drops archive entry id.
func (c *Client) DeleteArchived(ctx context.Context, id string) (*ArchivedMessage, error) {
	a, err := c.archiver()
	if err != nil {
		return nil, err
	}
	return a.DeleteArchived(ctx, id)
}
