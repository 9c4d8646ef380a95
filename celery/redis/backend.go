package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/celeriac/celeriac/celery"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/rconn"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// Backend is Celery's Redis result backend: results are stored under
// celery-task-meta-<id> with SETEX and published on the channel of the
// same name in one atomic step, and waiting readers subscribe before they
// read, so no wait ever polls (docs/wire.md#result-backend).
//
// A Backend is safe for concurrent use.
type Backend struct {
	pool     *redigo.Pool
	ownsPool bool
	o        backendOptions
	store    *redigo.Script
	getMax   *redigo.Script
	sub      *subscriber
	group    storeGroup // SUCCESS writes, grouped (storegroup.go)
}

type backendOptions struct {
	prefix      string
	expires     time.Duration
	logger      *slog.Logger
	serializer  string // content type results are written in
	compression string // result_compression: MIME type, "" for none
}

// WithResultExpires sets result_expires: how long results are kept.
// Default one day; 0 keeps them forever.
func WithResultExpires(d time.Duration) Option {
	return func(o *options) { o.backend.expires = d }
}

// WithResultSerializer sets result_serializer: the format results are
// written in ("json", the default, "msgpack" or "yaml"). As in Celery it
// is a setting of the backend, not taken from each task message; readers
// (Get, Wait) take any of the three whatever this says.
func WithResultSerializer(name string) Option {
	return func(o *options) {
		if ct, ok := codec.ContentType(name); ok && ct != codec.Pickle {
			o.backend.serializer = ct
		}
	}
}

// WithResultCompression sets result_compression (Celery 5.7): results are
// written compressed, self-described by Celery's in-band marker, so any
// reader, Python or Go, decompresses them. Default none; bzip2 cannot be
// written.
func WithResultCompression(name string) Option {
	return func(o *options) {
		if ct, ok := kombu.CompressionType(name); ok && kombu.CanCompress(ct) {
			o.backend.compression = ct
		}
	}
}

// WithResultKeyPrefix sets result_backend_transport_options'
// global_keyprefix. Default none. As Celery does, a prefix that does not
// end in one of ":_-." gets a "_" appended ("app" makes
// "app_celery-task-meta-<id>"; celery/backends/base.py
// _add_global_keyprefix).
func WithResultKeyPrefix(p string) Option {
	return func(o *options) { o.backend.prefix = resultKeyPrefix(p) }
}

// resultKeyPrefix returns the prefix Celery's result backend makes of a
// global_keyprefix p.
func resultKeyPrefix(p string) string {
	if p != "" && !strings.ContainsRune(":_-.", rune(p[len(p)-1])) {
		p += "_"
	}
	return p
}

// NewBackend connects to the result backend at url (same URL forms as the
// broker). It does not dial until first use. A global_keyprefix query
// parameter in url is the default of WithResultKeyPrefix.
func NewBackend(url string, opts ...Option) (*Backend, error) {
	cfg, err := rconn.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("celery: result backend: %w", err)
	}
	b := newBackend(markLoadingPool(rconn.NewPool(cfg, poolMaxIdle, 0)), append([]Option{WithResultKeyPrefix(cfg.KeyPrefix)}, opts...)...)
	b.ownsPool = true
	return b, nil
}

// NewBackendOn returns a result backend on the broker's Redis, sharing
// its connections (the broker URL serves as the backend's too); the
// broker stays owned by the caller, and Close leaves its connections
// open. A global_keyprefix query parameter in the broker's URL is the
// default of WithResultKeyPrefix.
func NewBackendOn(broker *Broker, opts ...Option) *Backend {
	if broker.cfg != nil && broker.cfg.KeyPrefix != "" {
		opts = append([]Option{WithResultKeyPrefix(broker.cfg.KeyPrefix)}, opts...)
	}
	return newBackend(broker.pool, opts...)
}

// NewBackendFromPool uses an existing pool; the caller keeps ownership of
// the pool (Close leaves it open).
func newBackend(pool *redigo.Pool, opts ...Option) *Backend {
	o := buildOptions(opts).backend
	b := &Backend{pool: pool, o: o, store: redigo.NewScript(1, kombu.StoreResultScript), getMax: redigo.NewScript(1, kombu.GetMaxScript)}
	b.sub = newSubscriber(pool, o.logger)
	return b
}

// Close stops the result subscriber and releases connections.
func (b *Backend) Close() error {
	b.sub.close()
	if b.ownsPool {
		return b.pool.Close()
	}
	return nil
}

// Expires returns result_expires.
func (b *Backend) Expires() time.Duration { return b.o.expires }

func (b *Backend) key(id string) string { return b.o.prefix + kombu.ResultKey(id) }

// Store writes meta unless a SUCCESS is already stored for the task, and
// publishes it to waiting readers. It reports whether it was written.
func (b *Backend) Store(ctx context.Context, meta *celery.ResultMeta) (bool, error) {
	raw, err := b.EncodeMeta(meta)
	if err != nil {
		return false, err
	}
	return b.StoreRaw(ctx, meta.TaskID, meta.Status, raw)
}

// EncodeMeta serializes meta as Store writes it: in the backend's
// result_serializer, compressed with its result_compression.
func (b *Backend) EncodeMeta(meta *celery.ResultMeta) ([]byte, error) {
	return meta.EncodeAs(b.o.serializer, b.o.compression)
}

// StoreRaw is Store for an already encoded meta in state.
//
// A SUCCESS is written with a plain MULTI (SETEX, PUBLISH): replacing a
// stored SUCCESS with another (a redelivered task that ran twice) loses
// nothing, so the guard script is kept for the other states, which must
// never hide a SUCCESS. SUCCESSes stored at the same time share one MULTI
// (storeGroup).
//
// A connection error is retried as a publish is (see Broker.PublishBatch).
func (b *Backend) StoreRaw(ctx context.Context, taskID string, state celery.State, raw []byte) (written bool, err error) {
	err = withRetry(ctx, func() error {
		written, err = b.storeRaw(ctx, taskID, state, raw)
		return err
	})
	return written, err
}

func (b *Backend) storeRaw(ctx context.Context, taskID string, state celery.State, raw []byte) (bool, error) {
	k := b.key(taskID)
	secs := int(b.o.expires / time.Second)
	if state == celery.StateSuccess { // written with the SUCCESSes of other tasks finishing now
		if err := b.group.store(ctx, b.pool, k, raw, secs); err != nil {
			return false, fmt.Errorf("celery: store result %s: %w", taskID, err)
		}
		return true, nil
	}
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return false, fmt.Errorf("celery: store result %s: %w", taskID, err)
	}
	defer c.Close()
	n, err := redigo.Int(rconn.DoScript(ctx, b.store, c, k, raw, strconv.Itoa(secs), k))
	if err != nil {
		return false, fmt.Errorf("celery: store result %s: %w", taskID, err)
	}
	return n == 1, nil
}

// Get returns the stored meta, or a PENDING meta when there is none. A
// connection error is retried as a publish is.
func (b *Backend) Get(ctx context.Context, taskID string) (m *celery.ResultMeta, err error) {
	return b.GetMax(ctx, taskID, 0)
}

// GetMax is Get for a reader that takes at most limit bytes of one
// stored result: Redis measures a larger one without sending it, and
// GetMax returns a *ResultTooLargeError. A limit of 0 or less means none.
func (b *Backend) GetMax(ctx context.Context, taskID string, limit int) (m *celery.ResultMeta, err error) {
	err = withRetry(ctx, func() error {
		m, err = b.getOnce(ctx, taskID, limit)
		return err
	})
	return m, err
}

func (b *Backend) getOnce(ctx context.Context, taskID string, limit int) (*celery.ResultMeta, error) {
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("celery: get result %s: %w", taskID, err)
	}
	defer c.Close()
	return b.get(ctx, c, taskID, limit)
}

func (b *Backend) get(ctx context.Context, c redigo.Conn, taskID string, limit int) (*celery.ResultMeta, error) {
	var reply any
	var err error
	if limit > 0 {
		reply, err = rconn.DoScript(ctx, b.getMax, c, b.key(taskID), limit)
		if n, ok := reply.(int64); ok && err == nil {
			return nil, &celery.ResultTooLargeError{TaskID: taskID, Size: int(n), Limit: limit}
		}
	} else {
		reply, err = rconn.Do(ctx, c, "GET", b.key(taskID))
	}
	raw, err := redigo.Bytes(reply, err)
	if errors.Is(err, redigo.ErrNil) {
		return &celery.ResultMeta{TaskID: taskID, Status: celery.StatePending}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("celery: get result %s: %w", taskID, err)
	}
	m, err := celery.DecodeResultMeta(raw)
	if err != nil {
		return nil, err
	}
	if m.TaskID == "" {
		m.TaskID = taskID
	}
	return m, nil
}

// Forget deletes a task's result.
func (b *Backend) Forget(ctx context.Context, taskID string) error {
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := redigo.DoContext(c, ctx, "DEL", b.key(taskID)); err != nil {
		return fmt.Errorf("celery: forget %s: %w", taskID, err)
	}
	return nil
}

// Wait blocks until the task reaches a ready state (SUCCESS, FAILURE,
// REVOKED) or ctx ends, and returns its meta. It subscribes to the result
// channel first and then reads the key, as Python's AsyncResult.get does,
// so a result stored at any moment is seen without polling.
func (b *Backend) Wait(ctx context.Context, taskID string) (*celery.ResultMeta, error) {
	return b.Watch(ctx, taskID, nil)
}

// Watch is Wait that also calls onState (when not nil) for every state it
// observes on the way, the current one first. Intermediate states may be
// coalesced when they arrive faster than onState consumes them; the final
// state is always delivered.
func (b *Backend) Watch(ctx context.Context, taskID string, onState func(*celery.ResultMeta)) (*celery.ResultMeta, error) {
	return b.WatchMax(ctx, taskID, 0, onState)
}

// WaitMax is Wait with GetMax's bound on the result's size.
func (b *Backend) WaitMax(ctx context.Context, taskID string, limit int) (*celery.ResultMeta, error) {
	return b.WatchMax(ctx, taskID, limit, nil)
}

// WatchMax is Watch with GetMax's bound: a state larger than limit bytes
// ends the watch with a *ResultTooLargeError (the pub/sub connection that
// all waiters share still receives it once, whole, and reads its state;
// it is not handed to the caller).
func (b *Backend) WatchMax(ctx context.Context, taskID string, limit int, onState func(*celery.ResultMeta)) (*celery.ResultMeta, error) {
	k := b.key(taskID)
	w, err := b.sub.add(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("celery: wait for %s: %w", taskID, err)
	}
	defer b.sub.remove(k, w)
	var last celery.State
	resync := true
	for {
		var m *celery.ResultMeta
		if resync {
			if m, err = b.GetMax(ctx, taskID, limit); err != nil {
				return nil, err
			}
		} else {
			raw := w.take()
			if limit > 0 && len(raw) > limit {
				return nil, &celery.ResultTooLargeError{TaskID: taskID, Size: len(raw), Limit: limit}
			}
			if raw != nil {
				if m, err = celery.DecodeResultMeta(raw); err != nil {
					b.o.logger.Warn("undecodable result message", "task_id", taskID, "error", err)
					m = nil
				}
			}
		}
		if m != nil {
			if m.TaskID == "" {
				m.TaskID = taskID
			}
			if onState != nil && (m.Status != last || m.Status == "PROGRESS" || !m.Status.Ready()) {
				onState(m)
			}
			last = m.Status
			if m.Status.Ready() {
				return m, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("celery: wait for %s: %w", taskID, ctx.Err())
		case <-w.notify:
			resync = w.takeResync()
		}
	}
}

// subscriber multiplexes result subscriptions over one pub/sub connection
// (like Python's ResultConsumer), reconnecting with backoff and telling
// waiters to re-read after a reconnect, since messages may have been missed.
type subscriber struct {
	pool   *redigo.Pool
	logger *slog.Logger

	mu       sync.Mutex
	conn     *redigo.PubSubConn
	channels map[string]*channelState
	state    reconnect.State // logs lost/restored once per outage
	running  bool
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup
}

type channelState struct {
	waiters   map[*waiter]struct{}
	confirmed bool
	// pending are closed when Redis confirms the subscription.
	pending []chan struct{}
	// resubscribed marks a subscription renewed after a reconnect: its
	// waiters must re-read, as messages may have been missed meanwhile.
	resubscribed bool
}

type waiter struct {
	notify    chan struct{}
	mu        sync.Mutex
	last      []byte
	lastReady bool
	resync    bool
}

func (w *waiter) put(raw []byte, ready bool) {
	w.mu.Lock()
	// A ready state is sticky: later messages never hide it.
	if !w.lastReady || ready {
		w.last, w.lastReady = raw, ready
	}
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func isReady(raw []byte) bool {
	m, err := celery.DecodeResultMeta(raw)
	return err == nil && m.Status.Ready()
}

func (w *waiter) take() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.last
	w.last, w.lastReady = nil, false
	return r
}

func (w *waiter) takeResync() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.resync
	w.resync = false
	return r
}

func (w *waiter) markResync() {
	w.mu.Lock()
	w.resync = true
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func newSubscriber(pool *redigo.Pool, logger *slog.Logger) *subscriber {
	return &subscriber{pool: pool, logger: logger, channels: map[string]*channelState{}, done: make(chan struct{}),
		state: reconnect.State{Name: "result subscriber", Logger: logger}}
}

// add registers a waiter on channel and returns once the subscription is
// confirmed by Redis.
func (s *subscriber) add(ctx context.Context, channel string) (*waiter, error) {
	w := &waiter{notify: make(chan struct{}, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, celery.ErrClosed
	}
	if !s.running {
		s.running = true
		s.wg.Add(1)
		go s.run()
	}
	cs := s.channels[channel]
	if cs == nil {
		cs = &channelState{waiters: map[*waiter]struct{}{}}
		s.channels[channel] = cs
	}
	cs.waiters[w] = struct{}{}
	var confirmed chan struct{}
	if !cs.confirmed {
		confirmed = make(chan struct{})
		cs.pending = append(cs.pending, confirmed)
		if len(cs.pending) == 1 && s.conn != nil {
			if err := s.conn.Subscribe(channel); err != nil {
				s.logger.Debug("result subscribe failed; will retry on reconnect", "channel", channel, "error", err)
			}
		}
	}
	s.mu.Unlock()
	if confirmed == nil {
		return w, nil
	}
	select {
	case <-confirmed:
		return w, nil
	case <-ctx.Done():
		s.remove(channel, w)
		return nil, ctx.Err()
	}
}

func (s *subscriber) remove(channel string, w *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.channels[channel]
	if cs == nil {
		return
	}
	delete(cs.waiters, w)
	if len(cs.waiters) == 0 {
		delete(s.channels, channel)
		if s.conn != nil && cs.confirmed {
			s.conn.Unsubscribe(channel)
		}
	}
}

func (s *subscriber) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	if s.conn != nil {
		s.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// run owns the pub/sub connection: it (re)connects, subscribes every
// channel with waiters and dispatches messages until close.
func (s *subscriber) run() {
	defer s.wg.Done()
	backoff := reconnect.Backoff{}
	failures := 0
	for {
		select {
		case <-s.done:
			return
		default:
		}
		c, err := rconn.Dedicated(context.Background(), s.pool)
		if err == nil {
			if err = s.serve(c); err == nil {
				return
			}
		}
		if s.state.Lost(err) { // one line per outage, not one per retry
			failures = 0
		}
		t := time.NewTimer(backoff.Delay(failures))
		failures++
		select {
		case <-s.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// serve runs one connection; it returns nil only on close.
func (s *subscriber) serve(c redigo.Conn) error {
	psc := &redigo.PubSubConn{Conn: c}
	defer psc.Close()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.conn = psc
	var chans []any
	for ch, cs := range s.channels {
		cs.confirmed = false
		cs.resubscribed = true
		chans = append(chans, ch)
	}
	// A keepalive channel keeps the connection in subscribed mode.
	chans = append(chans, "celeriac.keepalive")
	err := psc.Subscribe(chans...)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.state.Up()
	for {
		// No read deadline: redigo closes a connection whose read times
		// out. Redis closes the socket on restart, and TCP keepalive (on
		// by default in redigo's dialer) catches silent peers.
		switch v := psc.ReceiveWithTimeout(0).(type) {
		case redigo.Message:
			s.dispatch(v.Channel, v.Data)
		case redigo.Subscription:
			if v.Kind == "subscribe" {
				s.confirm(v.Channel)
			}
		case error:
			s.mu.Lock()
			closed := s.closed
			s.conn = nil
			s.mu.Unlock()
			if closed {
				return nil
			}
			return v
		}
	}
}

func (s *subscriber) confirm(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.channels[channel]
	if cs == nil {
		return
	}
	cs.confirmed = true
	for _, ch := range cs.pending {
		close(ch)
	}
	cs.pending = nil
	if cs.resubscribed {
		cs.resubscribed = false
		for w := range cs.waiters {
			w.markResync()
		}
	}
}

func (s *subscriber) dispatch(channel string, data []byte) {
	ready := isReady(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.channels[channel]; cs != nil {
		for w := range cs.waiters {
			w.put(data, ready)
		}
	}
}
