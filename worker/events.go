package worker

import (
	"strings"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// sendReceived sends task-received (worker/strategy.py).
func (w *Worker) sendReceived(r *request) {
	if !w.events.TaskEvents() {
		return
	}
	msg := r.msg
	w.events.Emit(&events.TaskReceivedEvent{
		UUID: msg.ID, Name: msg.Name(), Args: argsRepr(msg), Kwargs: kwargsRepr(msg),
		RootID: nilIfEmpty(msg.RootID), ParentID: nilIfEmpty(msg.ParentID),
		Retries: msg.Retries, ETA: isoOrNil(msg.ETA), Expires: isoOrNil(msg.Expires),
	})
}

func argsRepr(msg *celery.Message) string {
	if msg.ArgsRepr != "" {
		return msg.ArgsRepr
	}
	return pyjson.ArgsRepr(msg.Args)
}

func kwargsRepr(msg *celery.Message) string {
	if msg.KwargsRepr != "" {
		return msg.KwargsRepr
	}
	return pyjson.KwargsRepr(msg.Kwargs)
}

// nilIfEmpty is s, or None (nil) when empty.
func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// isoOrNil formats t as Python's isoformat, or None (nil) when zero.
func isoOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := isoTime(t)
	return &s
}

// isoTime formats t as Python's isoformat.
func isoTime(t time.Time) string {
	layout := "2006-01-02T15:04:05.000000-07:00"
	if t.Nanosecond()/1000 == 0 {
		layout = "2006-01-02T15:04:05-07:00"
	}
	return t.Format(layout)
}

// excRepr is Python's repr of an exception from Celery's exception dict,
// e.g. "ValueError('nope')".
func excRepr(exc map[string]any) string {
	t, _ := exc["exc_type"].(string)
	args, _ := exc["exc_message"].([]any)
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = pyjson.PyRepr(a)
	}
	return t + "(" + strings.Join(parts, ", ") + ")"
}

// WithEventSerializer sets event_serializer: the format of the worker's
// events, "json" (default), "msgpack" or "yaml" (events.WithSerializer).
func WithEventSerializer(name string) Option { return func(o *options) { o.eventSerializer = name } }
