package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
)

// Worker consumes task messages from Redis queues and runs them with the
// handlers of a ServeMux, storing results where Python clients read them.
//
// A Worker is composed of components, each in its own file with its own
// state and its own start and shutdown (Run starts and stops them in a
// fixed order):
//
//   - intake (intake.go): the consumer and the prefetch window; it hands
//     each delivery to accept (accept.go), which rejects, revokes, holds or
//     queues it;
//   - sched (scheduler.go): holds ETA and rate-limited requests until due;
//   - pool (pool.go): the executor goroutines, which run requests with
//     execute (execute.go, then finish.go, retry.go, result.go);
//   - canvas (canvas.go): applies callbacks, chain steps, errbacks and
//     chord joins of finished tasks;
//   - acker (acker.go): settles deliveries with the transport (batched
//     acks, requeues, restores);
//   - defers (defer.go): keeps held ETA messages from visibility sweeps;
//   - sweeper (sweeper.go): the visibility sweep;
//   - pidbox (pidbox.go): the remote-control node, whose commands
//     control.go serves;
//   - heart (heartbeat.go): worker-online, -heartbeat and -offline, sent
//     through the event dispatcher (events);
//   - scaler (autoscale.go): with WithAutoscale, sizes the pool between
//     its bounds; lifecycle.go recycles the worker and starts the cold
//     (soft) shutdown.
//
// What they share is the registry (registry.go) of the requests the
// worker holds, under its own mutex.
type Worker struct {
	broker  celery.Transport
	backend celery.ResultBackend
	mux     *ServeMux
	o       options

	pool    *pool
	intake  *intake
	sched   *scheduler
	acker   *acker
	defers  *deferrer
	sweeper *sweeper
	pidbox  *pidboxNode // nil without WithPidbox
	heart   *heartbeater

	clock      *events.Clock
	events     *events.Dispatcher
	remoteStop atomic.Pointer[context.CancelFunc] // remote shutdown; set while Run runs

	reg    registry      // the requests the worker holds, revoked ids, counts
	stamps revokedStamps // stamps flagged by revoke_by_stamped_headers (stamps.go)

	processed atomic.Int64
	abandoned atomic.Int64 // handlers abandoned, still running (abandon.go)
	tm        *taskMetrics // nil without WithRegisterer (metrics.go)
	started   time.Time

	canvas *canvas // publishes callbacks, chain steps, chord bodies
	hooks  hooks   // WithHooks

	scaler   *autoscaler   // nil without WithAutoscale (autoscale.go)
	recyc    recycler      // max tasks/memory per child (lifecycle.go)
	cold     chan struct{} // closed by ColdShutdown
	coldOnce sync.Once

	routing *routing // declared queues, broadcast queues (routing.go)
}

// New returns a worker. broker and backend stay owned by the caller. Like
// a Celery app, the worker serves the builtins celery.map and
// celery.starmap: New adds them to mux unless it has them.
func New(broker celery.Transport, backend celery.ResultBackend, mux *ServeMux, opts ...Option) *Worker {
	host, _ := os.Hostname()
	o := options{
		queues:             []string{celery.DefaultQueue},
		prefetchMultiplier: 4,
		hostname:           "celery@" + host,
		logger:             slog.Default(),
		shutdownTimeout:    30 * time.Second,
		storeRetryFor:      time.Minute,
		sweepInterval:      100 * time.Second,
		pidbox:             true,
		heartbeat:          2 * time.Second,
		ackPolicy:          ackPolicy{acksOnFailure: true, acksOnTimeout: true},
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.heartbeat <= 0 {
		o.heartbeat = 2 * time.Second
	}
	if !o.maxMessageSizeSet {
		o.maxMessageSize = DefaultMaxMessageSize
	}
	if o.concurrency <= 0 {
		o.concurrency = max(1, numCPU())
	}
	mux.registerBuiltins()
	mux.registerAccumulate()
	rt := newRouting(&o) // takes the broadcast queues out of o.queues
	w := &Worker{
		routing: rt,
		broker:  broker, backend: backend, mux: mux, o: o,
		reg: registry{
			reserved: map[string]*request{}, active: map[string]*request{},
			revoked: newRevokedSet(50000, 3*time.Hour), total: map[string]int{},
		},
	}
	w.cold = make(chan struct{})
	if o.life.autoscaleMax > 0 {
		// The pool starts at min (at least one goroutine); the prefetch
		// window is sized for max, as Celery's consumer does.
		w.o.concurrency = max(1, min(o.life.autoscaleMin, o.life.autoscaleMax))
		o.concurrency = o.life.autoscaleMax
	}
	w.pool = newPool(w.o.concurrency, w.execute)
	w.sched = newScheduler(w.pool.ready.push)
	w.acker = newAcker(broker, o.logger)
	w.defers = newDeferrer(broker, o.logger)
	w.sweeper = &sweeper{broker: broker, log: o.logger, interval: o.sweepInterval}
	w.intake = newIntake(broker, &o, w.accept)
	w.intake.queued = w.pool.queued
	w.clock = &events.Clock{}
	w.events = events.NewDispatcher(broker, o.hostname, events.WithClock(w.clock),
		events.WithTaskEvents(o.taskEvents), events.WithLogger(o.logger), events.WithSerializer(o.eventSerializer))
	if o.pidbox {
		w.pidbox = &pidboxNode{broker: broker, hostname: o.hostname, log: o.logger, clock: w.clock, dispatch: w.dispatchControl, accept: o.accept}
	}
	w.canvas = &canvas{broker: broker, backend: backend, log: o.logger, store: w.store, signer: o.signer, routes: o.routes}
	w.hooks = hooks{list: o.hooks, w: w}
	w.heart = &heartbeater{events: w.events, interval: o.heartbeat, state: w.workerState}
	if o.life.autoscaleMax > 0 {
		keepalive := o.life.keepalive
		if keepalive <= 0 {
			keepalive = defaultKeepalive
		}
		w.scaler = &autoscaler{pool: w.pool, qty: w.autoscaleQty, log: o.logger, keepalive: keepalive,
			max: o.life.autoscaleMax, min: o.life.autoscaleMin, lastActive: time.Now(),
			window: func(n int) { w.intake.resize(n * w.o.prefetchMultiplier) }}
	}
	w.registerMetrics()
	w.registerTaskMetrics()
	return w
}

// Hostname returns the worker's node name.
func (w *Worker) Hostname() string { return w.o.hostname }

// Concurrency returns the number of pool goroutines.
func (w *Worker) Concurrency() int { return int(w.pool.size.Load()) }

// PrefetchCount returns the prefetch window (0 = unlimited).
func (w *Worker) PrefetchCount() int { return w.intake.prefetch() }

// Queues returns the consumed queues.
func (w *Worker) Queues() []string { return append(w.intake.Queues(), w.routing.names()...) }

// Events returns the worker's event dispatcher.
func (w *Worker) Events() *events.Dispatcher { return w.events }

// Processed returns how many tasks were taken to run since start.
func (w *Worker) Processed() int64 { return w.processed.Load() }

// Run consumes until ctx ends (call it once), then shuts down warm: it stops consuming,
// lets running tasks finish within the shutdown timeout and puts every
// message it holds but has not run back on its queue
// (docs/wire.md#warm-shutdown). At
// the shutdown timeout it cancels the running tasks' contexts; a handler
// that has not returned abandonGrace later is abandoned (left running in
// the background, as at a hard time limit) and, with acks-late, its
// message is restored with the others, as is that of an acks-late task
// that returned a cancellation error. Run then returns: a handler that
// ignores its context cannot hold up the shutdown.
// It returns an error at once if a queue of WithQueues is no valid queue
// name (Broker.ValidateQueue: a key of the transport or the backend).
//
// Start-up order: the pool and the acker, the sweeper, the pidbox node
// (Run waits for its subscription), the heartbeater (worker-online), then
// the intake. Shutdown (shutdownWarm) runs the other way: the intake stops
// first; then the pidbox node and the heartbeater (no remote command can
// start work any more); the scheduler gives back its held requests and
// the pool its queued ones; running tasks finish; the sweeper and the
// acker stop (queued acks sent); queued events are flushed and
// worker-offline sent; held messages are restored last.
func (w *Worker) Run(ctx context.Context) error {
	for _, q := range w.Queues() {
		if err := w.broker.ValidateQueue(q); err != nil { // a key of the transport or the backend
			return fmt.Errorf("worker: %w", err)
		}
	}
	w.started = time.Now()
	// The remote shutdown command cancels ctx too.
	ctx, shutdown := context.WithCancel(ctx)
	defer shutdown()
	w.remoteStop.Store(&shutdown)
	select {
	case <-w.cold: // ColdShutdown came before Run
		shutdown()
	default:
	}
	// Tasks outlive ctx until the shutdown timeout; taskCtx ends then.
	taskCtx, stopTasks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTasks()

	w.pool.start(taskCtx)
	w.acker.start()
	w.defers.start()
	w.sweeper.start(ctx)
	// Remote control and heartbeats run until consuming stops.
	if w.pidbox != nil {
		w.pidbox.start(ctx)
	}
	w.heart.start(context.WithoutCancel(ctx))
	if err := w.declareQueues(ctx); err != nil {
		w.o.logger.Error("could not declare the consumed queues", "error", err)
	}
	w.startBroadcasts(ctx)

	w.skipPaused(ctx)
	rx := w.intake.open(ctx)
	w.o.logger.Info("worker ready", "hostname", w.o.hostname, "queues", w.Queues(), "concurrency", w.Concurrency(), "prefetch", w.PrefetchCount())
	w.hooks.workerReady()
	err := w.intake.run(ctx, rx)
	shutdown() // the broadcast queues stop consuming with the intake
	w.stopBroadcasts()
	w.shutdownWarm(stopTasks)
	w.hooks.workerShutdown()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if err == nil {
		err = w.recycleErr()
	}
	return err
}

// shutdownWarm stops the components once the intake has stopped, in the
// order Run documents; stopTasks cancels the running tasks' context at
// the shutdown timeout.
func (w *Worker) shutdownWarm(stopTasks context.CancelFunc) {
	log := w.o.logger
	if w.pidbox != nil {
		w.pidbox.shutdown()
	}
	w.heart.shutdown()
	if w.scaler != nil {
		w.scaler.shutdown()
	}
	w.pool.seal() // the pool is about to stop: no pool_grow any more

	log.Info("warm shutdown: waiting for running tasks", "hostname", w.o.hostname)
	// Reserved requests that no pool goroutine has started are given back,
	// not run: Celery's pool drops its outbound buffer on shutdown and the
	// messages are restored (they are still unacknowledged).
	held := w.sched.shutdown()
	held = append(held, w.pool.ready.drain()...)
	finished := w.pool.shutdown()
	timeout := time.NewTimer(w.o.shutdownTimeout)
	defer timeout.Stop()
	select {
	case <-finished:
	case <-timeout.C:
		// Cancel the running tasks; a handler that does not return within
		// abandonGrace of that is abandoned (execute), so this wait is
		// bounded even when a handler ignores its context.
		log.Warn("shutdown timeout: cancelling running tasks", "timeout", w.o.shutdownTimeout)
		stopTasks()
		<-finished
	case <-w.cold:
		// Cold shutdown (Celery 5.5's soft shutdown when a timeout is
		// set): the running tasks get the soft timeout, then are cancelled.
		log.Warn("cold shutdown: running tasks have the soft shutdown timeout to finish", "soft_shutdown_timeout", w.o.life.soft)
		soft := time.NewTimer(w.o.life.soft)
		defer soft.Stop()
		select {
		case <-finished:
		case <-soft.C:
			log.Warn("soft shutdown timeout: cancelling running tasks (acks-late ones go back to their queue)")
			stopTasks()
			<-finished
		}
	}
	held = append(held, w.abandonedAtShutdown(log)...)
	w.sweeper.shutdown()
	w.acker.shutdown()
	w.defers.shutdown()
	held = append(held, w.pool.ready.drain()...)
	octx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := w.heart.offline(octx); err != nil {
		log.Warn("could not send worker-offline", "error", err)
	}
	cancel()
	w.restore(held)
	w.events.Close()
}
