package worker

import (
	"context"
	"errors"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// DefaultMaxMessageSize is the default message size limit
// (WithMaxMessageSize): 32 MiB.
const DefaultMaxMessageSize = 32 << 20

// WithMaxMessageSize sets the largest message the worker takes, in bytes;
// 0 means no limit. A longer message is removed from its queue without
// being recorded in unacked and rejected like any malformed message (one
// log line, a FAILURE when its task id can be found). Messages taken in a
// batch are measured inside Redis and never transferred. Default
// DefaultMaxMessageSize.
func WithMaxMessageSize(n int) Option {
	return func(o *options) { o.maxMessageSize = max(n, 0); o.maxMessageSizeSet = true }
}

// rejection is why a delivery cannot become a request, as the Python
// exception a client waiting on the task gets.
type rejection struct {
	excType, excModule string
}

// classify maps a decoding error to the exception Celery's own code would
// raise for it (kombu serialization.py, celery/worker/consumer).
func classify(d *celery.Delivery, err error) rejection {
	switch {
	case errors.Is(err, celery.ErrContentType):
		return rejection{"ContentDisallowed", "kombu.exceptions"}
	case errors.Is(err, celery.ErrMessageTooLarge):
		return rejection{"LimitExceeded", "kombu.exceptions"}
	case errors.Is(err, celery.ErrSignature):
		return rejection{"SecurityError", celeryExc}
	case d.Err != nil, errors.Is(err, celery.ErrDecode):
		return rejection{"DecodeError", "kombu.exceptions"}
	}
	return rejection{"InvalidTaskError", celeryExc}
}

// reject drops a delivery that cannot be run: one log line with the reason
// (and task id when known), an acknowledgement, and, when a task id can be
// found, a FAILURE result so that a client waiting on it gets an error
// instead of waiting forever. Nothing in it is ever executed or
// deserialized beyond JSON.
func (w *Worker) reject(ctx context.Context, d *celery.Delivery, err error) {
	id, task := d.Identify()
	// The reason may quote hostile text (a content type, a date): bounded.
	reason := pyjson.Truncate(err.Error(), 512)
	attrs := []any{"queue", d.Queue, "reason", reason, "size", d.Size}
	if d.Tag != "" {
		attrs = append(attrs, "delivery_tag", d.Tag)
	}
	if id != "" {
		attrs = append(attrs, "task_id", id)
	}
	if !d.Parsed() && d.Raw != nil {
		// Not even an envelope (invalid JSON, say): show what came, as
		// Celery's decode-error line does (its first bytes, quoted).
		attrs = append(attrs, "content", d.Content())
	}
	w.o.logger.Error("rejected malformed message", attrs...)
	w.tm.reject()
	w.acker.ack(d)
	w.intake.releaseSlot()
	w.archive(d, nil, celery.ArchiveMalformed, reason)
	if id == "" {
		return
	}
	rj := classify(d, err)
	m := &celery.ResultMeta{
		TaskID: id, Status: celery.StateFailure, DateDone: time.Now(),
		Result:    celery.Exception(rj.excType, rj.excModule, reason),
		Traceback: "Traceback (most recent call last):\n  File \"<celeriac>\", in accept\n" + rj.excModule + "." + rj.excType + ": " + reason + "\n",
	}
	if w.o.resultExtended {
		m.Name, m.Worker, m.Queue = task, w.o.hostname, d.Queue
	}
	replyTo, corr := d.ReplyTo()
	w.store(celery.WithReplyTo(ctx, replyTo, corr), m)
}
