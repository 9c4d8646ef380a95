package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/celeriac/celeriac/celery"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/rconn"
)

// BroadcastChannel returns the name under which exchange's messages with
// routingKey travel (kombu's Redis fanout: a PUBLISH channel
// "/<db>.<exchange>/<routing key>", prefixed); routingKey may be a
// subscription pattern such as "*".
func (b *Broker) BroadcastChannel(exchange, routingKey string) string {
	return b.o.prefix + kombu.FanoutChannel(b.db, exchange, routingKey)
}

// Broadcast publishes msgs to the fanout exchange in one pipelined round
// trip. Nothing is stored: a subscriber that is not listening misses them.
func (b *Broker) Broadcast(ctx context.Context, exchange string, msgs ...celery.BroadcastMessage) error {
	c, err := b.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, m := range msgs {
		if err := c.Send("PUBLISH", b.BroadcastChannel(exchange, m.RoutingKey), m.Body); err != nil {
			return fmt.Errorf("celery: broadcast: %w", err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("celery: broadcast: %w", err)
	}
	for range msgs {
		if _, err := c.Receive(); err != nil {
			return fmt.Errorf("celery: broadcast: %w", err)
		}
	}
	return nil
}

// Subscribe listens to exchange's messages whose routing key matches
// pattern ("" for the exchange's plain channel, "*" for every key, or a
// glob such as "task.*") on a connection of its own, until ctx ends
// (nil) or the connection fails (the error: the caller resubscribes,
// having missed what was broadcast meanwhile). ready is called once the
// subscription is in place, handle with each message's body; both run
// on Subscribe's goroutine.
func (b *Broker) Subscribe(ctx context.Context, exchange, pattern string, ready func(), handle func(body []byte)) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return celery.ErrClosed
	}
	psc, done, err := rconn.PubSub(ctx, b.pool)
	if err != nil {
		return err
	}
	defer done()
	if err := psc.PSubscribe(b.BroadcastChannel(exchange, pattern)); err != nil {
		return err
	}
	for {
		switch m := psc.ReceiveWithTimeout(0).(type) { // no deadline: idle is fine
		case error:
			if ctx.Err() != nil {
				return nil
			}
			return m
		case redigo.Subscription:
			if m.Kind == "psubscribe" && ready != nil {
				ready()
			}
		case redigo.Message:
			handle(m.Data)
		}
	}
}

// DeclareBinding binds queue to exchange with routingKey (kombu 5.7's
// queue_bind), so that messages routed through the exchange reach it.
// Without expires the member goes to the exchange's binding table and
// to its permanent set, which keeps kombu's sweep off the table. With
// expires (the queue's x-expires) it goes to the table by
// kombu.RefreshBindingScript, which pushes the exchange's deadline to
// kombu.BindingTTL(expires) from now; calling it again refreshes the
// deadline (docs/wire.md#binding-tables).
func (b *Broker) DeclareBinding(ctx context.Context, exchange, routingKey, queue string, expires time.Duration) error {
	return b.bind(ctx, exchange, kombu.BindingMember(routingKey, "", queue), queue, expires)
}

// DeclareQueue binds q to its exchange (celery.QueueDeclarer) as kombu's
// queue_bind does, for good (no expiry): the binding of a topic exchange
// carries the pattern its key stands for (kombu.TopicPattern), which
// publishers match. A broadcast queue needs no binding: fanout goes
// through PUBLISH, and its consumer subscribes (BroadcastChannel).
func (b *Broker) DeclareQueue(ctx context.Context, q celery.QueueSpec) error {
	if err := b.ValidateQueue(q.Name); err != nil {
		return fmt.Errorf("celery: declare queue: %w", err)
	}
	q = q.WithDefaults()
	if q.Broadcast() {
		return nil
	}
	pattern := ""
	if q.ExchangeType == celery.ExchangeTopic {
		pattern = kombu.TopicPattern(q.RoutingKey)
	}
	return b.bind(ctx, q.Exchange, kombu.BindingMember(q.RoutingKey, pattern, q.Name), q.Name, 0)
}

// bind adds member to exchange's binding table (see DeclareBinding).
func (b *Broker) bind(ctx context.Context, exchange, member, queue string, expires time.Duration) error {
	c, err := b.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if expires > 0 {
		_, err = b.bindScript.DoContext(ctx, c, b.key(kombu.BindingKey(exchange)), b.key(kombu.BindingDeadlinesKey),
			member, exchange, kombu.BindingTTL(expires).Milliseconds())
	} else {
		c.Send("MULTI")
		c.Send("SADD", b.key(kombu.BindingKey(exchange)), member)
		c.Send("SADD", b.key(kombu.PermanentBindingKey(exchange)), member)
		_, err = redigo.DoContext(c, ctx, "EXEC")
	}
	if err != nil {
		return fmt.Errorf("celery: declare binding of %s to %s: %w", queue, exchange, err)
	}
	return nil
}

// DeleteQueue removes queue's binding to exchange and the messages left in
// it (kombu's queue_delete; a remote-control reply queue once its
// replies are collected).
func (b *Broker) DeleteQueue(ctx context.Context, queue, exchange, routingKey string) error {
	c, err := b.conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	keys := make([]any, 0, len(b.o.steps))
	for _, s := range b.o.steps {
		keys = append(keys, b.key(kombu.QueueKey(queue, s)))
	}
	member := kombu.BindingMember(routingKey, "", queue)
	c.Send("SREM", b.key(kombu.BindingKey(exchange)), member)
	c.Send("SREM", b.key(kombu.PermanentBindingKey(exchange)), member)
	c.Send("DEL", keys...)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("celery: delete queue %s: %w", queue, err)
	}
	for range 3 {
		if _, err := c.Receive(); err != nil {
			return fmt.Errorf("celery: delete queue %s: %w", queue, err)
		}
	}
	return nil
}

// popSlack is how much longer than its blocking time Pop waits for Redis'
// answer.
const popSlack = 5 * time.Second

// Pop takes one message from queue without acknowledgement (kombu's
// no_ack consume, as a remote-control client reads its replies), waiting
// up to wait (at least 10 ms) for one to arrive. It returns nil, nil when
// none came. Its read timeout follows wait, so any wait works, longer
// than the connection's read timeout too.
func (b *Broker) Pop(ctx context.Context, queue string, wait time.Duration) ([]byte, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	args := make([]any, 0, len(b.o.steps)+1)
	for _, s := range b.o.steps {
		args = append(args, b.key(kombu.QueueKey(queue, s)))
	}
	// Redis ≥ 6 takes a fractional BRPOP timeout.
	args = append(args, strconv.FormatFloat(max(wait.Seconds(), 0.01), 'f', 3, 64))
	reply, err := redigo.ByteSlices(redigo.DoWithTimeout(c, wait+popSlack, "BRPOP", args...))
	if errors.Is(err, redigo.ErrNil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("celery: pop %s: %w", queue, err)
	}
	if len(reply) != 2 {
		return nil, nil
	}
	return reply[1], nil
}

// Incr adds one to the counter key on the broker's Redis, sets the
// counter to expire ttl later, and returns its new value. The key is used
// as given (no global key prefix): callers name keys of their own
// namespace, never one of the transport's.
func (b *Broker) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.Send("MULTI")
	c.Send("INCR", key)
	c.Send("EXPIRE", key, int(ttl/time.Second))
	vals, err := redigo.Values(redigo.DoContext(c, ctx, "EXEC"))
	if err != nil {
		return 0, fmt.Errorf("celery: incr %s: %w", key, err)
	}
	n, err := redigo.Int64(vals[0], nil)
	if err != nil { // an error inside EXEC
		return 0, fmt.Errorf("celery: incr %s: %w", key, err)
	}
	return n, nil
}
