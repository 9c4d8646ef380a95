package events

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/batch"
	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// Dispatcher publishes events for one node (celery/events/dispatcher.py
// EventDispatcher). Send queues an event and returns; a background flush
// publishes what queued meanwhile in one pipelined round trip, with
// several task events sent as one "task.multi" list. Worker events are
// always sent one per message (docs/wire.md#event-transport).
//
// A Dispatcher is safe for concurrent use. Close (or Flush) waits until
// every queued event was published.
type Dispatcher struct {
	broker   celery.Broadcaster
	hostname string
	clock    *Clock
	pid      int
	logger   *slog.Logger
	now      func() time.Time
	taskOn   atomic.Bool
	conn     reconnect.State // logs lost/restored once per outage
	ctype    string          // content type of the bodies (event_serializer)

	// mu orders events: each is stamped (Build: Lamport clock) and queued
	// under it, so that a batch carries increasing clocks.
	mu      sync.Mutex
	flusher *batch.Flusher[queued]
}

// options configure a Dispatcher and a Receiver: one Option type for
// both, so that WithClock and WithLogger mean the same on each. An
// option one of them has no use for is ignored by it.
type options struct {
	clock      *Clock
	taskEvents bool
	logger     *slog.Logger
	pattern    string
	onReady    func(context.Context)
	serializer string
}

// Option configures NewDispatcher and NewReceiver.
type Option func(*options)

func buildOptions(opts []Option) options {
	o := options{taskEvents: true, logger: slog.Default(), pattern: "*"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.clock == nil {
		o.clock = &Clock{}
	}
	return o
}

// WithClock shares a Lamport clock (default: a new one).
func WithClock(c *Clock) Option { return func(o *options) { o.clock = c } }

// WithTaskEvents turns a dispatcher's task events on or off at start
// (default on). Worker events are sent either way, as a Python worker
// without -E does.
func WithTaskEvents(on bool) Option { return func(o *options) { o.taskEvents = on } }

// WithLogger sets the logger for publish failures, connection changes
// and bad messages (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithSerializer sets a dispatcher's event_serializer: "json" (the
// default), "msgpack" or "yaml", or their content types. Receivers
// (Flower, Python's EventReceiver, Receiver) read all three; an unknown
// or unsafe one (pickle) is logged and JSON is used.
func WithSerializer(name string) Option { return func(o *options) { o.serializer = name } }

// NewDispatcher returns a dispatcher sending as node hostname on broker.
// The broker stays owned by the caller.
func NewDispatcher(broker celery.Broadcaster, hostname string, opts ...Option) *Dispatcher {
	o := buildOptions(opts)
	d := &Dispatcher{broker: broker, hostname: hostname, pid: os.Getpid(), logger: o.logger, clock: o.clock, now: time.Now}
	d.taskOn.Store(o.taskEvents)
	d.ctype = codec.JSON
	if o.serializer != "" {
		ct, ok := codec.ContentType(o.serializer)
		switch {
		case ok && (ct == codec.JSON || ct == codec.Msgpack || ct == codec.YAML):
			d.ctype = ct
		default:
			d.logger.Error("unknown or unsafe event serializer; sending JSON", "serializer", o.serializer)
		}
	}
	d.flusher = batch.New(dispatchFlushTimeout, d.flush)
	d.conn.Name, d.conn.Logger = "event dispatcher", d.logger
	return d
}

// Clock returns the dispatcher's Lamport clock.
func (d *Dispatcher) Clock() *Clock { return d.clock }

// Hostname returns the sender node name.
func (d *Dispatcher) Hostname() string { return d.hostname }

// TaskEvents reports whether task events are sent.
func (d *Dispatcher) TaskEvents() bool { return d.taskOn.Load() }

// SetTaskEvents turns task events on or off and returns the previous
// setting (remote control enable_events/disable_events).
func (d *Dispatcher) SetTaskEvents(on bool) bool { return d.taskOn.Swap(on) }

// Build returns the event as the dispatcher would send it, with the
// standard fields (type, hostname, timestamp, utcoffset, pid, clock) set;
// fields win over none of them but timestamp.
func (d *Dispatcher) Build(eventType string, fields map[string]any) Event {
	now := d.now()
	e := make(Event, len(fields)+6)
	for k, v := range fields {
		e[k] = v
	}
	e["type"] = eventType
	e["hostname"] = d.hostname
	e["utcoffset"] = UTCOffset(now)
	e["pid"] = d.pid
	e["clock"] = d.clock.Forward()
	if _, ok := e["timestamp"]; !ok {
		e["timestamp"] = float64(now.UnixMicro()) / 1e6
	}
	return e
}

// stamp sets the standard header fields of a typed event (type,
// hostname, utcoffset, pid, clock; timestamp unless set), as Build does
// for a map, and returns the body to send: a map for this package's
// types (the encoder's fast path, the bytes Send would give), else the
// value itself. d.mu must be held, so that clocks follow the queue order.
func (d *Dispatcher) stamp(ev Typed) any {
	now := d.now()
	h := ev.EventHeader()
	h.Type = ev.EventType()
	h.Hostname = d.hostname
	h.UTCOffset = UTCOffset(now)
	h.PID = d.pid
	h.Clock = d.clock.Forward()
	if h.Timestamp == 0 {
		h.Timestamp = float64(now.UnixMicro()) / 1e6
	}
	f, ok := ev.(fielder)
	if !ok {
		return ev
	}
	e := make(Event, 16)
	e["type"], e["hostname"], e["utcoffset"] = h.Type, h.Hostname, h.UTCOffset
	e["pid"], e["clock"], e["timestamp"] = h.PID, h.Clock, h.Timestamp
	f.fields(e)
	return e
}

// Emit queues a typed event; the dispatcher fills its Header (a
// Timestamp already set is kept). Task events are dropped while task
// events are off. It never blocks on the network. An event of a type
// defined outside this package (embedding Header) is encoded by its JSON
// tags and must not be changed after Emit.
func (d *Dispatcher) Emit(ev Typed) {
	if !d.taskOn.Load() && groupOf(ev.EventType()) == "task" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.flusher.Enqueue(queued{ev.EventType(), d.stamp(ev)})
}

// Send queues an event of eventType with fields given as a map, for
// event types or fields the typed events do not cover (relays, custom
// events). Task events are dropped while task events are off. It never
// blocks on the network.
func (d *Dispatcher) Send(eventType string, fields map[string]any) {
	if !d.taskOn.Load() && groupOf(eventType) == "task" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.flusher.Enqueue(queued{eventType, d.Build(eventType, fields)})
}

// queued is one event waiting to be published: its type and its body (an
// Event map or a Typed value).
type queued struct {
	typ  string
	body any
}

// groupOf is an event type's group: "task" or "worker".
func groupOf(eventType string) string { g, _, _ := strings.Cut(eventType, "-"); return g }

// dispatchFlushTimeout bounds one batch of events.
const dispatchFlushTimeout = 10 * time.Second

// flush publishes one batch of queued events. A failure is logged once
// per outage, not once per heartbeat; the events are dropped.
func (d *Dispatcher) flush(ctx context.Context, batch []queued) error {
	err := d.publish(ctx, batch)
	if err != nil {
		d.conn.Lost(err, "dropped_events", len(batch))
	} else {
		d.conn.Up()
	}
	return err
}

// Flush waits until every queued event was published (or failed).
func (d *Dispatcher) Flush() { d.flusher.Wait() }

// Close flushes and stops accepting events.
func (d *Dispatcher) Close() error {
	d.flusher.Close()
	return nil
}

// SendNow publishes one event given as a map synchronously, bypassing the
// queue.
func (d *Dispatcher) SendNow(ctx context.Context, eventType string, fields map[string]any) error {
	return d.publish(ctx, []queued{{eventType, d.Build(eventType, fields)}})
}

// EmitNow publishes one typed event synchronously, bypassing the queue
// (worker-offline during shutdown, after Flush).
func (d *Dispatcher) EmitNow(ctx context.Context, ev Typed) error {
	d.mu.Lock()
	body := d.stamp(ev)
	d.mu.Unlock()
	return d.publish(ctx, []queued{{ev.EventType(), body}})
}

// message is one PUBLISH.
type message struct {
	routingKey string
	body       any // one event, or []any of task events
}

func group(batch []queued) []message {
	var out []message
	var tasks []queued
	for _, q := range batch {
		if groupOf(q.typ) == "task" {
			tasks = append(tasks, q)
			continue
		}
		out = append(out, message{RoutingKey(q.typ), q.body})
	}
	switch len(tasks) {
	case 0:
	case 1:
		out = append(out, message{RoutingKey(tasks[0].typ), tasks[0].body})
	default:
		list := make([]any, len(tasks))
		for i, q := range tasks {
			list[i] = q.body
		}
		out = append(out, message{"task.multi", list})
	}
	return out
}

func (d *Dispatcher) publish(ctx context.Context, batch []queued) error {
	msgs := group(batch)
	out := make([]celery.BroadcastMessage, len(msgs))
	for i, m := range msgs {
		raw, err := d.envelope(m)
		if err != nil {
			return err
		}
		out[i] = celery.BroadcastMessage{RoutingKey: m.routingKey, Body: raw}
	}
	return d.broker.Broadcast(ctx, Exchange, out...)
}

func (d *Dispatcher) envelope(m message) ([]byte, error) {
	var body []byte
	var err error
	if d.ctype == codec.JSON {
		body, err = pyjson.Encode(m.body)
	} else {
		body, err = codec.Encode(d.ctype, m.body)
	}
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", m.routingKey, err)
	}
	env := kombu.Envelope{
		Body: body, ContentType: d.ctype, ContentEncoding: codec.ContentEncoding(d.ctype),
		Headers: map[string]any{"hostname": d.hostname},
		Properties: kombu.Properties{
			DeliveryMode: 1, BodyEncoding: "base64", DeliveryTag: uuid.NewString(),
			DeliveryInfo: kombu.DeliveryInfo{Exchange: Exchange, RoutingKey: m.routingKey},
		},
	}
	return env.Append(nil)
}

// Publish sends one already built event (or list of events) at once with
// the given routing key; exposed for relays and tests.
func (d *Dispatcher) Publish(ctx context.Context, routingKey string, body any) error {
	raw, err := d.envelope(message{routingKey, body})
	if err != nil {
		return err
	}
	return d.broker.Broadcast(ctx, Exchange, celery.BroadcastMessage{RoutingKey: routingKey, Body: raw})
}

// TaskSent sends the task-sent event of a message a client published. Its
// signature fits celery.WithSentHook, which is how a Client gets Celery's
// task_send_sent_event:
//
//	client := celery.NewClient(broker, backend, celery.WithSentHook(dispatcher.TaskSent))
func (d *Dispatcher) TaskSent(m *celery.Message, pub celery.Publishing) {
	queue, exchange, rk := pub.Queue, pub.Exchange, pub.RoutingKey
	if exchange == "" && rk == "" {
		rk = queue
	}
	d.Emit(NewTaskSent(m, queue, exchange, rk))
}
