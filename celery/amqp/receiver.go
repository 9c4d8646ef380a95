package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// settle is an AMQP delivery's settle state: the channel it came on and
// its tag there. RabbitMQ records a delivery itself, so Settle has
// nothing to wait for.
type settle struct {
	ch  *amqp.Channel
	tag uint64
	// tags is the channel's delivery tags, nil when not followed.
	tags *deliveryTags
	// qos, when not nil, is the channel's prefetch state, raised by one
	// for this delivery (an ETA task): settling it lowers it again.
	qos  *qos
	done atomic.Bool
}

func (*settle) Settle() error { return nil }

// settled lowers the prefetch count raised for h's delivery, once.
func (h *settle) settled() {
	if h.qos != nil && h.done.CompareAndSwap(false, true) {
		h.qos.add(-1)
	}
}

// qosGlobal is basic.qos's global flag: on RabbitMQ, true makes the
// prefetch count the channel's, shared by its consumers and changeable
// while they consume (false would fix each consumer's at its start).
// Celery sets it so on RabbitMQ, whose semantics differ from the spec
// (celery/worker/consumer/tasks.py `Tasks.qos_global`); Celery 5.5+
// clears it for quorum queues, which ignore a global QoS; so does a
// receiver of a quorum queue (without raising it for ETA tasks then).
const qosGlobal = true

// qos is a channel's basic.qos prefetch count: the broker's prefetch
// plus one for each ETA task held unacknowledged, as Celery raises it
// (celery/worker/consumer/tasks.py, QoS.increment_eventually), so that
// tasks waiting for their time do not fill the window.
type qos struct {
	ch     *amqp.Channel
	base   int
	global bool // false on a channel consuming a quorum queue
	log    *slog.Logger

	mu    sync.Mutex
	extra int
}

// add changes the raise by delta and sends the new prefetch count.
func (q *qos) add(delta int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.extra = max(0, q.extra+delta)
	if !q.global {
		return // a per-consumer count cannot change while consuming
	}
	if err := q.ch.Qos(q.base+q.extra, 0, true); err != nil && !q.ch.IsClosed() {
		q.log.Warn("amqp: could not change the prefetch count", "prefetch", q.base+q.extra, "error", err)
	}
}

// forget drops h's delivery from its channel's open tags, once its
// reject or nack was sent (not before: an acknowledgement of many could
// otherwise take it first, and RabbitMQ close the channel on the
// reject of an unknown tag).
func (h *settle) forget() {
	if h.tags != nil {
		h.tags.mu.Lock()
		h.tags.settled(h.tag)
		h.tags.mu.Unlock()
	}
}

// hookOf returns d's AMQP settle state, or an error for a delivery this
// transport did not make.
func hookOf(d *celery.Delivery) (*settle, error) {
	h, ok := d.Hook.(*settle)
	if !ok {
		return nil, fmt.Errorf("amqp: delivery %q was not received from RabbitMQ", d.Tag)
	}
	return h, nil
}

// settleErr turns the error of an ack on a channel that is gone (its
// deliveries went back to their queues) into ErrNotRecorded.
func settleErr(h *settle, err error) error {
	if err == nil {
		return nil
	}
	if h.ch.IsClosed() || errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("%w: %w", celery.ErrNotRecorded, err)
	}
	return err
}

// Ack acknowledges deliveries. One whose channel closed since (a lost
// connection: RabbitMQ gave it back to its queue) is reported with
// ErrNotRecorded. Deliveries of a channel whose lower tags are all
// received and settled are acknowledged together, with one basic.ack
// (see deliveryTags); the others one by one.
func (b *Broker) Ack(_ context.Context, ds ...*celery.Delivery) error {
	var errs []error
	hs := make([]*settle, 0, len(ds))
	for _, d := range ds {
		h, err := hookOf(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hs = append(hs, h)
	}
	// By channel (after a reconnection, a batch may hold the old one's).
	for len(hs) > 0 {
		var group, rest []*settle
		for _, h := range hs {
			if h.ch == hs[0].ch && h.tags == hs[0].tags {
				group = append(group, h)
			} else {
				rest = append(rest, h)
			}
		}
		errs = append(errs, ackGroup(group)...)
		hs = rest
	}
	return errors.Join(errs...)
}

// ackGroup acknowledges deliveries of one channel, returning an error
// per delivery not acknowledged.
func ackGroup(hs []*settle) []error {
	var errs []error
	done := make([]*settle, 0, len(hs))
	ack := func(h *settle, err error) {
		if err := settleErr(h, err); err != nil {
			errs = append(errs, err)
			return
		}
		done = append(done, h)
	}
	if t := hs[0].tags; t == nil {
		for _, h := range hs {
			ack(h, h.ch.Ack(h.tag, false))
		}
	} else {
		// Held while sending: two batches computed at once could each
		// acknowledge the other's top tag.
		t.mu.Lock()
		for _, h := range hs {
			t.settled(h.tag)
		}
		limit := t.upTo()
		var top uint64
		for _, h := range hs {
			if h.tag <= limit {
				top = max(top, h.tag)
			}
		}
		var err error
		if top > 0 {
			err = hs[0].ch.Ack(top, true)
		}
		for _, h := range hs {
			if h.tag <= limit {
				ack(h, err)
			} else {
				ack(h, h.ch.Ack(h.tag, false))
			}
		}
		t.mu.Unlock()
	}
	for _, h := range done {
		h.settled() // may change the prefetch count: not under t.mu
	}
	return errs
}

// Reject drops d (basic.reject), or with requeue gives it back to its
// queue.
func (b *Broker) Reject(_ context.Context, d *celery.Delivery, requeue bool) error {
	h, err := hookOf(d)
	if err != nil {
		return err
	}
	err = h.ch.Reject(h.tag, requeue)
	h.forget()
	if err := settleErr(h, err); err != nil {
		return err
	}
	h.settled()
	return nil
}

// Requeue gives deliveries back to their queues (basic.nack with
// requeue: RabbitMQ puts each back at its former place, at the front
// for a message that was at the head) and returns how many it gave back.
func (b *Broker) Requeue(_ context.Context, ds ...*celery.Delivery) (int, error) {
	n := 0
	var errs []error
	for _, d := range ds {
		h, err := hookOf(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if h.ch.IsClosed() {
			n++ // RabbitMQ gave it back when its channel closed
			continue
		}
		err = h.ch.Nack(h.tag, false, true)
		h.forget()
		if err := settleErr(h, err); err != nil {
			errs = append(errs, err)
			continue
		}
		h.settled()
		n++
	}
	return n, errors.Join(errs...)
}

// Consume returns a receiver of queues.
func (b *Broker) Consume(queues ...string) celery.Receiver {
	return &receiver{b: b, queues: slices.Clone(queues), wake: make(chan struct{}, 1),
		state: reconnect.State{Name: "broker", Logger: b.o.logger}}
}

// inbound is a delivery and the queue whose consumer got it.
type inbound struct {
	queue string
	d     amqp.Delivery
}

// maxInbox bounds the buffer of deliveries received and not yet fetched
// (with no prefetch limit, RabbitMQ sends without bound).
const maxInbox = 256

// receiver consumes a set of queues on one channel: basic.qos with the
// broker's prefetch, one basic.consume per queue, their deliveries
// merged. Only ReceiveBatch's goroutine touches the channel state.
type receiver struct {
	b     *Broker
	wake  chan struct{}
	state reconnect.State

	mu      sync.Mutex
	queues  []string
	maxSize int
	closed  bool

	// Owned by ReceiveBatch (and Close, once it returned).
	ch       *amqp.Channel
	qos      *qos
	dtags    *deliveryTags
	chClosed chan *amqp.Error
	cancels  chan string
	tags     map[string]string // queue → consumer tag
	in       chan inbound
	stop     chan struct{}
	fwd      sync.WaitGroup
	fails    int
	session  sync.Mutex // held by ReceiveBatch and Close
}

func (r *receiver) Queues() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.queues)
}

// SetQueues changes the consumed queues from the next ReceiveBatch on.
func (r *receiver) SetQueues(queues []string) {
	r.mu.Lock()
	r.queues = slices.Clone(queues)
	r.mu.Unlock()
}

func (r *receiver) SetMaxMessageSize(n int) {
	r.mu.Lock()
	r.maxSize = n
	r.mu.Unlock()
}

// Wake makes a blocked ReceiveBatch look at its context now.
func (r *receiver) Wake(context.Context) error {
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// ReceiveBatch waits for at least one delivery (or the end of ctx) and
// returns up to max of them. A lost channel or connection is set up
// again with back-off meanwhile (one log line when lost, one when
// back); what it left unacknowledged RabbitMQ delivers again.
func (r *receiver) ReceiveBatch(ctx context.Context, max int) ([]*celery.Delivery, error) {
	r.session.Lock()
	defer r.session.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return nil, celery.ErrClosed
		}
		if err := r.setup(ctx); err != nil {
			if errors.Is(err, celery.ErrClosed) || ctx.Err() != nil {
				return nil, err
			}
			if errors.Is(err, ErrPreconditionFailed) {
				// A queue exists with other arguments than those
				// configured: retrying cannot help (Celery's worker
				// stops with an unrecoverable PreconditionFailed).
				r.teardown()
				return nil, err
			}
			r.teardown()
			r.state.Lost(err)
			d := r.b.o.backoff.Delay(r.fails)
			r.fails++
			if !reconnect.Sleep(ctx, d, r.wake) {
				return nil, ctx.Err()
			}
			continue
		}
		r.state.Up()
		r.fails = 0
		select {
		case m := <-r.in:
			out := []*celery.Delivery{r.delivery(m)}
		more:
			for max <= 0 || len(out) < max {
				select {
				case m := <-r.in:
					out = append(out, r.delivery(m))
				default:
					break more
				}
			}
			return out, nil
		case <-r.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-r.chClosed:
			r.teardown()
			if err != nil {
				r.state.Lost(err)
			}
		case tag := <-r.cancels:
			// RabbitMQ cancelled a consumer (its queue was deleted, a
			// node of the cluster went down): consume it again, as
			// declared, at the next round.
			for q, t := range r.tags {
				if t == tag {
					delete(r.tags, q)
					r.b.forget("q:" + q)
					r.b.o.logger.Warn("broker cancelled the consumer of a queue; consuming it again", "queue", q)
				}
			}
		}
	}
}

// delivery converts an AMQP delivery to a celery.Delivery, parsed.
func (r *receiver) delivery(m inbound) *celery.Delivery {
	// Tracked: RabbitMQ holds every delivery unacknowledged until it is
	// settled.
	h := &settle{ch: r.ch, tag: m.d.DeliveryTag, tags: r.dtags}
	r.dtags.received(m.d.DeliveryTag)
	if eta, _ := m.d.Headers["eta"].(string); eta != "" && r.qos.base > 0 {
		h.qos = r.qos
		r.qos.add(1)
	}
	d := &celery.Delivery{Queue: m.queue, Size: len(m.d.Body), Tracked: true, Hook: h}
	r.mu.Lock()
	limit := r.maxSize
	r.mu.Unlock()
	if limit > 0 && len(m.d.Body) > limit {
		d.Err = fmt.Errorf("%w: %d bytes, over the limit of %d", celery.ErrMessageTooLarge, len(m.d.Body), limit)
		d.Tag = strconv.FormatUint(m.d.DeliveryTag, 10)
		d.Exchange, d.RoutingKey = m.d.Exchange, m.d.RoutingKey
		d.TaskID = m.d.CorrelationId
		if id, ok := m.d.Headers["id"].(string); ok {
			d.TaskID = id
		}
		return d
	}
	// Parsed as it comes: no envelope JSON to write and parse again.
	d.SetEnvelope(envelopeOf(&m.d))
	return d
}

// errChannelClosed is the loss reported for a channel found closed.
var errChannelClosed = errors.New("amqp: channel closed")

// setup opens the channel when there is none and makes the consumers
// match the queue set: a consumer for each queue (declared first), none
// for a queue no longer in it.
var _ celery.Preparer = (*receiver)(nil)

// Prepare declares the consumed queues and opens the consuming channel
// now rather than at the first ReceiveBatch (celery.Preparer).
func (r *receiver) Prepare(ctx context.Context) error {
	r.session.Lock()
	defer r.session.Unlock()
	return r.setup(ctx)
}

func (r *receiver) setup(ctx context.Context) error {
	if r.ch != nil && r.ch.IsClosed() {
		// Lost while no fetch waited on chClosed (the pool was busy):
		// say so here, once, as ReceiveBatch does.
		var err error = errChannelClosed
		select {
		case e := <-r.chClosed:
			if e != nil {
				err = e
			}
		default:
		}
		r.state.Lost(err)
	}
	if r.ch == nil || r.ch.IsClosed() {
		r.teardown()
		// Declared first: a quorum queue among them decides the QoS.
		global := qosGlobal
		for _, q := range r.Queues() {
			if err := r.b.declareNamed(ctx, q); err != nil {
				return err
			}
			if r.b.isQuorum(q) {
				global = false
			}
		}
		ch, err := r.b.channel(ctx)
		if err != nil {
			return err
		}
		if err := ch.Qos(r.b.o.prefetch, 0, global); err != nil {
			ch.Close()
			return fmt.Errorf("amqp: basic.qos: %w", err)
		}
		r.ch = ch
		r.qos = &qos{ch: ch, base: r.b.o.prefetch, global: global, log: r.b.o.logger}
		r.dtags = &deliveryTags{}
		r.chClosed = ch.NotifyClose(make(chan *amqp.Error, 1))
		r.cancels = ch.NotifyCancel(make(chan string, 8))
		r.tags = map[string]string{}
		// Buffered, so that a fetch takes what arrived meanwhile at once
		// rather than one delivery per forwarder; what it holds is as
		// unacknowledged as what amqp091-go buffers before it.
		inbox := r.b.o.prefetch
		if inbox <= 0 || inbox > maxInbox {
			inbox = maxInbox
		}
		r.in = make(chan inbound, inbox)
		r.stop = make(chan struct{})
	}
	want := r.Queues()
	for q, tag := range r.tags {
		if !slices.Contains(want, q) {
			if err := r.ch.Cancel(tag, false); err != nil {
				return fmt.Errorf("amqp: cancel consumer of %s: %w", q, err)
			}
			delete(r.tags, q)
		}
	}
	for _, q := range want {
		if _, ok := r.tags[q]; ok {
			continue
		}
		if err := r.b.declareNamed(ctx, q); err != nil {
			return err
		}
		tag := "celeriac-" + q + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		// Not ConsumeWithContext: ctx is this fetch's, the consumer outlives it.
		msgs, err := r.ch.Consume(q, tag, false, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("amqp: consume %s: %w", q, err)
		}
		r.tags[q] = tag
		in, stop := r.in, r.stop
		r.fwd.Go(func() {
			for d := range msgs {
				select {
				case in <- inbound{queue: q, d: d}:
				case <-stop:
					return // the channel closes: RabbitMQ requeues d
				}
			}
		})
	}
	return nil
}

// teardown closes the channel (RabbitMQ requeues what it left
// unacknowledged) and waits for the forwarders.
func (r *receiver) teardown() {
	if r.ch == nil {
		return
	}
	close(r.stop)
	r.ch.Close()
	r.fwd.Wait()
	r.ch, r.tags = nil, nil
}

// Close stops consuming (basic.cancel) but leaves the channel open: the
// worker still acknowledges, rejects or gives back what it holds (a warm
// shutdown finishes its running tasks after the intake stopped). What is
// left unacknowledged goes back to its queue when the broker closes.
func (r *receiver) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.Wake(context.Background())
	r.session.Lock()
	defer r.session.Unlock()
	if r.ch == nil {
		return nil
	}
	var errs []error
	for q, tag := range r.tags {
		if err := r.ch.Cancel(tag, false); err != nil && !r.ch.IsClosed() {
			errs = append(errs, fmt.Errorf("amqp: cancel consumer of %s: %w", q, err))
		}
	}
	close(r.stop)
	r.fwd.Wait()
	r.ch, r.tags = nil, nil
	return errors.Join(errs...)
}

// forget drops an entity from the declared cache, so that it is
// declared again on next use.
func (b *Broker) forget(key string) {
	b.mu.Lock()
	delete(b.declared, key)
	b.mu.Unlock()
}
