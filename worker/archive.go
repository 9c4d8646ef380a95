package worker

import (
	"context"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// Archive defaults (WithArchive).
const (
	DefaultArchiveMaxCount = 10000
	DefaultArchiveMaxAge   = 7 * 24 * time.Hour
)

// archiveOptions bound the archive (WithArchive).
type archiveOptions struct {
	set      bool
	maxCount int
	maxAge   time.Duration
}

// WithArchive bounds the archive (dead-letter) the worker copies work to
// that will not run again by itself: tasks that failed for good (an
// error, a panic, retries exhausted), messages rejected without requeue
// (an unregistered task) and malformed messages. The archive keeps at most
// maxCount entries, none older than maxAge (0: no age bound); maxCount 0
// turns archiving off. It needs a transport that is a celery.Archiver
// (Redis); on another the worker archives nothing. Default
// DefaultArchiveMaxCount, DefaultArchiveMaxAge.
func WithArchive(maxCount int, maxAge time.Duration) Option {
	return func(o *options) {
		o.archive = archiveOptions{set: true, maxCount: max(maxCount, 0), maxAge: max(maxAge, 0)}
	}
}

// archiveMaxMalformed is the largest malformed message the archive keeps
// whole (to be requeued once the worker accepts it, say a content type
// added to --accept-content); a larger one is listed without it. Tasks
// that failed keep theirs up to the transport's own bound (Redis: 1 MiB).
const archiveMaxMalformed = 64 << 10

// archiveTimeout bounds one copy to the archive.
const archiveTimeout = 5 * time.Second

// archive copies d's message to the archive (when the transport keeps
// one): reason is a celery.Archive* reason, errText the exception or the
// rejection's reason, msg the decoded message when there is one. A
// failure to archive is logged, never more.
func (w *Worker) archive(d *celery.Delivery, msg *celery.Message, reason, errText string) {
	a, ok := w.broker.(celery.Archiver)
	o := w.o.archive
	if !o.set {
		o = archiveOptions{maxCount: DefaultArchiveMaxCount, maxAge: DefaultArchiveMaxAge}
	}
	if !ok || o.maxCount == 0 {
		return
	}
	m := celery.ArchivedMessage{Queue: d.Queue, Priority: d.Priority, Reason: reason,
		Error: pyjson.Truncate(errText, 1024), Size: d.Size, Message: d.Raw}
	if reason == celery.ArchiveMalformed && len(d.Raw) > archiveMaxMalformed {
		// Anyone who can publish can send these: listed, not kept.
		m.Message = nil
	}
	if msg != nil {
		m.TaskID, m.Task = msg.ID, msg.Task
		m.Args, m.Kwargs = msg.ArgsRepr, msg.KwargsRepr
		if m.Args == "" {
			m.Args = pyjson.PyRepr(msg.Args)
		}
		if m.Kwargs == "" {
			m.Kwargs = pyjson.PyRepr(msg.Kwargs)
		}
		m.Args, m.Kwargs = pyjson.Truncate(m.Args, celery.MaxReprLen), pyjson.Truncate(m.Kwargs, celery.MaxReprLen)
	} else {
		m.TaskID, m.Task = d.Identify()
	}
	m.ID = m.TaskID
	if m.ID == "" {
		m.ID = "no-id-" + d.Tag
		if d.Tag == "" {
			m.ID = "no-id-" + time.Now().UTC().Format("20060102T150405.000000000")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), archiveTimeout)
	defer cancel()
	if err := a.Archive(ctx, m, o.maxCount, o.maxAge); err != nil {
		w.o.logger.Error("could not copy a message to the archive", "task_id", m.TaskID, "reason", reason, "error", err)
	}
}
