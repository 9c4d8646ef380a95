package amqp

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/kombu"
)

// exchangeKind is how kombu declares the exchanges celeriac uses: remote
// control's broadcast and reply exchanges are transient (kombu/pidbox.py
// `Mailbox._get_exchange`, `_get_reply_exchange`), events go to a durable
// topic exchange (celery/events/event.py `event_exchange`), and a task
// queue's exchange is a durable direct one named after it (kombu
// entity.py `Queue`: Exchange(name), routing key name).
func exchangeKind(name string) (kind string, durable bool) {
	switch name {
	case kombu.PidboxExchange:
		return amqp.ExchangeFanout, false
	case kombu.ReplyExchange:
		return amqp.ExchangeDirect, false
	case kombu.EventExchange:
		return amqp.ExchangeTopic, true
	}
	return amqp.ExchangeDirect, true
}

// declareExchange declares exchange as kombu does, once per connection.
func (b *Broker) declareExchange(ctx context.Context, exchange string) error {
	return b.declareExchangeOf(ctx, exchange, "")
}

// declareExchangeOf declares exchange with type kind (a task_queues
// exchange, a Broadcast's fanout; "" as exchangeKind says) as kombu
// does: durable, not auto-deleted. The default exchange and the
// reserved amq.* ones exist already and cannot be declared.
func (b *Broker) declareExchangeOf(ctx context.Context, exchange, kind string) error {
	if exchange == "" || strings.HasPrefix(exchange, "amq.") || b.isDeclared("x:"+exchange) {
		return nil
	}
	k, durable := exchangeKind(exchange)
	kind = cmp.Or(kind, k)
	err := b.withChannel(ctx, func(ch *amqp.Channel) error {
		return ch.ExchangeDeclare(exchange, kind, durable, false, false, false, nil)
	})
	if err != nil {
		return fmt.Errorf("amqp: declare exchange %s: %w", exchange, err)
	}
	b.setDeclared("x:" + exchange)
	return nil
}

// ensureExchange makes sure exchange exists before a message is
// published to it: one that exists is used as it is, whatever its type
// (kombu does not declare an exchange named by a string when it
// publishes); a missing one is declared with type kind, so that the
// publish is not refused.
func (b *Broker) ensureExchange(ctx context.Context, exchange, kind string) error {
	if exchange == "" || strings.HasPrefix(exchange, "amq.") || b.isDeclared("x:"+exchange) {
		return nil
	}
	err := b.withChannel(ctx, func(ch *amqp.Channel) error {
		return ch.ExchangeDeclarePassive(exchange, amqp.ExchangeDirect, true, false, false, false, nil)
	})
	switch {
	case err == nil:
		b.setDeclared("x:" + exchange)
		return nil
	case isNotFound(err):
		return b.declareExchangeOf(ctx, exchange, kind)
	}
	return fmt.Errorf("amqp: exchange %s: %w", exchange, err)
}

func (b *Broker) isDeclared(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.declared[key] && b.conn != nil && !b.conn.IsClosed()
}

func (b *Broker) setDeclared(key string) {
	b.mu.Lock()
	b.declared[key] = true
	b.mu.Unlock()
}

// outgoing is one message to publish.
type outgoing struct {
	exchange, routingKey string
	msg                  amqp.Publishing
}

// PublishOne sends one task message.
func (b *Broker) PublishOne(ctx context.Context, pub celery.Publishing) error {
	return b.PublishBatch(ctx, []celery.Publishing{pub})
}

// PublishBatch sends task messages and waits for RabbitMQ's
// confirmation of each: when it returns nil, every message is in its
// queue. A message sent to a queue (Publishing.Queue, no exchange) goes
// through the default exchange once the queue is declared; one sent to
// an exchange is routed by its bindings.
func (b *Broker) PublishBatch(ctx context.Context, pubs []celery.Publishing) error {
	out := make([]outgoing, 0, len(pubs))
	for _, p := range pubs {
		msg, err := toPublishing(p.Body, p.Priority)
		if err != nil {
			return fmt.Errorf("amqp: publish: %w", err)
		}
		o := outgoing{exchange: p.Exchange, routingKey: p.RoutingKey, msg: msg}
		if p.Exchange == "" {
			if err := b.declareNamed(ctx, p.Queue); err != nil {
				return err
			}
			o.routingKey = p.Queue
		} else if err := b.ensureExchange(ctx, p.Exchange, p.ExchangeType); err != nil {
			return err
		}
		out = append(out, o)
	}
	return b.publish(ctx, out)
}

// publish sends msgs on the confirm-mode channel and waits for their
// confirmations. Concurrent callers share the channel: each holds it
// only while sending, and waits for its own confirmations after.
func (b *Broker) publish(ctx context.Context, msgs []outgoing) error {
	ch, confs, err := b.send(ctx, msgs)
	if err != nil {
		return err
	}
	for _, c := range confs {
		ok, err := c.WaitContext(ctx)
		if err != nil {
			return fmt.Errorf("amqp: publish: %w", err)
		}
		if !ok {
			return fmt.Errorf("amqp: publish: RabbitMQ refused the message (nack)")
		}
	}
	// A publish to a missing exchange closes the channel: report it.
	if ch.IsClosed() {
		return fmt.Errorf("amqp: publish: channel closed (does the exchange exist?)")
	}
	return nil
}

// send publishes msgs on the confirm-mode channel (opened when there is
// none) and returns it with their deferred confirmations.
func (b *Broker) send(ctx context.Context, msgs []outgoing) (*amqp.Channel, []*amqp.DeferredConfirmation, error) {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if b.pub == nil || b.pub.IsClosed() {
		ch, err := b.channel(ctx)
		if err != nil {
			return nil, nil, err
		}
		if err := ch.Confirm(false); err != nil {
			ch.Close()
			return nil, nil, fmt.Errorf("amqp: confirm mode: %w", err)
		}
		b.pub = ch
	}
	confs := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for _, m := range msgs {
		c, err := b.pub.PublishWithDeferredConfirmWithContext(ctx, m.exchange, m.routingKey, false, false, m.msg)
		if err != nil {
			return nil, nil, fmt.Errorf("amqp: publish to %q/%s: %w", m.exchange, m.routingKey, err)
		}
		confs = append(confs, c)
	}
	return b.pub, confs, nil
}

// Broadcast publishes msgs (envelopes) to exchange: remote control's
// fanout exchange, or the events topic exchange with each message's
// routing key.
func (b *Broker) Broadcast(ctx context.Context, exchange string, msgs ...celery.BroadcastMessage) error {
	if err := b.declareExchange(ctx, exchange); err != nil {
		return err
	}
	out := make([]outgoing, 0, len(msgs))
	for _, m := range msgs {
		msg, err := toPublishing(m.Body, 0)
		if err != nil {
			return fmt.Errorf("amqp: broadcast: %w", err)
		}
		out = append(out, outgoing{exchange: exchange, routingKey: m.RoutingKey, msg: msg})
	}
	return b.publish(ctx, out)
}

// PublishReply sends a remote-control reply to the queues bound to
// exchange with routingKey (the client's reply queue).
func (b *Broker) PublishReply(ctx context.Context, exchange, routingKey string, body []byte) error {
	if err := b.declareExchange(ctx, exchange); err != nil {
		return err
	}
	msg, err := toPublishing(body, 0)
	if err != nil {
		return fmt.Errorf("amqp: reply: %w", err)
	}
	return b.publish(ctx, []outgoing{{exchange: exchange, routingKey: routingKey, msg: msg}})
}

// queueArgs are the arguments of a remote-control queue expiring after
// expires: x-expires, and x-message-ttl of control_queue_ttl (300 s),
// as Celery's Mailbox declares them (celery/app/control.py).
func queueArgs(expires time.Duration, ttl time.Duration) amqp.Table {
	t := amqp.Table{}
	if expires > 0 {
		t["x-expires"] = int64(expires / time.Millisecond)
	}
	if ttl > 0 {
		t["x-message-ttl"] = int64(ttl / time.Millisecond)
	}
	return t
}

// controlQueueTTL is Celery's control_queue_ttl, the x-message-ttl of
// remote-control queues.
const controlQueueTTL = 300 * time.Second

// isQuorumRefusal reports whether a refused declaration says the queue
// exists as a quorum queue (RabbitMQ names the argument and its value:
// "inequivalent arg 'x-queue-type' ... current is the value 'quorum'").
// AMQP has no other way to read a queue's arguments.
func isQuorumRefusal(err error) bool {
	s := err.Error()
	return strings.Contains(s, "x-queue-type") && strings.Contains(s, "'quorum'")
}

// isQuorum reports whether queue was found to be a quorum queue.
func (b *Broker) isQuorum(queue string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.declared["quorum:"+queue]
}
