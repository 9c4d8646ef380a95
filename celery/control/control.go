package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// DefaultTimeout is how long a broadcast waits for replies when no timeout
// is given: 1 s, as celery's Control.broadcast.
const DefaultTimeout = time.Second

// Clock is a Lamport clock: Forward ticks it for an outgoing message,
// Adjust merges a clock value received from a peer. *events.Clock
// implements it.
type Clock interface {
	Forward() int64
	Adjust(other int64) int64
}

// Control is a remote-control client of kombu's pidbox mailbox "celery"
// (celery/app/control.py Control): it broadcasts commands on
// /{db}.celery.pidbox and collects replies on its own reply list. It
// works against Go and Python workers alike.
//
// A Control is safe for concurrent use: every broadcast that wants replies
// uses a reply queue of its own.
type Control struct {
	broker celery.Mailbox
	o      options
}

type options struct {
	clock  Clock
	logger *slog.Logger
}

// Option configures a Control.
type Option func(*options)

// WithClock shares a Lamport clock (e.g. the one of an events dispatcher).
// Default: a private clock.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger sets the logger for undecodable replies. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// New returns a control client on broker. The broker stays owned by the
// caller.
func New(broker celery.Mailbox, opts ...Option) *Control {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.clock == nil {
		o.clock = &events.Clock{}
	}
	return &Control{broker: broker, o: o}
}

// Request is one broadcast (kombu Mailbox._broadcast).
type Request struct {
	// Method is the command name, e.g. "ping".
	Method string
	// Arguments are the command's keyword arguments. nil sends {}.
	Arguments map[string]any
	// Destination limits the command to these node names; empty means
	// every node (subject to Pattern).
	Destination []string
	// Pattern with Matcher ("glob", the default, or "pcre") selects nodes
	// by name instead of Destination.
	Pattern string
	Matcher string
	// Reply asks nodes to answer; without it Broadcast returns at once.
	Reply bool
	// Timeout bounds the wait for replies. Zero means DefaultTimeout.
	Timeout time.Duration
	// Limit stops collecting after this many replies. Zero means
	// len(Destination) when a destination is given, else no limit (wait
	// the full timeout).
	Limit int
}

// Reply is one node's answer.
type Reply struct {
	Node  string
	Value any
}

// Broadcast publishes req and, when req.Reply is set, collects replies
// until req.Limit replies arrived or req.Timeout passed. Replies come in
// arrival order; Python's Control.broadcast returns the same list of
// {node: value} dicts.
func (c *Control) Broadcast(ctx context.Context, req Request) ([]Reply, error) {
	if req.Method == "" {
		return nil, errors.New("control: empty method")
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	limit := req.Limit
	if limit == 0 && len(req.Destination) > 0 {
		limit = len(req.Destination)
	}
	body := map[string]any{
		"method":      req.Method,
		"arguments":   orEmpty(req.Arguments),
		"destination": nil,
		"pattern":     nil,
		"matcher":     nil,
	}
	if len(req.Destination) > 0 {
		body["destination"] = slices.Clone(req.Destination)
	}
	if req.Pattern != "" {
		body["pattern"] = req.Pattern
		m := req.Matcher
		if m == "" {
			m = "glob"
		}
		body["matcher"] = m
	}
	var oid, ticket, replyQueue string
	if req.Reply {
		oid, ticket = uuid.NewString(), uuid.NewString()
		replyQueue = oid + "." + kombu.ReplyExchange
		body["ticket"] = ticket
		body["reply_to"] = map[string]any{"exchange": kombu.ReplyExchange, "routing_key": oid}
		// Declare the reply queue before anyone can answer (Mailbox._publish
		// maybe_declare).
		if err := c.broker.DeclareBinding(ctx, kombu.ReplyExchange, oid, replyQueue, kombu.ControlQueueExpires); err != nil {
			return nil, fmt.Errorf("control: declare reply queue: %w", err)
		}
		defer func() {
			// Remove the reply binding and lists (kombu virtual
			// after_reply_message_received).
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			c.broker.DeleteQueue(cctx, replyQueue, kombu.ReplyExchange, oid)
		}()
	}
	raw, err := pyjson.Encode(body)
	if err != nil {
		return nil, fmt.Errorf("control: encode %s: %w", req.Method, err)
	}
	expires := float64(time.Now().Add(timeout).UnixMicro()) / 1e6
	env := kombu.Envelope{
		Body: raw, ContentType: "application/json", ContentEncoding: "utf-8",
		Headers: map[string]any{"clock": c.o.clock.Forward(), "expires": expires},
		Properties: kombu.Properties{
			CorrelationID: uuid.NewString(), DeliveryMode: 2, BodyEncoding: "base64",
			DeliveryTag:  uuid.NewString(),
			DeliveryInfo: kombu.DeliveryInfo{Exchange: kombu.PidboxExchange},
		},
	}
	msg, err := env.Append(nil)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := c.broker.Broadcast(ctx, kombu.PidboxExchange, celery.BroadcastMessage{Body: msg}); err != nil {
		return nil, fmt.Errorf("control: publish %s: %w", req.Method, err)
	}
	if !req.Reply {
		return nil, nil
	}
	return c.collect(ctx, replyQueue, ticket, limit, time.Now().Add(timeout))
}

// collect takes replies from the reply queue until limit replies with
// our ticket arrived or the deadline passed (Mailbox._collect), and
// returns the replies it has, with the error if one ended it early.
//
// Each wait blocks at most collectBlock, and ctx is checked between them.
func (c *Control) collect(ctx context.Context, queue, ticket string, limit int, deadline time.Time) ([]Reply, error) {
	var out []Reply
	for limit <= 0 || len(out) < limit {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		raw, err := c.broker.Pop(ctx, queue, min(left, collectBlock))
		if err != nil {
			return out, fmt.Errorf("control: collect replies: %w", err)
		}
		if raw == nil {
			continue
		}
		env, err := kombu.ParseEnvelope(raw)
		if err != nil {
			c.o.logger.Warn("control: malformed reply", "error", err)
			continue
		}
		if t, _ := env.Headers["ticket"].(string); t != ticket {
			continue // someone else's (cannot happen: the queue is ours)
		}
		if n, ok := kombu.AsInt(env.Headers["clock"]); ok {
			c.o.clock.Adjust(int64(n))
		}
		// Replies come in the worker's serializer (its task_serializer).
		v, err := codec.Decode(env.ContentType, env.Body)
		if err != nil {
			c.o.logger.Warn("control: undecodable reply", "error", err)
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		for _, node := range slices.Sorted(maps.Keys(m)) {
			out = append(out, Reply{Node: node, Value: m[node]})
		}
	}
	return out, nil
}

// collectBlock bounds one wait of collect.
const collectBlock = time.Second

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// flatten turns replies into node → value (Inspect._prepare). A node
// answering twice keeps its last reply.
func flatten(rs []Reply) map[string]any {
	out := make(map[string]any, len(rs))
	for _, r := range rs {
		out[r.Node] = r.Value
	}
	return out
}

// Inspect runs an inspect method (celery inspect <method>) and returns
// node name → reply as decoded from the wire: the generic form, for
// custom commands and for printing replies as they came. The typed
// methods (Ping, Stats, Active, ...) decode the same replies into types.
// args are the method's keyword arguments (nil for none). With
// destinations it returns as soon as each has answered. Any timeout
// works, beyond the connection's read timeout too; an error that ends the
// wait early comes with the replies received before it.
func (c *Control) Inspect(ctx context.Context, method string, args map[string]any, timeout time.Duration, destination ...string) (map[string]any, error) {
	rs, err := c.Broadcast(ctx, Request{Method: method, Arguments: args, Destination: destination, Reply: true, Timeout: timeout})
	return flatten(rs), err
}

// Call broadcasts a control command that wants replies and returns node
// → reply, like Inspect.
func (c *Control) Call(ctx context.Context, method string, args map[string]any, timeout time.Duration, destination ...string) (map[string]any, error) {
	return c.Inspect(ctx, method, args, timeout, destination...)
}

// Ping asks nodes to answer; each answers Status{OK: "pong"}.
func (c *Control) Ping(ctx context.Context, timeout time.Duration, destination ...string) (map[string]Status, error) {
	return decodeStatus(c.Inspect(ctx, "ping", nil, timeout, destination...))
}

// Stats asks nodes for their statistics.
func (c *Control) Stats(ctx context.Context, timeout time.Duration, destination ...string) (map[string]Stats, error) {
	return decodeReplies[Stats](c.Inspect(ctx, "stats", nil, timeout, destination...))
}

// Active lists the tasks nodes are running. With safe, each TaskInfo's
// Args and Kwargs are repr strings instead of values (inspect active
// --safe).
func (c *Control) Active(ctx context.Context, safe bool, timeout time.Duration, destination ...string) (map[string][]TaskInfo, error) {
	var args map[string]any
	if safe {
		args = map[string]any{"safe": true}
	}
	return decodeReplies[[]TaskInfo](c.Inspect(ctx, "active", args, timeout, destination...))
}

// Reserved lists the tasks nodes prefetched and have not started.
func (c *Control) Reserved(ctx context.Context, timeout time.Duration, destination ...string) (map[string][]TaskInfo, error) {
	return decodeReplies[[]TaskInfo](c.Inspect(ctx, "reserved", nil, timeout, destination...))
}

// Scheduled lists the tasks nodes hold until their ETA.
func (c *Control) Scheduled(ctx context.Context, timeout time.Duration, destination ...string) (map[string][]ScheduledTask, error) {
	return decodeReplies[[]ScheduledTask](c.Inspect(ctx, "scheduled", nil, timeout, destination...))
}

// QueryTask asks nodes about task ids they hold: node → task id → state.
func (c *Control) QueryTask(ctx context.Context, ids []string, timeout time.Duration, destination ...string) (map[string]map[string]TaskState, error) {
	return decodeReplies[map[string]TaskState](c.Inspect(ctx, "query_task", map[string]any{"ids": slices.Clone(ids)}, timeout, destination...))
}

// Registered lists the task names nodes know, each followed by
// " [attr=value ...]" for the requested task attributes that are set
// (none: Celery's default, rate_limit and the routing).
func (c *Control) Registered(ctx context.Context, timeout time.Duration, destination ...string) (map[string][]string, error) {
	return decodeReplies[[]string](c.Inspect(ctx, "registered", nil, timeout, destination...))
}

// Revoked lists the task ids nodes hold as revoked.
func (c *Control) Revoked(ctx context.Context, timeout time.Duration, destination ...string) (map[string][]string, error) {
	return decodeReplies[[]string](c.Inspect(ctx, "revoked", nil, timeout, destination...))
}

// ActiveQueues lists the queues nodes consume from.
func (c *Control) ActiveQueues(ctx context.Context, timeout time.Duration, destination ...string) (map[string][]QueueInfo, error) {
	return decodeReplies[[]QueueInfo](c.Inspect(ctx, "active_queues", nil, timeout, destination...))
}

// Conf asks nodes for their configuration (without Celery's defaults).
func (c *Control) Conf(ctx context.Context, timeout time.Duration, destination ...string) (map[string]Conf, error) {
	return decodeReplies[Conf](c.Inspect(ctx, "conf", map[string]any{"with_defaults": false}, timeout, destination...))
}

// Report asks nodes for their bug-report text (Status.OK).
func (c *Control) Report(ctx context.Context, timeout time.Duration, destination ...string) (map[string]Status, error) {
	return decodeStatus(c.Inspect(ctx, "report", nil, timeout, destination...))
}

// Clock asks nodes for their Lamport clock values.
func (c *Control) Clock(ctx context.Context, timeout time.Duration, destination ...string) (map[string]ClockValue, error) {
	return decodeReplies[ClockValue](c.Inspect(ctx, "clock", nil, timeout, destination...))
}

// Revoke broadcasts revoke for ids without waiting for replies
// (app.control.revoke). With terminate the running task is stopped;
// signal is a name like "SIGTERM" (empty means SIGTERM).
func (c *Control) Revoke(ctx context.Context, ids []string, terminate bool, signal string) error {
	if signal == "" {
		signal = "SIGTERM"
	}
	_, err := c.Broadcast(ctx, Request{Method: "revoke", Arguments: revokeArgs(ids, terminate, signal)})
	return err
}

func revokeArgs(ids []string, terminate bool, signal string) map[string]any {
	var id any = slices.Clone(ids)
	if len(ids) == 1 {
		id = ids[0]
	}
	return map[string]any{"task_id": id, "terminate": terminate, "signal": signal}
}

// RevokeWithReply is Revoke that collects the workers' replies.
func (c *Control) RevokeWithReply(ctx context.Context, ids []string, terminate bool, signal string, timeout time.Duration, destination ...string) (map[string]Status, error) {
	if signal == "" {
		signal = "SIGTERM"
	}
	return decodeStatus(c.Call(ctx, "revoke", revokeArgs(ids, terminate, signal), timeout, destination...))
}

// RateLimit sets a task's rate limit ("10/s", "5/m", "1/h", a number per
// second, or "" to disable) on nodes.
func (c *Control) RateLimit(ctx context.Context, task, rate string, timeout time.Duration, destination ...string) (map[string]Status, error) {
	return decodeStatus(c.Call(ctx, "rate_limit", map[string]any{"task_name": task, "rate_limit": rate}, timeout, destination...))
}

// TimeLimit sets a task's soft and hard time limits in seconds; a nil
// pointer sends null (no limit).
func (c *Control) TimeLimit(ctx context.Context, task string, soft, hard *float64, timeout time.Duration, destination ...string) (map[string]Status, error) {
	args := map[string]any{"task_name": task, "soft": nil, "hard": nil}
	if soft != nil {
		args["soft"] = *soft
	}
	if hard != nil {
		args["hard"] = *hard
	}
	return decodeStatus(c.Call(ctx, "time_limit", args, timeout, destination...))
}

// PoolGrow adds n to the nodes' concurrency.
func (c *Control) PoolGrow(ctx context.Context, n int, timeout time.Duration, destination ...string) (map[string]Status, error) {
	return decodeStatus(c.Call(ctx, "pool_grow", map[string]any{"n": n}, timeout, destination...))
}

// PoolShrink removes n from the nodes' concurrency.
func (c *Control) PoolShrink(ctx context.Context, n int, timeout time.Duration, destination ...string) (map[string]Status, error) {
	return decodeStatus(c.Call(ctx, "pool_shrink", map[string]any{"n": n}, timeout, destination...))
}

// Autoscale sets the bounds of nodes' autoscalers (app.control.autoscale);
// a node without one answers Celery's "Autoscale not enabled" error.
func (c *Control) Autoscale(ctx context.Context, maxC, minC int, timeout time.Duration, destination ...string) (map[string]Status, error) {
	return decodeStatus(c.Call(ctx, "autoscale", map[string]any{"max": maxC, "min": minC}, timeout, destination...))
}

// RevokeByStampedHeaders flags stamp values as revoked on nodes
// (app.control.revoke_by_stamped_headers): headers maps a stamp name to a
// value or a list of values. Tasks carrying one are discarded when they
// come to run; with terminate the running ones are stopped too. signal
// is a name like "SIGTERM" (empty means SIGTERM).
func (c *Control) RevokeByStampedHeaders(ctx context.Context, headers map[string]any, terminate bool, signal string, timeout time.Duration, destination ...string) (map[string]Status, error) {
	if signal == "" {
		signal = "SIGTERM"
	}
	return decodeStatus(c.Call(ctx, "revoke_by_stamped_headers", map[string]any{"headers": headers, "terminate": terminate, "signal": signal}, timeout, destination...))
}

// AddConsumer makes nodes consume from queue.
func (c *Control) AddConsumer(ctx context.Context, queue string, timeout time.Duration, destination ...string) (map[string]Status, error) {
	return decodeStatus(c.Call(ctx, "add_consumer", map[string]any{"queue": queue}, timeout, destination...))
}

// CancelConsumer makes nodes stop consuming from queue.
func (c *Control) CancelConsumer(ctx context.Context, queue string, timeout time.Duration, destination ...string) (map[string]Status, error) {
	return decodeStatus(c.Call(ctx, "cancel_consumer", map[string]any{"queue": queue}, timeout, destination...))
}

// EnableEvents turns task events on at nodes (no reply wanted, as Flower
// sends it).
func (c *Control) EnableEvents(ctx context.Context, destination ...string) error {
	_, err := c.Broadcast(ctx, Request{Method: "enable_events", Destination: destination})
	return err
}

// DisableEvents turns task events off at nodes.
func (c *Control) DisableEvents(ctx context.Context, destination ...string) error {
	_, err := c.Broadcast(ctx, Request{Method: "disable_events", Destination: destination})
	return err
}

// Heartbeat asks nodes to send a worker-heartbeat event now (an events
// receiver's wakeup).
func (c *Control) Heartbeat(ctx context.Context, destination ...string) error {
	_, err := c.Broadcast(ctx, Request{Method: "heartbeat", Destination: destination})
	return err
}

// Shutdown asks nodes to shut down warmly. Nodes do not reply.
func (c *Control) Shutdown(ctx context.Context, destination ...string) error {
	_, err := c.Broadcast(ctx, Request{Method: "shutdown", Destination: destination})
	return err
}

// InspectMethods are the read-only commands `celery inspect` offers.
var InspectMethods = []string{
	"active", "active_queues", "clock", "conf", "hello", "memdump", "memsample",
	"objgraph", "ping", "query_task", "registered", "report", "reserved",
	"revoked", "scheduled", "stats",
}
