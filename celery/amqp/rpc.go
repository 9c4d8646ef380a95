package amqp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// This file is Celery's rpc:// result backend (celery/backends/rpc.py
// `RPCBackend`): nothing is stored on the server. A client declares a
// reply queue of its own, names it in the reply_to property of every task
// it sends, and keeps in memory the last states that came back for each
// task; a worker sends each state of a task (STARTED, RETRY, custom
// states, then the final one) as a message to the task's reply_to queue
// through the default exchange, with the task's correlation id
// (docs/wire.md#rpc-result-backend).

var (
	_ celery.ResultBackend = (*RPCBackend)(nil)
	_ celery.ReplyQueue    = (*RPCBackend)(nil)
	_ celery.ChordRefuser  = (*RPCBackend)(nil)
)

// ErrNoChords is returned by the chord and group operations of the rpc
// result backend, which cannot keep a chord's counter or a saved group
// (Celery refuses them the same way).
var ErrNoChords = errors.New(`amqp: the "rpc" result backend cannot run chords or save groups ` +
	`(a group chained to a task becomes a chord too): use a result backend that supports them, such as redis://`)

// rpcKeep bounds the task states a client keeps for tasks nobody is
// waiting for; the oldest are dropped first.
const rpcKeep = 10000

// RPCOption configures NewRPCBackend.
type RPCOption func(*rpcOptions)

type rpcOptions struct {
	expires    time.Duration
	persistent bool
	serializer string
	logger     *slog.Logger
}

// WithReplyExpires sets result_expires: the reply queue's x-expires, after
// which RabbitMQ deletes it when unused (default 24 h; 0: never).
func WithReplyExpires(d time.Duration) RPCOption {
	return func(o *rpcOptions) { o.expires = max(0, d) }
}

// WithResultPersistent sets result_persistent: results are sent as
// persistent messages (delivery mode 2) instead of transient ones (1, the
// default).
func WithResultPersistent(on bool) RPCOption { return func(o *rpcOptions) { o.persistent = on } }

// WithReplySerializer sets result_serializer: "json" (default), "msgpack"
// or "yaml".
func WithReplySerializer(name string) RPCOption { return func(o *rpcOptions) { o.serializer = name } }

// RPCBackend is the rpc:// result backend on a Broker's connection. It
// is safe for concurrent use. A worker uses it to send results (Store
// needs the task's reply_to in its context: celery.WithReplyTo); a client
// to read the results of the tasks it sent itself, which only it can see.
type RPCBackend struct {
	b           *Broker
	oid         string
	o           rpcOptions
	contentType string
	mode        uint8
	ctx         context.Context // ends at Close
	cancel      context.CancelFunc
	conn        reconnect.State

	startMu sync.Mutex // serializes DeclareReplyQueue
	done    chan struct{}

	mu      sync.Mutex
	started bool
	closed  bool
	states  map[string]*rpcState
	order   []string       // task ids by first arrival, for rpcKeep
	waiters map[string]int // tasks being watched: never dropped
	changed chan struct{}  // closed (and replaced) when a state arrives
}

// rpcState is what was received for a task: its last states, the
// latest last.
type rpcState struct {
	hist []rpcEntry // at most rpcHistory
	seq  uint64     // counts the states received
}

// rpcEntry is one state received.
type rpcEntry struct {
	meta *celery.ResultMeta
	size int    // bytes of the message
	seq  uint64 // its number among the task's states, from 1
}

// rpcHistory bounds the states kept per task for WatchMax's onState
// (STARTED, RETRY, custom states, the final one); older ones are dropped.
const rpcHistory = 8

// latest returns the last state received.
func (st *rpcState) latest() *rpcEntry { return &st.hist[len(st.hist)-1] }

// NewRPCBackend returns the rpc result backend over b, logging to b's
// logger. Its reply queue is named by a new UUID (Celery's oid) and
// declared on first use. Close stops reading it; b stays open.
func NewRPCBackend(b *Broker, opts ...RPCOption) (*RPCBackend, error) {
	o := rpcOptions{expires: 24 * time.Hour, serializer: "json", logger: b.o.logger}
	for _, opt := range opts {
		opt(&o)
	}
	ct, ok := codec.ContentType(o.serializer)
	if !ok || ct == codec.Auth || ct == codec.Pickle {
		return nil, fmt.Errorf("amqp: rpc result backend: unknown result serializer %q (want json, msgpack or yaml)", o.serializer)
	}
	mode := uint8(amqp.Transient)
	if o.persistent {
		mode = amqp.Persistent
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &RPCBackend{
		b: b, oid: uuid.NewString(), o: o, contentType: ct, mode: mode, ctx: ctx, cancel: cancel,
		conn:   reconnect.State{Name: "rpc result consumer", Logger: o.logger},
		states: map[string]*rpcState{}, waiters: map[string]int{}, changed: make(chan struct{}),
	}
	return r, nil
}

// ReplyTo is the name of the reply queue (the reply_to of the tasks the
// client sends).
func (r *RPCBackend) ReplyTo() string { return r.oid }

// DeclareReplyQueue declares the reply queue as Celery's client does (a
// durable, auto-deleted queue with x-expires of result_expires) and
// starts consuming it. Later calls return at once while the connection
// it was declared on lasts; after a lost connection (RabbitMQ deleted
// the queue with its consumer) they declare it again before the consumer
// is back, so that the reply to a task sent now is kept for it.
func (r *RPCBackend) DeclareReplyQueue(ctx context.Context) error {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	r.mu.Lock()
	started, closed := r.started, r.closed
	r.mu.Unlock()
	if closed {
		return celery.ErrClosed
	}
	if started {
		if r.b.isDeclared(r.declaredKey()) {
			return nil
		}
		return r.declare(ctx)
	}
	ch, msgs, err := r.open(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		ch.Close()
		return celery.ErrClosed
	}
	r.started = true
	r.done = make(chan struct{})
	r.mu.Unlock()
	go r.run(ch, msgs)
	return nil
}

// open declares the reply queue and starts a consumer of it (no
// acknowledgements, as Celery's result consumer reads it).
func (r *RPCBackend) open(ctx context.Context) (*amqp.Channel, <-chan amqp.Delivery, error) {
	if err := r.declare(ctx); err != nil {
		return nil, nil, err
	}
	ch, err := r.b.channel(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Not ConsumeWithContext: closing the channel ends the consumer.
	msgs, err := ch.Consume(r.oid, "", true, false, false, false, nil)
	if err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("amqp: consume reply queue %s: %w", r.oid, err)
	}
	return ch, msgs, nil
}

// declare declares the reply queue on the broker's connection, and
// records it for that connection.
func (r *RPCBackend) declare(ctx context.Context) error {
	err := r.b.withChannel(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(r.oid, true, true, false, false, queueArgs(r.o.expires, 0))
		return err
	})
	if err != nil {
		return fmt.Errorf("amqp: declare reply queue %s: %w", r.oid, err)
	}
	r.b.setDeclared(r.declaredKey())
	return nil
}

// declaredKey is the reply queue's key in the broker's record of what
// its connection declared.
func (r *RPCBackend) declaredKey() string { return "rpc:" + r.oid }

// run reads the reply queue until Close, declaring it again after a lost
// connection (with back-off): RabbitMQ deleted it with its last consumer,
// so results sent in between are lost, as with Celery.
func (r *RPCBackend) run(ch *amqp.Channel, msgs <-chan amqp.Delivery) {
	defer close(r.done)
	for attempt := 0; ; {
		if ch != nil {
			closed := ch.NotifyClose(make(chan *amqp.Error, 1))
			r.read(msgs)
			ch.Close()
			if r.ctx.Err() != nil {
				return
			}
			var err error = errors.New("reply queue consumer cancelled")
			select {
			case ae, ok := <-closed:
				if ok && ae != nil {
					err = ae
				}
			default:
			}
			r.conn.Lost(err, "queue", r.oid)
		}
		if !reconnect.Sleep(r.ctx, reconnect.Backoff{}.Delay(attempt), nil) {
			return
		}
		var err error
		if ch, msgs, err = r.open(r.ctx); err != nil {
			if errors.Is(err, celery.ErrClosed) || r.ctx.Err() != nil {
				return
			}
			r.conn.Lost(err, "queue", r.oid)
			ch, attempt = nil, attempt+1
			continue
		}
		r.conn.Up()
		attempt = 0
	}
}

// read records the states in msgs until the consumer ends or Close.
func (r *RPCBackend) read(msgs <-chan amqp.Delivery) {
	for {
		select {
		case <-r.ctx.Done():
			return
		case d, ok := <-msgs:
			if !ok {
				return
			}
			r.received(&d)
		}
	}
}

// received records the state a reply carries for its task (the
// correlation id, else the meta's task_id).
func (r *RPCBackend) received(d *amqp.Delivery) {
	meta, err := celery.DecodeResultMeta(d.Body)
	if err != nil {
		r.o.logger.Warn("amqp: undecodable result message dropped", "queue", r.oid, "correlation_id", d.CorrelationId, "error", err)
		return
	}
	id := cmp.Or(d.CorrelationId, meta.TaskID)
	if id == "" {
		r.o.logger.Warn("amqp: result message without a task id dropped", "queue", r.oid)
		return
	}
	if meta.TaskID == "" {
		meta.TaskID = id
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.states[id]
	if st == nil {
		st = &rpcState{}
		r.states[id] = st
		r.order = append(r.order, id)
		r.trim()
	} else if st.latest().meta.Status.Ready() && !meta.Status.Ready() {
		return // a late state never hides a final one
	}
	st.seq++
	if len(st.hist) == rpcHistory {
		st.hist = append(st.hist[:0], st.hist[1:]...)
	}
	st.hist = append(st.hist, rpcEntry{meta: meta, size: len(d.Body), seq: st.seq})
	close(r.changed)
	r.changed = make(chan struct{})
}

// trim drops the oldest states beyond rpcKeep, except those of tasks
// being watched. r.mu is held.
func (r *RPCBackend) trim() {
	for len(r.states) > rpcKeep && len(r.order) > 0 {
		id := r.order[0]
		r.order = r.order[1:]
		if _, ok := r.states[id]; !ok {
			continue
		}
		if r.waiters[id] > 0 {
			r.order = append(r.order, id)
			if len(r.waiters) >= len(r.states) {
				return
			}
			continue
		}
		delete(r.states, id)
	}
	if len(r.order) > 2*rpcKeep { // ids forgotten since: compact
		kept := make([]string, 0, len(r.states))
		for _, id := range r.order {
			if _, ok := r.states[id]; ok {
				kept = append(kept, id)
			}
		}
		r.order = kept
	}
}

// Store sends meta to the reply_to queue of the task ctx belongs to
// (celery.WithReplyTo); a task without reply_to gets nothing, as with
// Celery. It reports whether a message was sent.
func (r *RPCBackend) Store(ctx context.Context, meta *celery.ResultMeta) (bool, error) {
	raw, err := r.EncodeMeta(meta)
	if err != nil {
		return false, err
	}
	return r.StoreRaw(ctx, meta.TaskID, meta.Status, raw)
}

// EncodeMeta encodes meta in the result serializer (no compression: the
// rpc backend sends results as plain messages).
func (r *RPCBackend) EncodeMeta(meta *celery.ResultMeta) ([]byte, error) {
	return meta.EncodeAs(r.contentType, "")
}

// StoreRaw is Store for an encoded meta: one message through the default
// exchange with routing key reply_to, correlation_id of the task (its id
// when the message had none), the serializer's content type and the
// delivery mode of result_persistent. A reply queue that no longer
// exists drops it (RabbitMQ discards an unroutable message).
func (r *RPCBackend) StoreRaw(ctx context.Context, taskID string, state celery.State, raw []byte) (bool, error) {
	replyTo, corr := celery.ReplyToFrom(ctx)
	if replyTo == "" {
		return false, nil
	}
	msg := amqp.Publishing{
		ContentType: r.contentType, ContentEncoding: codec.ContentEncoding(r.contentType),
		DeliveryMode: r.mode, CorrelationId: cmp.Or(corr, taskID), Headers: amqp.Table{}, Body: raw,
	}
	if err := r.b.publish(ctx, []outgoing{{exchange: "", routingKey: replyTo, msg: msg}}); err != nil {
		return false, fmt.Errorf("amqp: send %s state of %s to %s: %w", state, taskID, replyTo, err)
	}
	return true, nil
}

// GetMax returns the last state received for taskID (PENDING when none
// came, as Celery's), at most limit bytes of it (0: no limit). Only the
// tasks this client sent can have one.
func (r *RPCBackend) GetMax(ctx context.Context, taskID string, limit int) (*celery.ResultMeta, error) {
	if err := r.DeclareReplyQueue(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	st := r.states[taskID]
	var e rpcEntry
	if st != nil {
		e = *st.latest()
	}
	r.mu.Unlock()
	if st == nil {
		return &celery.ResultMeta{TaskID: taskID, Status: celery.StatePending}, nil
	}
	return e.copy(taskID, limit)
}

// copy returns a copy of e's meta, or a *celery.ResultTooLargeError when
// it is over limit bytes (0: no limit).
func (e *rpcEntry) copy(taskID string, limit int) (*celery.ResultMeta, error) {
	if limit > 0 && e.size > limit {
		return nil, &celery.ResultTooLargeError{TaskID: taskID, Size: e.size, Limit: limit}
	}
	m := *e.meta
	return &m, nil
}

// WatchMax waits until a ready state of taskID arrives (or ctx ends),
// calling onState (when not nil) with each state received for it, those
// that came before the call included (PENDING first when none had).
func (r *RPCBackend) WatchMax(ctx context.Context, taskID string, limit int, onState func(*celery.ResultMeta)) (*celery.ResultMeta, error) {
	if err := r.DeclareReplyQueue(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.waiters[taskID]++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.waiters[taskID]--; r.waiters[taskID] <= 0 {
			delete(r.waiters, taskID)
		}
		r.mu.Unlock()
	}()
	var seen uint64 // states passed on so far
	for first := true; ; first = false {
		r.mu.Lock()
		var news []rpcEntry
		if st := r.states[taskID]; st != nil {
			for _, e := range st.hist {
				if e.seq > seen {
					news = append(news, e)
				}
			}
		}
		changed := r.changed
		r.mu.Unlock()
		if first && len(news) == 0 && onState != nil {
			onState(&celery.ResultMeta{TaskID: taskID, Status: celery.StatePending})
		}
		for _, e := range news {
			seen = e.seq
			m, err := e.copy(taskID, limit)
			if err != nil {
				return nil, err
			}
			if onState != nil {
				onState(m)
			}
			if m.Status.Ready() {
				return m, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("celery: wait for %s: %w", taskID, ctx.Err())
		case <-r.ctx.Done():
			return nil, celery.ErrClosed
		case <-changed:
		}
	}
}

// Forget drops the state kept for taskID (nothing is stored elsewhere).
func (r *RPCBackend) Forget(_ context.Context, taskID string) error {
	r.mu.Lock()
	delete(r.states, taskID)
	r.mu.Unlock()
	return nil
}

// EnsureChordsAllowed returns ErrNoChords: a Client refuses a chord
// before sending any of its tasks.
func (r *RPCBackend) EnsureChordsAllowed() error { return ErrNoChords }

// SetChordSize fails with ErrNoChords.
func (r *RPCBackend) SetChordSize(context.Context, string, int) error { return ErrNoChords }

// ChordPartReturn fails with ErrNoChords.
func (r *RPCBackend) ChordPartReturn(context.Context, string, *int, string, celery.State, any) (*celery.ChordClaim, error) {
	return nil, ErrNoChords
}

// SaveGroup fails with ErrNoChords.
func (r *RPCBackend) SaveGroup(context.Context, string, []string) error { return ErrNoChords }

// GroupMembers fails with ErrNoChords.
func (r *RPCBackend) GroupMembers(context.Context, string) ([]string, error) { return nil, ErrNoChords }

// Close stops reading the reply queue (RabbitMQ then deletes it) and
// ends the waits; the broker stays open.
func (r *RPCBackend) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	done := r.done
	r.mu.Unlock()
	r.cancel()
	if done != nil {
		<-done
	}
	return nil
}
