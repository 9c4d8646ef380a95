package celery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Client sends tasks and reads their results, like a Python Celery app's
// send_task/apply_async and AsyncResult. It is safe for concurrent use.
// It works over any transport's Publisher and ResultBackend; a transport
// package offers a constructor from a URL (celery/redis.NewClient).
type Client struct {
	pub          Publisher     // where messages go
	results      ResultBackend // where results are read (nil: none)
	owns         bool          // Close closes pub and results
	defaultQueue string
	origin       string
	sent         []SentHook
	before       []BeforePublishHook
	signer       BodySigner
	router       Router     // task_routes (nil: none)
	queues       QueueTable // task_queues (nil: none)
	declared     sync.Map   // queue names declared already (kombu's maybe_declare)
}

// SentHook is called after each message a Client published, e.g. to send
// Celery's task-sent event (task_send_sent_event; see
// events.Dispatcher.TaskSent). It must not block.
type SentHook func(m *Message, pub Publishing)

type clientOptions struct {
	defaultQueue string
	sent         []SentHook
	before       []BeforePublishHook
	signer       BodySigner
	owns         bool
	router       Router
}

// ClientOption configures NewClient.
type ClientOption func(*clientOptions)

// WithDefaultQueue sets task_default_queue. Default "celery".
func WithDefaultQueue(q string) ClientOption { return func(o *clientOptions) { o.defaultQueue = q } }

// WithSentHook calls h after every published task message (Celery's
// after_task_publish signal); given several times, the hooks run in that
// order. Default none.
func WithSentHook(h SentHook) ClientOption {
	return func(o *clientOptions) { o.sent = append(o.sent, h) }
}

// WithSigner signs every message the client sends (Celery's
// task_serializer "auth"; see Signed). Default none.
func WithSigner(s BodySigner) ClientOption { return func(o *clientOptions) { o.signer = s } }

// WithRouter routes the tasks sent as Celery's task_routes does: a
// task's route fills the destination (queue, exchange, exchange type,
// routing key) when the call names none, and the priority when the call
// gives none. A Router that is also a QueueTable (Routes) declares queues
// as task_queues does: their exchange and binding are used and declared
// before the first publish. Default none.
func WithRouter(r Router) ClientOption { return func(o *clientOptions) { o.router = r } }

// WithOwnership makes Close close the publisher and the result backend
// (those that are an io.Closer). Default: the caller keeps them.
func WithOwnership() ClientOption { return func(o *clientOptions) { o.owns = true } }

// NewClient builds a client over a transport's publisher and a result
// backend (results may be nil: no results are read). The caller keeps
// ownership of both unless WithOwnership is given.
func NewClient(pub Publisher, results ResultBackend, opts ...ClientOption) *Client {
	o := clientOptions{defaultQueue: DefaultQueue}
	for _, opt := range opts {
		opt(&o)
	}
	host, _ := os.Hostname()
	c := &Client{
		pub: pub, results: results, defaultQueue: o.defaultQueue, sent: o.sent, before: o.before, owns: o.owns, signer: o.signer,
		origin: "gen" + strconv.Itoa(os.Getpid()) + "@" + host, router: o.router,
	}
	c.queues, _ = o.router.(QueueTable)
	return c
}

// DefaultQueue is Celery's default queue name.
const DefaultQueue = "celery"

// Publisher returns where the client sends messages.
func (c *Client) Publisher() Publisher { return c.pub }

// Results returns the client's result backend (nil when it has none).
func (c *Client) Results() ResultBackend { return c.results }

// Close closes the publisher and the result backend when the client owns
// them (WithOwnership), else nothing.
func (c *Client) Close() error {
	if !c.owns {
		return nil
	}
	var errs []error
	if cl, ok := c.results.(io.Closer); ok && c.results != nil {
		errs = append(errs, cl.Close())
	}
	if cl, ok := c.pub.(io.Closer); ok {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}

// SendOption is one apply_async option (docs/wire.md#signature-options).
type SendOption func(*sendOptions)

type sendOptions struct {
	msg          Message
	countdown    time.Duration
	expiresIn    time.Duration
	queue        string
	exchange     string
	exchangeType string
	routingKey   string
	prioritySet  bool
	err          error // from an invalid option, returned by SendTask
}

// Args sets the positional arguments.
func Args(args ...any) SendOption { return func(o *sendOptions) { o.msg.Args = args } }

// Kwargs sets the keyword arguments.
func Kwargs(kw map[string]any) SendOption { return func(o *sendOptions) { o.msg.Kwargs = kw } }

// Countdown delays execution by d (eta = now + d).
func Countdown(d time.Duration) SendOption { return func(o *sendOptions) { o.countdown = d } }

// ETA sets the earliest execution time.
func ETA(t time.Time) SendOption { return func(o *sendOptions) { o.msg.ETA = t } }

// Expires sets the time after which the task is revoked instead of run.
func Expires(t time.Time) SendOption { return func(o *sendOptions) { o.msg.Expires = t } }

// ExpiresIn sets expiry relative to now.
func ExpiresIn(d time.Duration) SendOption { return func(o *sendOptions) { o.expiresIn = d } }

// Priority sets the priority, 0 (first, on Redis) to 9.
func Priority(p int) SendOption {
	return func(o *sendOptions) { o.msg.Properties.Priority, o.prioritySet = p, true }
}

// Queue routes the task to a named queue. Default: the client's default.
func Queue(q string) SendOption { return func(o *sendOptions) { o.queue = q } }

// Route publishes through exchange with routingKey, reaching the queues
// bound to it (_kombu.binding.<exchange>), instead of a named queue.
func Route(exchange, routingKey string) SendOption {
	return func(o *sendOptions) { o.exchange, o.routingKey = exchange, routingKey }
}

// ExchangeType sets the type of the exchange the task is published
// through (ExchangeDirect, ExchangeTopic, ExchangeFanout), as Celery's
// exchange_type option: a topic exchange matches its bindings' patterns,
// a fanout one reaches every consumer of its broadcast queues. Default:
// the queue's declared type, else direct.
func ExchangeType(t string) SendOption { return func(o *sendOptions) { o.exchangeType = t } }

// TaskID sets the task id. Default: a new UUID4.
func TaskID(id string) SendOption { return func(o *sendOptions) { o.msg.ID = id } }

// Headers adds custom message headers.
func Headers(h map[string]any) SendOption {
	return func(o *sendOptions) {
		if o.msg.Headers == nil {
			o.msg.Headers = map[string]any{}
		}
		maps.Copy(o.msg.Headers, h)
	}
}

// Retries sets the retries header.
func Retries(n int) SendOption { return func(o *sendOptions) { o.msg.Retries = n } }

// TimeLimits sets the hard and soft time limits (0 = none).
func TimeLimits(hard, soft time.Duration) SendOption {
	return func(o *sendOptions) { o.msg.Hard, o.msg.Soft = hard, soft }
}

// Shadow sets the display name.
func Shadow(name string) SendOption { return func(o *sendOptions) { o.msg.Shadow = name } }

// IgnoreResult asks the worker not to store a result.
func IgnoreResult() SendOption { return func(o *sendOptions) { o.msg.IgnoreResult = true } }

// Compression compresses the body as kombu's compression= does: "zlib"
// (or "gzip": application/x-gzip), "brotli", "lzma" (or "xz": the .xz
// container), "zstd", or a MIME type. bzip2 can be read but not written.
func Compression(name string) SendOption { return func(o *sendOptions) { o.msg.Compression = name } }

// Link adds success callbacks.
func Link(sigs ...Signature) SendOption {
	return func(o *sendOptions) { o.msg.Embed.Callbacks = append(o.msg.Embed.Callbacks, sigs...) }
}

// LinkError adds error callbacks.
func LinkError(sigs ...Signature) SendOption {
	return func(o *sendOptions) { o.msg.Embed.Errbacks = append(o.msg.Embed.Errbacks, sigs...) }
}

// Parent sets parent and root ids, as when sent from inside a task.
func Parent(parentID, rootID string) SendOption {
	return func(o *sendOptions) { o.msg.ParentID, o.msg.RootID = parentID, rootID }
}

// Group sets the group id and index.
func Group(groupID string, index int) SendOption {
	return func(o *sendOptions) { o.msg.Group, o.msg.GroupIdx = groupID, &index }
}

// ReplyTo sets the reply_to property.
func ReplyTo(oid string) SendOption {
	return func(o *sendOptions) { o.msg.Properties.ReplyTo = oid }
}

// WithMessage applies fn to the message before it is sent, for fields no
// other option covers.
func WithMessage(fn func(*Message)) SendOption { return func(o *sendOptions) { fn(&o.msg) } }

// BuildMessage applies opts to a new message for task name, filling
// defaults as Python's send_task does (docs/wire.md#sender-defaults), and returns it with the
// destination queue or exchange.
func (c *Client) BuildMessage(name string, opts ...SendOption) (*Message, Publishing) {
	m, pub, _, _ := c.buildMessage(name, opts...)
	return m, pub
}

// buildMessage is BuildMessage that also returns the declared queue to
// declare before publishing (nil: none) and an invalid option's error.
func (c *Client) buildMessage(name string, opts ...SendOption) (*Message, Publishing, *QueueSpec, error) {
	var o sendOptions
	for _, opt := range opts {
		opt(&o)
	}
	m := o.msg
	m.Task = name
	if m.Signer == nil {
		m.Signer = c.signer
	}
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	if rq, ok := c.results.(ReplyQueue); ok && m.Properties.ReplyTo == "" {
		m.Properties.ReplyTo = rq.ReplyTo()
	}
	now := time.Now()
	if o.countdown > 0 && m.ETA.IsZero() {
		m.ETA = now.Add(o.countdown)
	}
	if o.expiresIn > 0 && m.Expires.IsZero() {
		m.Expires = now.Add(o.expiresIn)
	}
	if !m.Expires.IsZero() && m.Properties.Expiration == "" {
		ms := max(m.Expires.Sub(now).Milliseconds(), 0)
		m.Properties.Expiration = strconv.FormatInt(ms, 10)
	}
	if m.Origin == "" {
		m.Origin = c.origin
	}
	if m.Args == nil {
		m.Args = []any{}
	}
	if m.Kwargs == nil {
		m.Kwargs = map[string]any{}
	}
	m.Properties.DeliveryTag = uuid.NewString()
	m.Properties.DeliveryMode = 2
	dest, err := c.destination(name, &o)
	o.err = cmp.Or(o.err, err)
	m.Properties.Priority = o.msg.Properties.Priority
	pub := dest.pub
	pub.Priority = m.Properties.Priority
	m.Properties.DeliveryInfo = DeliveryInfo{Exchange: pub.Exchange, RoutingKey: pub.RoutingKey}
	if pub.Exchange == "" {
		m.Properties.DeliveryInfo.RoutingKey = pub.Queue
	}
	return &m, pub, dest.declare, o.err
}

// SendTask publishes task name with opts and returns its AsyncResult,
// as Python's app.send_task.
func (c *Client) SendTask(ctx context.Context, name string, opts ...SendOption) (*AsyncResult, error) {
	m, pub, declare, err := c.buildMessage(name, opts...)
	if err != nil {
		return nil, err
	}
	for _, h := range c.before {
		if err := h(ctx, m, &pub); err != nil {
			return nil, fmt.Errorf("celery: send %s[%s]: %w", name, m.ID, err)
		}
	}
	if err := c.declare(ctx, declare); err != nil {
		return nil, fmt.Errorf("celery: send %s[%s]: %w", name, m.ID, err)
	}
	if rq, ok := c.results.(ReplyQueue); ok && m.Properties.ReplyTo == rq.ReplyTo() {
		// The reply queue exists before the task can be run.
		if err := rq.DeclareReplyQueue(ctx); err != nil {
			return nil, fmt.Errorf("celery: send %s[%s]: %w", name, m.ID, err)
		}
	}
	body, err := EncodeMessage(m)
	if err != nil {
		return nil, err
	}
	pub.Body = body
	if err := c.pub.PublishOne(ctx, pub); err != nil {
		return nil, fmt.Errorf("celery: send %s[%s]: %w", name, m.ID, err)
	}
	for _, h := range c.sent {
		h(m, pub)
	}
	return c.AsyncResult(m.ID), nil
}

// Apply sends a signature: its args, kwargs and options (task_id, queue,
// priority, countdown, eta, expires, link, link_error, …) become the message,
// extra opts apply on top.
func (c *Client) Apply(ctx context.Context, sig Signature, opts ...SendOption) (*AsyncResult, error) {
	base, err := sigOptions(sig)
	if err != nil {
		return nil, err
	}
	return c.SendTask(ctx, sig.Task, append(base, opts...)...)
}

func sigOptions(sig Signature) ([]SendOption, error) {
	opts := []SendOption{Args(sig.Args...), Kwargs(sig.Kwargs)}
	o := sig.Options
	if id, ok := o["task_id"].(string); ok {
		opts = append(opts, TaskID(id))
	}
	if q, ok := o["queue"].(string); ok {
		opts = append(opts, Queue(q))
	}
	if ex, ok := o["exchange"].(string); ok && ex != "" {
		rk, _ := o["routing_key"].(string)
		opts = append(opts, Route(ex, rk))
	}
	if t, ok := o["exchange_type"].(string); ok && t != "" {
		opts = append(opts, ExchangeType(t))
	}
	if p, ok := o["priority"]; ok {
		if n, ok := asInt(p); ok {
			opts = append(opts, Priority(n))
		}
	}
	if v, ok := o["countdown"]; ok {
		if f, ok := asFloat(v); ok {
			opts = append(opts, Countdown(time.Duration(f*float64(time.Second))))
		}
	}
	for _, k := range []string{"eta", "expires"} {
		switch v := o[k].(type) {
		case string:
			t, err := ParseTime(v)
			if err != nil {
				return nil, err
			}
			if k == "eta" {
				opts = append(opts, ETA(t))
			} else {
				opts = append(opts, Expires(t))
			}
		case time.Time:
			if k == "eta" {
				opts = append(opts, ETA(v))
			} else {
				opts = append(opts, Expires(v))
			}
		default:
			if f, ok := asFloat(v); ok && k == "expires" {
				opts = append(opts, ExpiresIn(time.Duration(f*float64(time.Second))))
			}
		}
	}
	for _, k := range []string{"link", "link_error"} {
		sigs, err := sigList(o[k])
		if err != nil {
			return nil, err
		}
		if k == "link" {
			opts = append(opts, Link(sigs...))
		} else {
			opts = append(opts, LinkError(sigs...))
		}
	}
	if h, ok := o["headers"].(map[string]any); ok {
		opts = append(opts, Headers(h))
	}
	if st := sig.Stamps(); len(st) > 0 {
		opts = append(opts, Stamped(st))
	}
	return opts, nil
}

// AsyncResult returns a handle on the result of task id.
func (c *Client) AsyncResult(id string) *AsyncResult {
	return &AsyncResult{ID: id, backend: c.results}
}

// AsyncResult is a handle on one task's result (Python's AsyncResult).
type AsyncResult struct {
	ID      string
	backend ResultBackend
}

// Get waits until the task is ready (or ctx ends) and decodes a SUCCESS
// result into out (a pointer; nil to discard). A FAILURE or REVOKED task
// returns a *TaskError at once.
func (r *AsyncResult) Get(ctx context.Context, out any) error {
	m, err := r.Wait(ctx)
	if err != nil {
		return err
	}
	if e := m.Err(); e != nil {
		return e
	}
	if out == nil {
		return nil
	}
	return m.Decode(out)
}

// Wait blocks until the task is ready and returns its meta whatever the
// final state.
func (r *AsyncResult) Wait(ctx context.Context) (*ResultMeta, error) {
	return r.backend.WatchMax(ctx, r.ID, 0, nil)
}

// Info returns the current meta (PENDING when nothing is stored).
func (r *AsyncResult) Info(ctx context.Context) (*ResultMeta, error) {
	return r.backend.GetMax(ctx, r.ID, 0)
}

// State returns the current state.
func (r *AsyncResult) State(ctx context.Context) (State, error) {
	m, err := r.Info(ctx)
	if err != nil {
		return "", err
	}
	return m.Status, nil
}

// Ready reports whether the task has finished.
func (r *AsyncResult) Ready(ctx context.Context) (bool, error) {
	s, err := r.State(ctx)
	return s.Ready(), err
}

// Forget removes the result from the backend.
func (r *AsyncResult) Forget(ctx context.Context) error { return r.backend.Forget(ctx, r.ID) }

func asInt(v any) (int, bool) {
	f, ok := asFloat(v)
	if !ok || f != float64(int(f)) {
		return 0, false
	}
	return int(f), true
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case interface{ Float64() (float64, error) }:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}
