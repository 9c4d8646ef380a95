package worker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/internal/reconnect"
	"github.com/google/uuid"
)

// WithRoutes gives the worker Celery's task_routes and task_queues: a
// consumed queue declared in r is bound to its exchange before the worker
// consumes it (a topic queue with its pattern), a declared broadcast
// queue (kombu.common.Broadcast) is consumed through its fanout exchange,
// every worker getting its own copy of each message, and the tasks the
// worker sends (callbacks, chain steps, chord bodies) follow r's routes.
// Default none.
func WithRoutes(r *celery.Routes) Option { return func(o *options) { o.routes = r } }

// WithWorkerDirect makes the worker also consume its worker_direct queue
// ("<hostname>.dq2", bound to the C.dq2 exchange with the hostname:
// celery.WorkerDirect), so that a client can send to this worker alone
// (Celery's worker_direct). Default off.
func WithWorkerDirect(on bool) Option { return func(o *options) { o.workerDirect = on } }

// routing is the worker's part of the routing table: the declarations of
// the queues it consumes and its broadcast queues.
type routing struct {
	specs      map[string]celery.QueueSpec // declared consumed queues, by name
	broadcasts []*broadcastQueue
	wg         sync.WaitGroup
}

// newRouting splits o's queues into those the intake pops (left in
// o.queues) and the broadcast queues, adding the worker_direct queue.
func newRouting(o *options) *routing {
	rt := &routing{specs: map[string]celery.QueueSpec{}}
	if o.workerDirect {
		wd := celery.WorkerDirect(o.hostname)
		rt.specs[wd.Name] = wd
		if !slices.Contains(o.queues, wd.Name) {
			o.queues = append(slices.Clip(o.queues), wd.Name)
		}
	}
	if o.routes == nil {
		return rt
	}
	var popped []string
	for _, q := range o.queues {
		spec, ok := o.routes.QueueSpec(q)
		switch {
		case ok && spec.Broadcast():
			// kombu names each consumer's queue "bcast.<uuid>".
			rt.broadcasts = append(rt.broadcasts, &broadcastQueue{spec: spec, own: "bcast." + uuid.NewString()})
		case ok:
			rt.specs[q] = spec
			popped = append(popped, q)
		default:
			popped = append(popped, q)
		}
	}
	o.queues = popped
	return rt
}

// names returns the broadcast queues' names.
func (rt *routing) names() []string {
	out := make([]string, len(rt.broadcasts))
	for i, b := range rt.broadcasts {
		out[i] = b.spec.Name
	}
	return out
}

// declare binds the declared queues the intake consumes to their
// exchanges, when the transport declares queues.
func (w *Worker) declareQueues(ctx context.Context) error {
	d, ok := w.broker.(celery.QueueDeclarer)
	if !ok {
		return nil
	}
	for _, q := range w.intake.Queues() {
		spec, ok := w.routing.specs[q]
		if !ok {
			continue
		}
		if err := d.DeclareQueue(ctx, spec); err != nil {
			return fmt.Errorf("worker: declare queue %s: %w", q, err)
		}
	}
	return nil
}

// broadcastQueue is one kombu Broadcast queue the worker consumes: on
// Redis, a subscription to its fanout exchange's channel (redis.py
// `_subscribe`), each message handed to accept as a delivery that needs
// no acknowledgement (docs/interop.md#broadcast-queues).
type broadcastQueue struct {
	spec celery.QueueSpec
	own  string // this consumer's queue name ("bcast.<uuid>")
}

// startBroadcasts subscribes every broadcast queue and returns once each
// is listening (or after 5 s, or when ctx ends); they stop when ctx ends
// (stopBroadcasts waits for them).
func (w *Worker) startBroadcasts(ctx context.Context) {
	if len(w.routing.broadcasts) == 0 {
		return
	}
	readies := make([]chan struct{}, len(w.routing.broadcasts))
	for i, b := range w.routing.broadcasts {
		readies[i] = make(chan struct{})
		conn := &reconnect.State{Name: "broadcast queue " + b.spec.Name, Logger: w.o.logger}
		w.routing.wg.Go(func() {
			keepSubscribed(ctx, conn, readies[i], func(ctx context.Context, up func()) error { return w.listen(ctx, b, up) })
		})
	}
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for i, ready := range readies {
		select {
		case <-ready:
		case <-deadline.C:
			w.o.logger.Warn("broadcast queue not subscribed yet", "queue", w.routing.broadcasts[i].spec.Name)
			return
		case <-ctx.Done():
			return
		}
	}
}

// stopBroadcasts waits for the broadcast subscriptions to end (their ctx
// has ended).
func (w *Worker) stopBroadcasts() { w.routing.wg.Wait() }

// listen subscribes to b's exchange as kombu does (the channel
// "/<db>.<exchange>", with "/<binding key>" when the binding has one, "#"
// read as "*") and accepts each message until ctx ends or the
// subscription fails.
func (w *Worker) listen(ctx context.Context, b *broadcastQueue, up func()) error {
	handle := func(body []byte) {
		if len(body) == 0 { // kombu skips an empty payload (redis.py `_receive_one`)
			return
		}
		// Each message takes a slot of the prefetch window, as a popped
		// one, but without waiting: the intake may hold every free slot
		// for its blocking pop, and a broadcast is not kept for later.
		if w.intake.slots != nil {
			w.intake.slots.take()
		}
		d := &celery.Delivery{Queue: b.spec.Name, Raw: body, Size: len(body)}
		if m := w.o.maxMessageSize; m > 0 && len(body) > m {
			d.Raw = nil
			d.Err = fmt.Errorf("%w: %d bytes, over %d", celery.ErrMessageTooLarge, len(body), m)
		} else {
			d.Parse()
		}
		w.accept(ctx, d)
	}
	if bc, ok := w.broker.(celery.BroadcastConsumer); ok { // AMQP: a queue of its own
		return bc.ConsumeBroadcast(ctx, b.spec, b.own, up, handle)
	}
	pattern := strings.ReplaceAll(b.spec.RoutingKey, "#", "*")
	return w.broker.Subscribe(ctx, b.spec.Exchange, pattern, up, handle)
}

// queueInfo describes a consumed queue for active_queues as kombu's
// Queue.as_dict(recurse=True) does: its declaration when it has one
// (worker_direct, task_queues), else a queue declared by name.
func (w *Worker) queueInfo(name string) control.QueueInfo {
	spec, ok := w.routing.specs[name]
	if !ok && w.o.routes != nil {
		spec, ok = w.o.routes.QueueSpec(name)
	}
	if !ok {
		return queueInfo(name)
	}
	info := queueInfo(name)
	info.Exchange.Name, info.Exchange.Type, info.RoutingKey = spec.Exchange, spec.ExchangeType, spec.RoutingKey
	for _, b := range w.routing.broadcasts {
		if b.spec.Name == name { // kombu's Broadcast: a unique queue, aliased
			alias := name
			info.Name, info.Alias, info.AutoDelete = b.own, &alias, true
		}
	}
	return info
}

// take takes a slot of the window even when none is free (a broadcast
// message, which cannot wait); the window is over its limit until enough
// are released.
func (w *window) take() {
	w.mu.Lock()
	w.used++
	w.mu.Unlock()
}
