package events

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// Event types Celery defines (celery/events; docs/wire.md#event-types).
const (
	WorkerOnline    = "worker-online"
	WorkerHeartbeat = "worker-heartbeat"
	WorkerOffline   = "worker-offline"
	TaskSent        = "task-sent"
	TaskReceived    = "task-received"
	TaskStarted     = "task-started"
	TaskSucceeded   = "task-succeeded"
	TaskFailed      = "task-failed"
	TaskRetried     = "task-retried"
	TaskRevoked     = "task-revoked"
	TaskRejected    = "task-rejected"
)

// Exchange is the events exchange (celery event_exchange).
const Exchange = kombu.EventExchange

// Event is one event as sent: its JSON fields by name. Numbers decoded by
// a Receiver are json.Number values; use the accessors for the standard
// fields.
type Event map[string]any

// Type returns the event type, e.g. "task-succeeded".
func (e Event) Type() string { s, _ := e["type"].(string); return s }

// Hostname returns the sender's node name.
func (e Event) Hostname() string { s, _ := e["hostname"].(string); return s }

// UUID returns the task id of a task event.
func (e Event) UUID() string { s, _ := e["uuid"].(string); return s }

// Float returns a numeric field as float64 (0, false when absent).
func (e Event) Float(name string) (float64, bool) {
	switch x := e[name].(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case interface{ Float64() (float64, error) }:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// Int returns an integer field (0, false when absent or fractional).
func (e Event) Int(name string) (int64, bool) {
	if n, ok := kombu.AsInt(e[name]); ok {
		return int64(n), true
	}
	if x, ok := e[name].(int64); ok {
		return x, true
	}
	return 0, false
}

// Time returns the timestamp field as a time.
func (e Event) Time() time.Time {
	f, _ := e.Float("timestamp")
	return time.UnixMicro(int64(f * 1e6))
}

// Group returns the event's group, the part of its type before "-"
// ("task" or "worker").
func (e Event) Group() string { return groupOf(e.Type()) }

// RoutingKey returns the routing key of an event type: "-" replaced by
// "." (celery/events/event.py `get_exchange`/`group_from`).
func RoutingKey(eventType string) string { return strings.ReplaceAll(eventType, "-", ".") }

// Clock is a Lamport clock (kombu/clocks.py LamportClock), safe for
// concurrent use. The zero value starts at 0.
type Clock struct{ v atomic.Int64 }

// Forward ticks the clock for an outgoing message and returns the new
// value.
func (c *Clock) Forward() int64 { return c.v.Add(1) }

// Adjust merges a value received from a peer: max(local, other) + 1.
func (c *Clock) Adjust(other int64) int64 {
	for {
		cur := c.v.Load()
		n := max(cur, other) + 1
		if c.v.CompareAndSwap(cur, n) {
			return n
		}
	}
}

// Value returns the current value without ticking.
func (c *Clock) Value() int64 { return c.v.Load() }

// UTCOffset returns Celery's utcoffset for t's zone: hours west of UTC,
// exact, as Celery 5.7 computes it (celery/utils/time.py `utcoffset`, a
// true division; docs/wire.md#event-fields). UTC → 0, UTC+2 → -2,
// UTC-5 → 5, UTC+5:30 → -5.5.
func UTCOffset(t time.Time) float64 {
	_, off := t.Zone()
	return float64(-off) / 3600
}

// NewTaskSent returns the task-sent event of a message published to
// queue (celery/app/amqp.py send_task_message with task_send_sent_event):
// Emit it after the publish.
func NewTaskSent(msg *celery.Message, queue, exchange, routingKey string) *TaskSentEvent {
	iso := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		s := t.Format("2006-01-02T15:04:05.000000-07:00")
		return &s
	}
	args, kwargs := msg.ArgsRepr, msg.KwargsRepr
	if args == "" {
		args = pyjson.ArgsRepr(msg.Args)
	}
	if kwargs == "" {
		kwargs = pyjson.KwargsRepr(msg.Kwargs)
	}
	root := msg.RootID
	if root == "" {
		root = msg.ID
	}
	var parent *string
	if p := msg.ParentID; p != "" {
		parent = &p
	}
	return &TaskSentEvent{
		UUID: msg.ID, RootID: &root, ParentID: parent, Name: msg.Name(),
		Args: args, Kwargs: kwargs, Retries: msg.Retries, ETA: iso(msg.ETA),
		Expires: iso(msg.Expires), Queue: queue, Exchange: exchange, RoutingKey: routingKey,
	}
}
