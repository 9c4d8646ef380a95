package amqp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/celery"
)

// This file declares task queues as Celery and kombu do over AMQP
// (celery/app/amqp.py `Queues`, kombu/entity.py `Queue.declare`): the
// queue's exchange with its type, the queue with its arguments, and the
// binding.

var _ celery.QueueDeclarer = (*Broker)(nil)
var _ celery.BroadcastConsumer = (*Broker)(nil)

// QueueDefaults are the arguments of the queues celeriac declares without
// a task_queues entry of their own, as Celery's settings give them.
type QueueDefaults struct {
	// MaxPriority is task_queue_max_priority: the x-max-priority of
	// every queue that sets none (task_queues entries too), except quorum
	// queues; 0, the default, is none.
	MaxPriority int
	// DefaultQueue names the default queue (task_default_queue; default
	// "celery").
	DefaultQueue string
	// DefaultQueueType is task_default_queue_type, the default queue's
	// x-queue-type: "" or celery.QueueClassic (none), or
	// celery.QueueQuorum.
	DefaultQueueType string
	// MissingQueueType is task_create_missing_queue_type, that of every
	// other queue declared by name.
	MissingQueueType string
}

// WithQueueDefaults sets the arguments of queues declared by name (a
// worker's -Q, a client's queue option) and the default max priority.
func WithQueueDefaults(d QueueDefaults) Option { return func(o *options) { o.queues = d } }

// spec returns how queue is declared: as DeclareQueue last declared it,
// else by name with the defaults (an exchange and a routing key of its
// name).
func (b *Broker) spec(queue string) celery.QueueSpec {
	b.mu.Lock()
	q, ok := b.specs[queue]
	b.mu.Unlock()
	if ok {
		return q
	}
	q = celery.QueueSpec{Name: queue}.WithDefaults()
	d := b.o.queues
	typ := d.MissingQueueType
	if queue == cmp.Or(d.DefaultQueue, celery.DefaultQueue) {
		typ = d.DefaultQueueType
	}
	if typ != celery.QueueClassic {
		q.QueueType = typ
	}
	return b.withDefaults(q)
}

// withDefaults gives q the default max priority when it sets none (Celery
// sets it on every queue of task_queues; RabbitMQ refuses it on a quorum
// queue, where celeriac leaves it out).
func (b *Broker) withDefaults(q celery.QueueSpec) celery.QueueSpec {
	if q.MaxPriority == 0 && q.QueueType != celery.QueueQuorum {
		q.MaxPriority = b.o.queues.MaxPriority
	}
	return q
}

// arguments returns q's queue.declare arguments (nil when none). RabbitMQ
// compares them with an existing queue's, types aside.
func arguments(q celery.QueueSpec) amqp.Table {
	if !q.HasArguments() {
		return nil
	}
	t := amqp.Table{}
	if q.MaxPriority > 0 {
		t["x-max-priority"] = int32(q.MaxPriority)
	}
	if q.QueueType != "" {
		t["x-queue-type"] = q.QueueType
	}
	if q.Expires > 0 {
		t["x-expires"] = int64(q.Expires / time.Millisecond)
	}
	if q.MessageTTL > 0 {
		t["x-message-ttl"] = int64(q.MessageTTL / time.Millisecond)
	}
	return t
}

// DeclareQueue declares q as kombu's Queue.declare does (a
// celery.QueueDeclarer): its exchange, durable, of q's type; the queue,
// durable, with q's arguments (max priority, queue type, expiry, message
// TTL) and the defaults of WithQueueDefaults; the binding with q's
// routing key (a topic pattern as it is: RabbitMQ matches it). A
// broadcast queue's exchange alone is declared: each consumer declares a
// queue of its own (ConsumeBroadcast). The broker remembers q: the
// queue is declared so again after a reconnection, and a consumer of it
// declares it so.
//
// A queue that exists with other arguments than q's is never
// redeclared: the error wraps ErrPreconditionFailed. (A queue given no
// arguments at all is used as it exists, as one declared by name is.)
func (b *Broker) DeclareQueue(ctx context.Context, q celery.QueueSpec) error {
	if err := b.ValidateQueue(q.Name); err != nil {
		return fmt.Errorf("amqp: declare queue: %w", err)
	}
	q = b.withDefaults(q.WithDefaults())
	if q.Broadcast() {
		return b.declareExchangeOf(ctx, q.Exchange, celery.ExchangeFanout)
	}
	b.mu.Lock()
	old, known := b.specs[q.Name]
	b.specs[q.Name] = q
	if known && old != q {
		delete(b.declared, "q:"+q.Name)
	}
	b.mu.Unlock()
	return b.declareNamed(ctx, q.Name)
}

// declareNamed declares queue as spec says, once per connection. A
// queue without arguments that exists with some (x-max-priority,
// x-queue-type: declared by a Python worker so configured) is used as
// it is, checked with a passive declaration: RabbitMQ would refuse the
// redeclaration, and Celery's worker would stop. One declared with
// arguments that differ is an error wrapping ErrPreconditionFailed.
func (b *Broker) declareNamed(ctx context.Context, queue string) error {
	if b.isDeclared("q:" + queue) {
		return nil
	}
	q := b.spec(queue)
	err := b.withChannel(ctx, func(ch *amqp.Channel) error {
		if err := b.declareExchangeOn(ch, q.Exchange, q.ExchangeType); err != nil {
			return err
		}
		if _, err := ch.QueueDeclare(q.Name, true, false, false, false, arguments(q)); err != nil {
			return err
		}
		if q.Exchange == "" {
			return nil
		}
		return ch.QueueBind(q.Name, q.RoutingKey, q.Exchange, false, nil)
	})
	if errors.Is(err, ErrPreconditionFailed) && !q.HasArguments() {
		perr := b.withChannel(ctx, func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
			return err
		})
		if perr != nil {
			return fmt.Errorf("amqp: declare queue %s: %w", queue, err)
		}
		b.o.logger.Info("queue exists with other arguments; using it as declared", "queue", queue, "error", err)
		if isQuorumRefusal(err) {
			b.setDeclared("quorum:" + queue)
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("amqp: declare queue %s (%s): %w", queue, describe(q), err)
	}
	if q.QueueType == celery.QueueQuorum {
		b.setDeclared("quorum:" + queue)
	}
	b.setDeclared("q:" + queue)
	return nil
}

// describe names q's declaration for an error message.
func describe(q celery.QueueSpec) string {
	s := fmt.Sprintf("exchange %q type %s, routing key %q", q.Exchange, q.ExchangeType, q.RoutingKey)
	if a := arguments(q); a != nil {
		s += fmt.Sprintf(", arguments %v", map[string]any(a))
	}
	return s
}

// declareExchangeOn declares exchange of type kind on ch, unless it is
// the default exchange or a reserved one, or was declared on this
// connection.
func (b *Broker) declareExchangeOn(ch *amqp.Channel, exchange, kind string) error {
	if exchange == "" || strings.HasPrefix(exchange, "amq.") || b.isDeclared("x:"+exchange) {
		return nil
	}
	k, durable := exchangeKind(exchange)
	if err := ch.ExchangeDeclare(exchange, cmp.Or(kind, k), durable, false, false, false, nil); err != nil {
		return err
	}
	b.setDeclared("x:" + exchange)
	return nil
}

// ConsumeBroadcast consumes kombu Broadcast queue q as kombu does over
// AMQP (kombu/common.py `Broadcast`): a queue of this consumer's own
// (queue, "bcast.<uuid>"), durable and auto-deleted once its consumer
// is gone, bound to q's fanout exchange, so that every consumer gets a
// copy of each message. Messages are handed to handle as envelopes,
// without acknowledgement, until ctx ends (nil) or the channel fails
// (its error: the caller consumes again). ready is called once consuming.
func (b *Broker) ConsumeBroadcast(ctx context.Context, q celery.QueueSpec, queue string, ready func(), handle func(body []byte)) error {
	q = q.WithDefaults()
	if err := b.declareExchangeOf(ctx, q.Exchange, celery.ExchangeFanout); err != nil {
		return err
	}
	err := b.withChannel(ctx, func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclare(queue, true, true, false, false, nil); err != nil {
			return err
		}
		return ch.QueueBind(queue, q.RoutingKey, q.Exchange, false, nil)
	})
	if err != nil {
		return fmt.Errorf("amqp: broadcast queue %s: %w", q.Name, err)
	}
	return b.consumeQueue(ctx, queue, "broadcast queue "+q.Name, ready, handle)
}
