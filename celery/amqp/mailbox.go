package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// This file is remote control and events over AMQP: kombu's pidbox
// Mailbox and celery's event receiver declare real queues, bound to
// real exchanges, and consume them without acknowledgements
// (kombu/pidbox.py `Mailbox.get_queue`, `get_reply_queue`;
// celery/events/receiver.py).

// DeclareBinding declares exchange and queue and binds them with
// routingKey. A queue with expires is a remote-control queue as kombu's
// Mailbox declares it: exclusive to this connection, auto-deleted,
// x-expires and x-message-ttl (control_queue_ttl); without, a durable
// queue. Subscribe to exchange then consumes the queue bound last.
func (b *Broker) DeclareBinding(ctx context.Context, exchange, routingKey, queue string, expires time.Duration) error {
	if err := b.declareExchange(ctx, exchange); err != nil {
		return err
	}
	err := b.withChannel(ctx, func(ch *amqp.Channel) error {
		var err error
		if expires > 0 {
			_, err = ch.QueueDeclare(queue, false, true, true, false, queueArgs(expires, controlQueueTTL))
		} else {
			_, err = ch.QueueDeclare(queue, true, false, false, false, nil)
		}
		if err != nil {
			return err
		}
		return ch.QueueBind(queue, routingKey, exchange, false, nil)
	})
	if err != nil {
		return fmt.Errorf("amqp: declare binding of %s to %s: %w", queue, exchange, err)
	}
	b.mu.Lock()
	b.bound[exchange] = &bind{queue: queue, routingKey: routingKey, expires: expires}
	b.mu.Unlock()
	return nil
}

// DeleteQueue stops reading queue (Pop) and deletes it.
func (b *Broker) DeleteQueue(ctx context.Context, queue, exchange, routingKey string) error {
	b.mu.Lock()
	p := b.pops[queue]
	delete(b.pops, queue)
	if bd := b.bound[exchange]; bd != nil && bd.queue == queue {
		delete(b.bound, exchange)
	}
	b.mu.Unlock()
	if p != nil {
		p.stop()
	}
	err := b.withChannel(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(queue, false, false, false)
		return err
	})
	if err != nil && !isNotFound(err) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("amqp: delete queue %s: %w", queue, err)
	}
	return nil
}

// popper consumes one queue without acknowledgements for Pop.
type popper struct {
	ch    *amqp.Channel
	msgs  <-chan amqp.Delivery
	close sync.Once
}

func (p *popper) stop() { p.close.Do(func() { p.ch.Close() }) }

// Pop takes one message (as an envelope) from queue, waiting up to wait;
// nil when none came. The first Pop of a queue starts a consumer of it
// (no acknowledgements, as kombu's Mailbox reads replies), which
// DeleteQueue ends.
func (b *Broker) Pop(ctx context.Context, queue string, wait time.Duration) ([]byte, error) {
	p, err := b.popper(ctx, queue)
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(max(wait, 10*time.Millisecond))
	defer t.Stop()
	select {
	case d, ok := <-p.msgs:
		if !ok {
			b.mu.Lock()
			if b.pops[queue] == p {
				delete(b.pops, queue)
			}
			b.mu.Unlock()
			return nil, fmt.Errorf("amqp: pop %s: consumer ended (channel or connection closed)", queue)
		}
		return envelopeJSON(&d)
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *Broker) popper(ctx context.Context, queue string) (*popper, error) {
	b.mu.Lock()
	p := b.pops[queue]
	b.mu.Unlock()
	if p != nil {
		return p, nil
	}
	ch, err := b.channel(ctx)
	if err != nil {
		return nil, err
	}
	// Not ConsumeWithContext: ctx is this Pop's, the consumer outlives it.
	msgs, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("amqp: consume %s: %w", queue, err)
	}
	p = &popper{ch: ch, msgs: msgs}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		p.stop()
		return nil, fmt.Errorf("amqp: pop %s: broker closed", queue)
	}
	b.pops[queue] = p
	b.mu.Unlock()
	return p, nil
}

// Subscribe consumes exchange's messages until ctx ends (nil) or the
// channel or connection fails (its error). The queue is the one
// DeclareBinding bound to exchange last (remote control's node queue);
// without one, a queue of its own named "<exchange>.<uuid>" as celery's
// event receiver names it (exclusive, auto-deleted, x-message-ttl 5 s,
// x-expires 60 s: event_queue_ttl and event_queue_expires), bound with
// pattern ("*" and "" become AMQP's "#": every routing key).
func (b *Broker) Subscribe(ctx context.Context, exchange, pattern string, ready func(), handle func(body []byte)) error {
	if err := b.declareExchange(ctx, exchange); err != nil {
		return err
	}
	b.mu.Lock()
	bd := b.bound[exchange]
	b.mu.Unlock()
	queue := ""
	if bd != nil {
		queue = bd.queue
	} else {
		queue = exchange + "." + uuid.NewString()
		key := pattern
		if key == "" || key == "*" {
			key = "#"
		}
		err := b.withChannel(ctx, func(ch *amqp.Channel) error {
			if _, err := ch.QueueDeclare(queue, false, true, true, false, queueArgs(60*time.Second, 5*time.Second)); err != nil {
				return err
			}
			return ch.QueueBind(queue, key, exchange, false, nil)
		})
		if err != nil {
			return fmt.Errorf("amqp: subscribe to %s: %w", exchange, err)
		}
	}
	return b.consumeQueue(ctx, queue, "subscription to "+exchange, ready, handle)
}

// consumeQueue consumes queue without acknowledgements on a channel of
// its own, handing each message to handle as an envelope, until ctx ends
// (nil) or the channel fails or is cancelled (an error naming what).
func (b *Broker) consumeQueue(ctx context.Context, queue, what string, ready func(), handle func(body []byte)) error {
	ch, err := b.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	// Not ConsumeWithContext: its cancel at the end of ctx would race
	// with the channel's close below (amqp091-go can then wait for a
	// close-ok forever); closing the channel ends the consumer.
	msgs, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("amqp: %s: %w", what, err)
	}
	if ready != nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-msgs:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				select {
				case err := <-closed:
					if err != nil {
						return fmt.Errorf("amqp: %s: %w", what, err)
					}
				default:
				}
				return fmt.Errorf("amqp: %s cancelled", what)
			}
			raw, err := envelopeJSON(&d)
			if err != nil {
				b.o.logger.Warn("amqp: unreadable broadcast message dropped", "from", what, "error", err)
				continue
			}
			handle(raw)
		}
	}
}
