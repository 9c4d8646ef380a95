package redis

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeriac/celeriac/celery"

	redigo "github.com/gomodule/redigo/redis"
	"github.com/google/uuid"

	"github.com/celeriac/celeriac/internal/batch"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/rconn"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// Broker is kombu's Redis transport: it publishes task messages to queue
// lists, consumes them with BRPOP and emulates acknowledgements with the
// unacked hash and index, so that Python workers sharing the Redis can
// restore what a Go consumer held and vice versa (docs/wire.md#ack-emulation).
//
// A Broker is safe for concurrent use.
type Broker struct {
	pool     *redigo.Pool
	ownsPool bool
	db       int
	cfg      *rconn.Config
	o        brokerOptions

	storeScript, restoreScript, releaseScript, popScript, giveBackScript, bindScript *redigo.Script

	mu       sync.Mutex
	declared map[string]bool
	closed   bool

	reconnects atomic.Int64 // consumer connections restored after a loss

	// Single publishes waiting for the next shared round trip (PublishOne).
	pub *batch.Flusher[celery.Publishing]
}

type brokerOptions struct {
	prefix            string
	steps             []int
	visibilityTimeout time.Duration
	mutexExpire       time.Duration
	pollTimeout       time.Duration
	ackEmulation      bool
	maxConns          int
	readTimeout       time.Duration
	logger            *slog.Logger
	backoff           reconnect.Backoff
}

// WithKeyPrefix sets kombu's global_keyprefix transport option: a prefix
// for every key and channel (docs/wire.md#global-key-prefix). Default none.
func WithKeyPrefix(p string) Option { return func(o *options) { o.broker.prefix = p } }

// WithPrioritySteps sets kombu's priority_steps. Default [0 3 6 9]; the
// steps must be ascending, start at 0 and lie in 0..9.
func WithPrioritySteps(steps ...int) Option {
	return func(o *options) { o.broker.steps = slices.Clone(steps) }
}

// WithVisibilityTimeout sets how long a delivered, unacknowledged message
// stays in unacked before a restore sweep puts it back. Default 1 h, as kombu.
func WithVisibilityTimeout(d time.Duration) Option {
	return func(o *options) { o.broker.visibilityTimeout = d }
}

// WithReadTimeout bounds how long a command waits for Redis' reply
// (kombu's socket_timeout; blocking commands extend it by their own
// wait). Default 30 s.
func WithReadTimeout(d time.Duration) Option {
	return func(o *options) { o.broker.readTimeout = d }
}

// WithPollTimeout sets the server-side BRPOP timeout (kombu brpop_timeout /
// polling_interval); it bounds how quickly a consumer notices cancellation.
// Default 1 s.
func WithPollTimeout(d time.Duration) Option {
	return func(o *options) { o.broker.pollTimeout = d }
}

// WithAckEmulation turns kombu's ack emulation on or off. Default on; off
// means delivered messages are not tracked in unacked and a crash loses them.
func WithAckEmulation(on bool) Option { return func(o *options) { o.broker.ackEmulation = on } }

// WithMaxConnections caps the connection pool. Default 0: unlimited.
func WithMaxConnections(n int) Option { return func(o *options) { o.broker.maxConns = n } }

// WithLogger sets the logger of the broker and the backend (connection
// state changes). Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.broker.logger, o.backend.logger = l, l }
}

func defaultBrokerOptions() brokerOptions {
	return brokerOptions{
		steps:             kombu.DefaultPrioritySteps(),
		visibilityTimeout: kombu.DefaultVisibilityTimeout * time.Second,
		mutexExpire:       kombu.DefaultUnackedMutexExpire * time.Second,
		pollTimeout:       kombu.DefaultBRPOPTimeout * time.Second,
		ackEmulation:      true,
		logger:            slog.Default(),
	}
}

// NewBroker connects to the Redis named by url (redis://, rediss://,
// unix://, sentinel://; docs/wire.md#connection-urls). It does not dial
// until first use; call
// Ping to check reachability. A global_keyprefix query parameter in url
// is the default of WithKeyPrefix.
func NewBroker(url string, opts ...Option) (*Broker, error) {
	cfg, err := rconn.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("celery: broker: %w", err)
	}
	b := newBroker(nil, cfg.DB, append([]Option{WithKeyPrefix(cfg.KeyPrefix)}, opts...))
	if b.o.readTimeout > 0 {
		cfg.ReadTimeout = b.o.readTimeout
	}
	b.cfg = cfg
	b.pool = markLoadingPool(rconn.NewPool(cfg, poolMaxIdle, b.o.maxConns))
	b.ownsPool = true
	return b, nil
}

// poolMaxIdle is how many idle connections the broker's and the backend's
// own pools keep. It must cover the concurrency of their users (API
// requests, pool goroutines storing results): with fewer, every burst
// closes the surplus and dials it again. At 16 an API under 64 concurrent
// requests dialled a new Redis connection for one request in three.
// Idle connections are closed after rconn's idle timeout.
const poolMaxIdle = 256

// newBroker uses pool, whose connections are on database db; Close
// closes it only when ownsPool is set.
func newBroker(pool *redigo.Pool, db int, opts []Option) *Broker {
	o := buildOptions(opts).broker
	if len(o.steps) == 0 || o.steps[0] != 0 {
		o.steps = append([]int{0}, o.steps...)
	}
	b := &Broker{
		pool: pool, db: db, o: o, declared: map[string]bool{},
		storeScript:    redigo.NewScript(1, kombu.StoreResultScript),
		restoreScript:  redigo.NewScript(3, kombu.RestoreScript),
		releaseScript:  redigo.NewScript(1, kombu.ReleaseMutexScript),
		popScript:      redigo.NewScript(-1, kombu.PopBatchScript),
		giveBackScript: redigo.NewScript(3, kombu.GiveBackScript),
		bindScript:     redigo.NewScript(2, kombu.RefreshBindingScript),
	}
	b.pub = batch.New(publishFlushTimeout, b.PublishBatch)
	return b
}

// publishFlushTimeout bounds a batch of single publishes sent from the
// background (PublishOne).
const publishFlushTimeout = 30 * time.Second

// DB returns the Redis database number (part of fanout channel names).
func (b *Broker) DB() int { return b.db }

// KeyPrefix returns the global key prefix.
func (b *Broker) KeyPrefix() string { return b.o.prefix }

// Reconnects returns how many times a consumer's connection came back
// after it was lost.
func (b *Broker) Reconnects() int64 { return b.reconnects.Load() }

// Close releases the broker's connections (unless the pool was supplied).
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.ownsPool {
		return b.pool.Close()
	}
	return nil
}

func (b *Broker) conn(ctx context.Context) (redigo.Conn, error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil, celery.ErrClosed
	}
	c, err := b.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("celery: redis connection: %w", err)
	}
	return c, nil
}

// Ping checks that Redis answers.
func (b *Broker) Ping(ctx context.Context) error {
	return withRetry(ctx, func() error { return b.ping(ctx) })
}

func (b *Broker) ping(ctx context.Context) error {
	c, err := b.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := redigo.DoContext(c, ctx, "PING"); err != nil {
		return fmt.Errorf("celery: ping: %w", err)
	}
	return nil
}

func (b *Broker) key(k string) string { return b.o.prefix + k }

// queueKey returns the prefixed list key for queue at priority.
func (b *Broker) queueKey(queue string, priority int) string {
	return b.o.prefix + kombu.QueueKey(queue, kombu.PriorityStep(priority, b.o.steps))
}

// PublishOne publishes one message like PublishBatch, sharing the round
// trip with concurrent callers: whatever queued up while the previous
// pipeline was in flight goes out in the next one, so a lone caller waits
// for nobody and many concurrent callers (an API's handlers) pay one
// round trip per batch instead of one each. It returns when its message
// was pushed (or the batch failed).
func (b *Broker) PublishOne(ctx context.Context, pub celery.Publishing) error {
	if pub.Exchange == "" {
		// Refused here, so that it fails only its own caller, not the
		// batch it would share.
		if err := b.ValidateQueue(pub.Queue); err != nil {
			return fmt.Errorf("celery: publish: %w", err)
		}
	}
	return b.pub.Do(ctx, pub)
}

// Publish pushes one envelope onto queue (LPUSH,
// docs/wire.md#publishing-and-routing), declaring the
// queue's binding first as kombu does.
func (b *Broker) Publish(ctx context.Context, queue string, priority int, envelope []byte) error {
	return b.PublishBatch(ctx, []celery.Publishing{{Queue: queue, Priority: priority, Body: envelope}})
}

// PublishBatch pushes several envelopes in one pipelined round trip. A
// queue name ValidateQueue refuses fails the whole batch before anything
// is sent (ErrInvalidQueue); a queue key that holds something other than a
// list is left alone and reported (ErrNotAQueue). A
// connection error is retried (three times within about a second, as
// Celery's default publish retry policy), so a batch may be pushed twice
// if Redis went away after it ran the commands: at least once.
func (b *Broker) PublishBatch(ctx context.Context, msgs []celery.Publishing) error {
	return withRetry(ctx, func() error { return b.publishBatch(ctx, msgs, false) })
}

// PublishReply sends a remote-control reply through the direct exchange
// (kombu Node.reply → Mailbox._publish_reply): to the queues bound with
// exactly routingKey, the requester's reply queue. It takes the path of
// every publish (PublishBatch), except that the reply queue, which no
// task may use, is its destination, and that a reply nobody is bound for
// any more (the requester stopped waiting) is dropped quietly, as kombu
// drops it.
func (b *Broker) PublishReply(ctx context.Context, exchange, routingKey string, body []byte) error {
	msgs := []celery.Publishing{{Exchange: exchange, RoutingKey: routingKey, Body: body}}
	return withRetry(ctx, func() error { return b.publishBatch(ctx, msgs, true) })
}

// publishBatch pushes msgs in one pipelined round trip; reply selects
// PublishReply's routing.
func (b *Broker) publishBatch(ctx context.Context, msgs []celery.Publishing, reply bool) error {
	// Every name is checked before anything is sent: a batch is published
	// whole or not at all.
	for _, m := range msgs {
		if m.Exchange == "" {
			if err := b.ValidateQueue(m.Queue); err != nil {
				return fmt.Errorf("celery: publish: %w", err)
			}
		}
	}
	c, err := b.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// Routed messages: their queues, looked up before any command is
	// pipelined (a lookup reads its own reply).
	routed := make([][]string, len(msgs))
	for i, m := range msgs {
		if m.Exchange == "" || m.ExchangeType == celery.ExchangeFanout {
			continue
		}
		queues, err := b.lookup(ctx, c, m.Exchange, m.ExchangeType, m.RoutingKey, reply)
		if err != nil {
			return err
		}
		if reply {
			routed[i] = queues
			continue
		}
		if len(queues) == 0 {
			b.o.logger.Warn("message routed to no queue", "exchange", m.Exchange, "routing_key", m.RoutingKey)
		}
		for _, q := range queues {
			if err := b.ValidateQueue(q); err != nil {
				return fmt.Errorf("celery: publish through exchange %q: binding to %w", m.Exchange, err)
			}
		}
		routed[i] = queues
	}
	n := 0
	var pushes []string // the key of each LPUSH, for its error
	for i, m := range msgs {
		queues := routed[i]
		if m.Exchange != "" && m.ExchangeType == celery.ExchangeFanout {
			// kombu's Redis fanout: PUBLISH to the exchange's channel
			// (redis.py `_put_fanout`); whoever listens gets a copy.
			if err := c.Send("PUBLISH", b.BroadcastChannel(m.Exchange, m.RoutingKey), m.Body); err != nil {
				return fmt.Errorf("celery: publish: %w", err)
			}
			n++
			pushes = append(pushes, "")
			continue
		}
		if m.Exchange == "" {
			queues = []string{m.Queue}
			if !b.isDeclared(m.Queue) {
				// kombu 5.7 declares into both sets (redis.py `_queue_bind`).
				member := kombu.BindingMember(m.Queue, "", m.Queue)
				if err := c.Send("SADD", b.key(kombu.BindingKey(m.Queue)), member); err != nil {
					return fmt.Errorf("celery: publish: %w", err)
				}
				if err := c.Send("SADD", b.key(kombu.PermanentBindingKey(m.Queue)), member); err != nil {
					return fmt.Errorf("celery: publish: %w", err)
				}
				n += 2
				pushes = append(pushes, "", "")
			}
		}
		for _, q := range queues {
			k := b.queueKey(q, m.Priority)
			if err := c.Send("LPUSH", k, m.Body); err != nil {
				return fmt.Errorf("celery: publish: %w", err)
			}
			n++
			pushes = append(pushes, k)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("celery: publish: %w", err)
	}
	// Every reply is read, so that one refused command (a key of the wrong
	// type: LPUSH never turns another kind of key into a list) is reported
	// without leaving the others unread.
	var first error
	for i := range n {
		_, err := c.Receive()
		var re redigo.Error
		switch {
		case err == nil:
		case errors.As(err, &re) && strings.HasPrefix(string(re), "WRONGTYPE") && pushes[i] != "":
			first = cmp.Or(first, fmt.Errorf("celery: publish: %w: key %q exists and is not a list", celery.ErrNotAQueue, pushes[i]))
		case errors.As(err, &re):
			first = cmp.Or(first, fmt.Errorf("celery: publish: %w", err))
		default:
			return fmt.Errorf("celery: publish: %w", err)
		}
	}
	if first != nil {
		return first
	}
	for _, m := range msgs {
		if m.Exchange == "" {
			b.markDeclared(m.Queue)
		}
	}
	return nil
}

func (b *Broker) isDeclared(q string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.declared[q]
}

func (b *Broker) markDeclared(q string) {
	b.mu.Lock()
	b.declared[q] = true
	b.mu.Unlock()
}

// lookup resolves exchange+routingKey to queues through the exchange's
// bindings (kombu virtual/exchange.py): for a topic exchange, the
// bindings whose stored pattern matches the routing key
// (`TopicExchange.lookup`); otherwise a direct match on the routing key,
// "#" or an empty key matching all (simplified for direct/fanout); only
// the direct match when exact.
func (b *Broker) lookup(ctx context.Context, c redigo.Conn, exchange, exchangeType, routingKey string, exact bool) ([]string, error) {
	if exchange == "" {
		return []string{routingKey}, nil
	}
	members, err := redigo.Strings(redigo.DoContext(c, ctx, "SMEMBERS", b.key(kombu.BindingKey(exchange))))
	if err != nil {
		return nil, fmt.Errorf("celery: lookup exchange %q: %w", exchange, err)
	}
	var out []string
	var topic kombu.TopicMatcher
	for _, m := range members {
		rk, pattern, q, ok := kombu.ParseBindingMember(m)
		if !ok || slices.Contains(out, q) {
			continue
		}
		if exchangeType == celery.ExchangeTopic {
			if topic.Match(rk, pattern, routingKey) {
				out = append(out, q)
			}
			continue
		}
		if rk == routingKey || !exact && (rk == "#" || rk == "") {
			out = append(out, q)
		}
	}
	return out, nil
}

// QueueLength returns the number of messages waiting in queue, summed over
// its priority buckets (as Flower counts them, docs/wire.md#queue-length).
func (b *Broker) QueueLength(ctx context.Context, queue string) (int, error) {
	lens, err := b.QueueLengths(ctx, queue)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, n := range lens {
		total += n
	}
	return total, nil
}

// QueueLengths returns the length of each priority bucket of queue, in
// step order.
func (b *Broker) QueueLengths(ctx context.Context, queue string) ([]int, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	for _, s := range b.o.steps {
		if err := c.Send("LLEN", b.key(kombu.QueueKey(queue, s))); err != nil {
			return nil, err
		}
	}
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("celery: llen: %w", err)
	}
	out := make([]int, len(b.o.steps))
	for i := range b.o.steps {
		if out[i], err = redigo.Int(c.Receive()); err != nil {
			return nil, fmt.Errorf("celery: llen: %w", err)
		}
	}
	return out, nil
}

// PrioritySteps returns the configured priority steps.
func (b *Broker) PrioritySteps() []int { return slices.Clone(b.o.steps) }

// Purge deletes every message waiting in queue and returns how many there
// were (celery purge). A name ValidateQueue refuses is not touched: it
// would delete a key of the transport or the backend.
func (b *Broker) Purge(ctx context.Context, queue string) (int, error) {
	if err := b.ValidateQueue(queue); err != nil {
		return 0, fmt.Errorf("celery: purge: %w", err)
	}
	c, err := b.conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.Send("MULTI"); err != nil {
		return 0, err
	}
	for _, s := range b.o.steps {
		k := b.key(kombu.QueueKey(queue, s))
		c.Send("LLEN", k)
		c.Send("DEL", k)
	}
	vals, err := rconn.Exec(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("celery: purge %s: %w", queue, err)
	}
	n := 0
	for i := 0; i < len(vals); i += 2 {
		l, _ := redigo.Int(vals[i], nil)
		n += l
	}
	return n, nil
}

// recordAhead is an unacked record sent ahead of its reply: the
// delivery's settle hook (celery.Delivery.Hook).
type recordAhead struct {
	c    *Consumer
	done chan struct{} // closed once the reply was read (or failed)
	// notRecorded is set (before done is closed) when Redis refused the
	// record: the consumer gives the message back to its queue.
	notRecorded error
}

// Settle waits for the record's reply (reading it if no one else is) and
// returns an error wrapping celery.ErrNotRecorded when Redis refused it.
func (r *recordAhead) Settle() error {
	if r.c != nil {
		select {
		case <-r.done:
		default:
			r.c.settle()
		}
	}
	return r.notRecorded
}

// Consumer takes messages from a set of queues with one blocking BRPOP
// over all queues and priority buckets, rotating queues round-robin after
// each delivery as kombu does (docs/wire.md#consuming). A Consumer is not safe for
// concurrent use; create one per consuming goroutine.
type Consumer struct {
	b      *Broker
	queues []string
	conn   redigo.Conn
	fails  int
	state  reconnect.State // logs lost/restored once per outage
	busy   bool            // the last call delivered: try a batch pop first
	max    int             // message size limit in bytes; 0 = none
	wake   string          // private list in every BRPOP; Wake pushes to it

	// mu guards ahead, giveBack and refused, and conn while ahead is not
	// empty: a delivery's Settle may then read the pending replies from
	// another goroutine. ReceiveBatch settles before it uses conn, so conn
	// is never read by two goroutines at once.
	mu       sync.Mutex
	ahead    []*celery.Delivery // records sent, replies not read yet (oldest first)
	giveBack []*celery.Delivery // not recorded: to put back before the next pop
	refused  int                // records refused in a row (0: Redis takes writes)
}

// wakeKeyPrefix names a consumer's wake-up list. It is no kombu queue:
// nothing is ever published to it, and its element is never a message.
const wakeKeyPrefix = "_celeriac.wake."

// wakeTTL bounds how long an unclaimed wake-up outlives its consumer.
const wakeTTL = 10 * time.Second

// SetMaxMessageSize sets the message size limit in bytes (0, the
// default, means none). A longer message is taken off its queue but
// not recorded in unacked, and comes as a Delivery whose Err wraps
// ErrMessageTooLarge: the caller rejects it. Messages taken in a batch
// are checked inside Redis and never cross the network; one taken by the
// blocking pop of an idle consumer is read once and dropped at once.
func (c *Consumer) SetMaxMessageSize(n int) { c.max = max(n, 0) }

// NewConsumer returns a consumer of queues.
func (b *Broker) NewConsumer(queues ...string) *Consumer {
	return &Consumer{b: b, queues: slices.Clone(queues), state: reconnect.State{Name: "broker", Logger: b.o.logger},
		wake: b.key(wakeKeyPrefix + uuid.NewString())}
}

// Wake makes a Receive or ReceiveBatch that is blocked in BRPOP return
// now rather than at the poll timeout, so that it notices its cancelled
// context (a queue change, a shutdown) at once. The BRPOP is not
// abandoned, which could lose a popped message: it returns the element
// Wake pushed onto the consumer's private wake-up list, and goes on. Wake
// is safe to call from any goroutine.
func (c *Consumer) Wake(ctx context.Context) error {
	conn, err := c.b.conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.Send("LPUSH", c.wake, "wake")
	conn.Send("PEXPIRE", c.wake, wakeTTL.Milliseconds())
	_, err = conn.Do("")
	return err
}

// Queues returns the queues in their current rotation order.
func (c *Consumer) Queues() []string { return slices.Clone(c.queues) }

// SetQueues replaces the set of consumed queues.
func (c *Consumer) SetQueues(queues []string) { c.queues = slices.Clone(queues) }

// Close releases the consumer's connection, after reading the replies to
// the records it sent ahead and giving back (within a few seconds) the
// messages whose record failed.
func (c *Consumer) Close() error {
	c.settle()
	if c.pendingGiveBack() {
		ctx, cancel := context.WithTimeout(context.Background(), closeGiveBackTimeout)
		if err := c.giveBackAll(ctx); err != nil {
			c.mu.Lock()
			for _, d := range c.giveBack {
				c.b.o.logger.Error("message lost: its record in unacked failed and it could not be put back on its queue",
					"queue", d.Queue, "content", celery.TruncatedContent(d.Raw), "error", err)
			}
			c.giveBack = nil
			c.mu.Unlock()
		}
		cancel()
	}
	if c.conn != nil {
		err := c.conn.Close()
		c.conn = nil
		return err
	}
	return nil
}

func (c *Consumer) keys() []any {
	keys := make([]any, 0, len(c.queues)*len(c.b.o.steps)+1)
	for _, s := range c.b.o.steps {
		for _, q := range c.queues {
			keys = append(keys, c.b.key(kombu.QueueKey(q, s)))
		}
	}
	return keys
}

// Receive blocks until a message arrives or ctx ends. It never abandons a
// BRPOP midway (that could lose a popped message): cancellation is noticed
// within the poll timeout. Connection failures are retried with backoff,
// logging once per state change.
func (c *Consumer) Receive(ctx context.Context) (*celery.Delivery, error) {
	ds, err := c.ReceiveBatch(ctx, 1)
	if err != nil {
		return nil, err
	}
	return ds[0], nil
}

// ReceiveBatch is Receive for up to max messages (at least one): when
// messages are waiting it takes as many as are there, up to max, and
// records them in unacked in one atomic round trip; when none are, it
// blocks in BRPOP like Receive.
func (c *Consumer) ReceiveBatch(ctx context.Context, max int) ([]*celery.Delivery, error) {
	b := c.b
	c.settle()
	timeout := int(b.o.pollTimeout / time.Second)
	if timeout < 1 {
		timeout = 1
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.pendingGiveBack() {
			// Redis refused a record: the message goes back to its queue
			// first, then consuming pauses (growing backoff) before the
			// next pop, until Redis takes records again.
			if err := c.giveBackAll(ctx); err != nil {
				if !c.wait(ctx, err) {
					return nil, ctx.Err()
				}
				continue
			}
			if !c.pause(ctx) {
				return nil, ctx.Err()
			}
			continue
		}
		if len(c.queues) == 0 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if c.conn == nil {
			conn, err := b.conn(ctx)
			if err == nil {
				err = conn.Err()
			}
			if err != nil {
				if errors.Is(err, celery.ErrClosed) {
					return nil, err
				}
				if !c.wait(ctx, err) {
					return nil, ctx.Err()
				}
				continue
			}
			c.conn = conn
		}
		// After a delivery more messages are likely waiting: take them in
		// one step. On an idle queue go straight to the blocking pop.
		if c.busy {
			ds, err := c.popBatch(max)
			if err != nil {
				c.drop()
				if !c.wait(ctx, err) {
					return nil, ctx.Err()
				}
				continue
			}
			if len(ds) > 0 {
				return ds, nil
			}
			c.busy = false
		}
		args := append(c.keys(), c.wake, timeout)
		reply, err := redigo.Values(redigo.DoWithTimeout(c.conn, time.Duration(timeout)*time.Second+10*time.Second, "BRPOP", args...))
		if errors.Is(err, redigo.ErrNil) {
			c.up()
			continue
		}
		if err != nil {
			c.drop()
			if !c.wait(ctx, err) {
				return nil, ctx.Err()
			}
			continue
		}
		c.up()
		if len(reply) != 2 {
			return nil, fmt.Errorf("celery: brpop: unexpected reply of %d items", len(reply))
		}
		key, _ := redigo.String(reply[0], nil)
		if key == c.wake { // Wake: look at ctx again
			continue
		}
		raw, _ := redigo.Bytes(reply[1], nil)
		if c.max > 0 && len(raw) > c.max {
			c.busy = true
			return []*celery.Delivery{c.tooLarge(key, len(raw), kombu.TaskIDHint(raw))}, nil
		}
		d := c.delivery(key, raw)
		c.recordAhead(d)
		return []*celery.Delivery{d}, nil
	}
}

// recordAhead records a delivery of the blocking pop in unacked
// (sendRecord) and asks whether more messages wait (EXISTS over the queue
// keys: an empty list does not exist), but does not wait for the replies:
// the caller can start the task while they travel, and settle reads them
// (Delivery.Settle). As in PopBatchScript, only what could be an envelope
// is recorded. The next call with a delivery pending takes a batch only
// when EXISTS said more messages wait; an idle worker goes back to BRPOP
// at once.
func (c *Consumer) recordAhead(d *celery.Delivery) {
	b := c.b
	record, described := b.recordable(d)
	tag := ""
	if record {
		tag = b.sendRecord(c.conn, d)
	}
	c.conn.Send("EXISTS", c.keys()...)
	err := c.conn.Flush()
	if !described {
		b.describe(d) // while the record travels
	}
	if record {
		recordedAs(d, tag)
	}
	d.Hook = &recordAhead{c: c, done: make(chan struct{})}
	c.mu.Lock()
	c.ahead = append(c.ahead, d)
	c.mu.Unlock()
	if err != nil {
		c.settle() // fails at once, and logs it
	}
}

// settle reads the replies to the records sent ahead, oldest first, and
// marks their deliveries settled. A record Redis refused (an error reply
// anywhere, including inside EXEC) or whose reply was lost with the
// connection marks its delivery not recorded (Settle returns
// ErrNotRecorded) and queues its message to be given back; a lost
// connection is dropped.
func (c *Consumer) settle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ahead) == 0 {
		return
	}
	var err error
	for _, d := range c.ahead {
		if err == nil && c.conn == nil {
			err = errors.New("connection closed")
		}
		var refused error
		if err == nil && d.Tracked {
			refused, err = receiveRecord(c.conn)
		}
		if err == nil {
			var n int
			if n, err = redigo.Int(c.conn.Receive()); err == nil {
				c.busy = n > 0
			}
		}
		if d.Tracked {
			if refused == nil {
				refused = err
			}
			c.recordDone(d, refused)
		}
		close(d.Hook.(*recordAhead).done)
	}
	clear(c.ahead)
	c.ahead = c.ahead[:0]
	if err != nil {
		c.drop()
	}
}

// drop discards the connection after an error; the next call redials.
func (c *Consumer) drop() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

func (c *Consumer) delivery(key string, raw []byte) *celery.Delivery {
	queue := kombu.QueueFromKey(strings.TrimPrefix(key, c.b.o.prefix))
	c.rotate(queue)
	return &celery.Delivery{Queue: queue, Raw: raw, Size: len(raw)}
}

// tooLarge is the delivery of a message over the size limit.
func (c *Consumer) tooLarge(key string, size int, id string) *celery.Delivery {
	d := c.delivery(key, nil)
	d.Size, d.TaskID, d.RoutingKey = size, id, d.Queue
	d.Err = fmt.Errorf("%w: %d bytes, limit %d", celery.ErrMessageTooLarge, size, c.max)
	return d
}

// popBatch runs PopBatchScript for up to max messages.
func (c *Consumer) popBatch(max int) ([]*celery.Delivery, error) {
	b := c.b
	keys := c.keys()
	args := make([]any, 0, 2*len(keys)+5)
	args = append(args, len(keys)+2, b.key(kombu.UnackedKey), b.key(kombu.UnackedIndexKey))
	args = append(args, keys...)
	ack := "0"
	if b.o.ackEmulation {
		ack = "1"
	}
	args = append(args, max, uuid.NewString(), nowScore(), ack, c.max)
	for range b.o.steps { // the queue name of each key, in keys' order
		for _, q := range c.queues {
			args = append(args, kombu.AppendString(nil, q))
		}
	}
	reply, err := redigo.Values(b.popScript.Do(c.conn, args...))
	if err != nil {
		return nil, err
	}
	c.up()
	out := make([]*celery.Delivery, 0, len(reply)/3)
	for i := 0; i+2 < len(reply); i += 3 {
		key, _ := redigo.String(reply[i], nil)
		if size, ok := reply[i+1].(int64); ok { // over the size limit
			id, _ := redigo.String(reply[i+2], nil)
			out = append(out, c.tooLarge(key, int(size), id))
			continue
		}
		raw, _ := redigo.Bytes(reply[i+1], nil)
		tag, _ := redigo.String(reply[i+2], nil)
		d := c.delivery(key, raw)
		if tag != "" {
			b.describe(d)
			recordedAs(d, tag)
			c.mu.Lock()
			c.recordDone(d, nil)
			c.mu.Unlock()
		} else if conn, err := b.track(c.conn, d); err != nil { // untracked: try as BRPOP would
			if conn {
				c.drop()
			}
			c.mu.Lock()
			c.recordDone(d, err)
			c.mu.Unlock()
		}
		out = append(out, d)
	}
	b.unrecordMalformed(c.conn, out)
	return out, nil
}

// unrecordMalformed removes from unacked the deliveries of a batch that
// the script recorded but that are no envelope (d.Err set): among them
// what Redis's cjson accepts and Python's json does not, such as hex
// numbers and "inf", which must not wait there for a Python worker's
// restore sweep. They are rejected anyway. On failure they stay recorded
// and the caller's acknowledgement removes them.
func (b *Broker) unrecordMalformed(conn redigo.Conn, ds []*celery.Delivery) {
	var args []any
	for _, d := range ds {
		if d.Tracked && d.Err != nil {
			args = append(args, d.Tag)
		}
	}
	if len(args) == 0 || conn == nil {
		return
	}
	conn.Send("HDEL", append([]any{b.key(kombu.UnackedKey)}, args...)...)
	conn.Send("ZREM", append([]any{b.key(kombu.UnackedIndexKey)}, args...)...)
	if reply, err := conn.Do(""); err != nil || rconn.ExecError(reply) != nil {
		return
	}
	for _, d := range ds {
		if d.Tracked && slices.Contains(args, any(d.Tag)) {
			d.Tracked = false
		}
	}
}

func (c *Consumer) rotate(queue string) {
	if i := slices.Index(c.queues, queue); i >= 0 && len(c.queues) > 1 {
		c.queues = append(append(c.queues[:i:i], c.queues[i+1:]...), queue)
	}
}

func (c *Consumer) up() {
	if c.state.Up() {
		c.b.reconnects.Add(1)
	}
	c.fails = 0
}

// wait sleeps for the next backoff delay; false when ctx ended first.
func (c *Consumer) wait(ctx context.Context, err error) bool {
	c.state.Lost(err)
	d := c.b.o.backoff.Delay(c.fails)
	c.fails++
	return reconnect.Sleep(ctx, d, nil)
}

// recordDone notes the outcome of d's record in unacked; c.mu is held. A
// refused record marks d not recorded and queues it to be given back;
// the first of a run is logged as a warning, and the first success after
// a run as its end.
func (c *Consumer) recordDone(d *celery.Delivery, refused error) {
	log := c.b.o.logger
	if refused == nil {
		if c.refused > 0 {
			log.Info("Redis records deliveries in unacked again: consuming resumed", "refused", c.refused)
			c.refused = 0
		}
		return
	}
	r, ok := d.Hook.(*recordAhead)
	if !ok { // a record read at once: settled from the start
		r = &recordAhead{}
		d.Hook = r
	}
	r.notRecorded = fmt.Errorf("%w: %w", celery.ErrNotRecorded, refused)
	c.giveBack = append(c.giveBack, d)
	if c.refused == 0 {
		log.Warn("Redis refused to record a delivery in unacked: the message goes back to its queue unrun, and consuming pauses until Redis accepts writes",
			"queue", d.Queue, "error", refused)
	}
	c.refused++
}

func (c *Consumer) pendingGiveBack() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.giveBack) > 0
}

// closeGiveBackTimeout bounds how long Close tries to give back messages
// whose record failed.
const closeGiveBackTimeout = 5 * time.Second

// giveBackAll puts every message whose record failed back at the front of
// its queue (GiveBackScript), newest first so that the oldest is served
// next, on a connection of its own. It stops at the first failure; what
// is left is tried again on the next call.
func (c *Consumer) giveBackAll(ctx context.Context) error {
	b := c.b
	conn, err := b.conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.giveBack) > 0 {
		d := c.giveBack[len(c.giveBack)-1]
		tag := cmp.Or(d.Tag, "-")
		if _, err := b.giveBackScript.DoContext(ctx, conn, b.key(kombu.UnackedKey), b.key(kombu.UnackedIndexKey), b.queueKey(d.Queue, d.Priority), tag, d.Raw); err != nil {
			return fmt.Errorf("celery: give back a message to %s: %w", d.Queue, err)
		}
		c.giveBack[len(c.giveBack)-1] = nil
		c.giveBack = c.giveBack[:len(c.giveBack)-1]
	}
	return nil
}

// pause waits before the next pop after a refused record: the backoff
// grows with the number of records refused in a row. It reports false
// when ctx ended first.
func (c *Consumer) pause(ctx context.Context) bool {
	c.mu.Lock()
	n := c.refused
	c.mu.Unlock()
	return reconnect.Sleep(ctx, c.b.o.backoff.Delay(max(n-1, 0)), nil)
}

// describe parses the envelope and fills the delivery's routing fields
// (celery.Delivery.Parse); it reports false for a malformed envelope
// (d.Err set).
func (b *Broker) describe(d *celery.Delivery) bool { return d.Parse() }

// track parses the envelope and records the delivery in unacked
// (sendRecord), waiting for the reply: for a message of a batch pop that
// the script did not record (JSON it could not recognise, such as an
// envelope padded with whitespace).
//
// A failed record is returned with connErr true when the connection
// failed (the caller drops it), false when Redis refused the record; d.Tag
// then holds the tag of the failed record.
func (b *Broker) track(conn redigo.Conn, d *celery.Delivery) (connErr bool, err error) {
	if !b.describe(d) || !b.o.ackEmulation {
		return false, nil
	}
	if conn == nil {
		return true, errors.New("no connection")
	}
	tag := b.sendRecord(conn, d)
	d.Tag = tag
	if err := conn.Flush(); err != nil {
		return true, err
	}
	refused, err := receiveRecord(conn)
	if err != nil {
		return true, err
	}
	if refused != nil {
		return false, refused
	}
	recordedAs(d, tag)
	return false, nil
}

// receiveRecord reads the four replies to a record sent by sendRecord
// (MULTI, ZADD, HSET, EXEC). refused is the first error reply: a command
// refused when queued (OOM), EXECABORT, or an error inside EXEC's reply (a
// key of the wrong type), which redigo does not report as an error. err is
// a connection failure; the replies after it are not read.
func receiveRecord(conn redigo.Conn) (refused, err error) {
	for i := range 4 {
		reply, err := conn.Receive()
		var re redigo.Error
		if errors.As(err, &re) {
			refused = cmp.Or(refused, error(re))
			continue
		}
		if err != nil {
			return refused, err
		}
		if i == 3 && refused == nil {
			refused = rconn.ExecError(reply)
		}
	}
	return refused, nil
}

// recordable reports whether d's message may be recorded in unacked: only
// a valid JSON object may (a Python worker's restore sweep loads every
// entry), with ack emulation on. A message encoding/json rejects is
// parsed the way Python would (describe, which then need not run again:
// described) and recorded if that succeeds.
func (b *Broker) recordable(d *celery.Delivery) (record, described bool) {
	obj := bytes.TrimSpace(d.Raw)
	if !b.o.ackEmulation || len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return false, false
	}
	if json.Valid(obj) {
		return true, false
	}
	return b.describe(d), true
}

// sendRecord queues on conn kombu's QoS.append for d (ZADD unacked_index
// and HSET unacked in one MULTI) in PopBatchScript's shape, and returns
// the tag: a fresh one, so that a record can never overwrite another
// message's (kombu keys it by the publisher's delivery_tag, which a
// publisher may reuse, and a crash then loses the message held under
// it), with exchange "" and the queue as routing key, so that every
// restore puts the message back where it came from. The caller flushes
// and reads the four replies, then calls recordedAs(d, tag).
func (b *Broker) sendRecord(conn redigo.Conn, d *celery.Delivery) string {
	tag := uuid.NewString()
	entry := kombu.AppendUnackedEntry(make([]byte, 0, len(d.Raw)+len(d.Queue)+16), d.Raw, "", d.Queue)
	conn.Send("MULTI")
	conn.Send("ZADD", b.key(kombu.UnackedIndexKey), nowScore(), tag)
	conn.Send("HSET", b.key(kombu.UnackedKey), tag, entry)
	conn.Send("EXEC")
	return tag
}

// recordedAs marks d recorded under tag, as sendRecord wrote it.
func recordedAs(d *celery.Delivery, tag string) {
	d.Tag, d.Tracked = tag, true
	d.Exchange, d.RoutingKey = "", d.Queue
}

func nowScore() string {
	return strconv.FormatFloat(float64(time.Now().UnixMicro())/1e6, 'f', 6, 64)
}

// Ack acknowledges deliveries in one round trip: they are removed from
// unacked (QoS.ack). Each delivery's record in unacked is confirmed first
// (Settle), so that an ack never overtakes it: callers need not settle. A
// delivery whose record failed (ErrNotRecorded) was given back to its
// queue and is not acknowledged: its error is returned, after the others
// were acknowledged. A delivery never recorded (ack emulation off) needs
// no ack.
func (b *Broker) Ack(ctx context.Context, ds ...*celery.Delivery) error {
	var notRecorded error
	n := 0
	for _, d := range ds {
		if err := d.Settle(); err != nil {
			notRecorded = cmp.Or(notRecorded, err)
			continue
		}
		if d.Tracked {
			n++
		}
	}
	if n == 0 {
		return notRecorded
	}
	args := make([]any, 1, n+1)
	for _, d := range ds {
		if d.Tracked && d.Settle() == nil {
			args = append(args, d.Tag)
		}
	}
	if err := withRetry(ctx, func() error { return b.ackArgs(ctx, args) }); err != nil {
		return err
	}
	return notRecorded
}

// Requeue puts unacknowledged deliveries back on their queues, each to
// the front, the first one served first (a worker's warm shutdown), and
// returns how many were put back. Each record in unacked is
// confirmed first (Settle); a delivery whose record failed is back on its
// queue already, and one never recorded is skipped.
func (b *Broker) Requeue(ctx context.Context, ds ...*celery.Delivery) (int, error) {
	tags := make([]string, 0, len(ds))
	for _, d := range ds {
		if d.Settle() == nil && d.Tracked {
			tags = append(tags, d.Tag)
		}
	}
	return b.RestoreTags(ctx, tags)
}

// AckTags acknowledges deliveries by tag in one round trip. A connection
// error is retried as a publish is (acking twice is harmless).
func (b *Broker) AckTags(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	return withRetry(ctx, func() error { return b.ackTags(ctx, tags) })
}

func (b *Broker) ackTags(ctx context.Context, tags []string) error {
	args := make([]any, 0, len(tags)+1)
	args = append(args, "")
	for _, t := range tags {
		args = append(args, t)
	}
	return b.ackArgs(ctx, args)
}

// ackArgs removes the tags args[1:] from unacked; args[0] is overwritten
// with each key in turn.
func (b *Broker) ackArgs(ctx context.Context, args []any) error {
	c, err := b.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// Two plain commands, not kombu's MULTI: Redis at maxmemory refuses
	// every command queued in a MULTI, while HDEL and ZREM alone, which
	// only free memory, go through, so acks keep working when Redis is
	// full. The order keeps a crash between them harmless: an index entry
	// without its hash entry is dropped by the next restore or sweep.
	args[0] = b.key(kombu.UnackedKey)
	c.Send("HDEL", args...)
	args[0] = b.key(kombu.UnackedIndexKey)
	c.Send("ZREM", args...)
	reply, err := rconn.Do(ctx, c, "")
	if err == nil {
		err = rconn.ExecError(reply)
	}
	if err != nil {
		return fmt.Errorf("celery: ack: %w", err)
	}
	return nil
}

// Reject drops a delivery (requeue false, same as ack) or puts it at the
// back of its queue (requeue true, LPUSH), as kombu's QoS.reject.
func (b *Broker) Reject(ctx context.Context, d *celery.Delivery, requeue bool) error {
	if !requeue {
		return b.Ack(ctx, d)
	}
	if err := d.Settle(); err != nil {
		return err // given back already
	}
	if !d.Tracked {
		// Not in unacked: push the raw message back ourselves.
		return b.Publish(ctx, d.Queue, d.Priority, d.Raw)
	}
	_, err := b.Restore(ctx, d.Tag, true)
	return err
}

// Restore moves the unacked message with tag back onto its queue, marked
// redelivered: to the front (RPUSH, served next) unless leftmost, which
// puts it at the back (LPUSH). It reports whether the message was there.
func (b *Broker) Restore(ctx context.Context, tag string, leftmost bool) (bool, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return false, err
	}
	defer c.Close()
	return b.restore(ctx, c, tag, leftmost)
}

func (b *Broker) restore(ctx context.Context, c redigo.Conn, tag string, leftmost bool) (bool, error) {
	for attempt := 0; attempt < 5; attempt++ {
		raw, err := redigo.Bytes(redigo.DoContext(c, ctx, "HGET", b.key(kombu.UnackedKey), tag))
		if errors.Is(err, redigo.ErrNil) {
			// Already acked or restored: drop a stale index entry.
			_, err = redigo.DoContext(c, ctx, "ZREM", b.key(kombu.UnackedIndexKey), tag)
			return false, err
		}
		if err != nil {
			return false, fmt.Errorf("celery: restore %s: %w", tag, err)
		}
		entry, perr := kombu.ParseUnackedEntry(raw)
		if perr != nil {
			// Unrestorable garbage: remove it so sweeps stop tripping on it.
			b.o.logger.Error("dropping malformed unacked entry", "delivery_tag", tag, "error", perr)
			c.Send("HDEL", b.key(kombu.UnackedKey), tag)
			_, err := redigo.DoContext(c, ctx, "ZREM", b.key(kombu.UnackedIndexKey), tag)
			return false, err
		}
		payload, err := entry.Redelivered()
		if err != nil {
			return false, err
		}
		queues, err := b.lookup(ctx, c, entry.Exchange, "", entry.RoutingKey, false)
		if err != nil {
			return false, err
		}
		if len(queues) == 0 {
			queues = []string{entry.RoutingKey}
		}
		lm := "0"
		if leftmost {
			lm = "1"
		}
		ok := false
		for i, q := range queues {
			target := b.queueKey(q, entry.Priority())
			if i == 0 {
				n, err := redigo.Int(b.restoreScript.DoContext(ctx, c, b.key(kombu.UnackedKey), b.key(kombu.UnackedIndexKey), target, tag, raw, payload, lm))
				if err != nil {
					return false, fmt.Errorf("celery: restore %s: %w", tag, err)
				}
				if n == 0 {
					break
				}
				ok = true
				continue
			}
			if _, err := redigo.DoContext(c, ctx, "RPUSH", target, payload); err != nil {
				return true, fmt.Errorf("celery: restore %s: %w", tag, err)
			}
		}
		if ok {
			return true, nil
		}
	}
	return false, fmt.Errorf("celery: restore %s: entry kept changing", tag)
}

// RestoreTags restores several unacked messages (a worker's warm shutdown:
// docs/wire.md#warm-shutdown), in order, each to the front of its queue.
func (b *Broker) RestoreTags(ctx context.Context, tags []string) (int, error) {
	if len(tags) == 0 {
		return 0, nil
	}
	c, err := b.conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	n := 0
	var errs []error
	// Restoring in reverse makes the first tag the next one popped.
	for i := len(tags) - 1; i >= 0; i-- {
		ok, err := b.restore(ctx, c, tags[i], false)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// RestoreVisible runs one visibility-timeout sweep: every unacked message
// delivered longer than the visibility timeout ago goes back to its queue
// (kombu QoS.restore_visible; docs/wire.md#visibility-sweep). The sweep is serialised with
// Python workers through unacked_mutex; when another process holds it, the
// sweep is skipped and 0 is returned.
func (b *Broker) RestoreVisible(ctx context.Context) (int, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	token := uuid.NewString()
	mutex := b.key(kombu.UnackedMutexKey)
	ok, err := redigo.String(redigo.DoContext(c, ctx, "SET", mutex, token, "NX", "PX", b.o.mutexExpire.Milliseconds()))
	if errors.Is(err, redigo.ErrNil) {
		return 0, nil
	}
	if err != nil || ok != "OK" {
		return 0, fmt.Errorf("celery: restore sweep lock: %w", err)
	}
	defer b.releaseScript.DoContext(context.WithoutCancel(ctx), c, mutex, token)
	ceil := float64(time.Now().Add(-b.o.visibilityTimeout).UnixMicro()) / 1e6
	tags, err := redigo.Strings(redigo.DoContext(c, ctx, "ZREVRANGEBYSCORE", b.key(kombu.UnackedIndexKey), strconv.FormatFloat(ceil, 'f', 6, 64), 0))
	if err != nil {
		return 0, fmt.Errorf("celery: restore sweep: %w", err)
	}
	n := 0
	var errs []error
	for _, t := range tags {
		restored, err := b.restore(ctx, c, t, false)
		if err != nil {
			errs = append(errs, err)
		}
		if restored {
			n++
		}
	}
	if n > 0 {
		b.o.logger.Info("restored unacknowledged messages past the visibility timeout", "count", n)
	}
	return n, errors.Join(errs...)
}

// VisibilityTimeout returns the configured visibility timeout.
func (b *Broker) VisibilityTimeout() time.Duration { return b.o.visibilityTimeout }
