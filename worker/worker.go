package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/internal/rconn"
	"github.com/prometheus/client_golang/prometheus"
)

// Worker consumes task messages from Redis queues and runs them with the
// handlers of a ServeMux, storing results where Python clients read them.
type Worker struct {
	broker  celery.Transport
	backend celery.ResultBackend
	mux     *ServeMux
	o       options

	ready readyQueue
	slots *window               // prefetch window; nil = unlimited
	acks  chan *celery.Delivery // for ackLoop

	conc   atomic.Int64  // current pool size (pool_grow/pool_shrink)
	quit   chan struct{} // one token per pool goroutine to retire
	growMu sync.Mutex
	grow   func(n int) // starts n pool goroutines; set while Run runs

	queueMu   sync.Mutex
	queues    []string        // consumed queues (add_consumer/cancel_consumer)
	queuesCh  chan struct{}   // signalled when queues change
	queueAcks []chan struct{} // closed once the consumer applied a change

	clock    *events.Clock
	events   *events.Dispatcher
	shutdown context.CancelFunc // remote shutdown; set while Run runs

	mu       sync.Mutex
	reserved map[string]*request // by delivery tag: taken, not running
	active   map[string]*request // by delivery tag: running
	revoked  *revokedSet
	total    map[string]int
	seq      uint64

	processed atomic.Int64
	abandoned atomic.Int64 // handlers abandoned, still running (abandon.go)
	tm        *taskMetrics // nil without WithRegisterer (metrics.go)
	started   time.Time

	// givenUp are the requests given up at the shutdown timeout, whose
	// messages Run restores (guarded by mu).
	givenUp []*request

	canvasOnce sync.Once
	canvas     *celery.Client // publishes callbacks, chain steps, chord bodies
}

type options struct {
	queues             []string
	concurrency        int
	prefetchMultiplier int
	acksLate           bool
	trackStarted       bool
	hostname           string
	logger             *slog.Logger
	shutdownTimeout    time.Duration
	storeRetryFor      time.Duration // how long a refused final result is retried
	timeLimit          time.Duration
	softTimeLimit      time.Duration
	resultExtended     bool
	sweepInterval      time.Duration
	disableRateLimits  bool
	taskEvents         bool
	pidbox             bool
	heartbeat          time.Duration
	brokerURL          string
	backendURL         string
	registerer         prometheus.Registerer
	maxMessageSize     int
	maxMessageSizeSet  bool
}

// Option configures a Worker.
type Option func(*options)

// WithQueues sets the consumed queues (-Q). Default ["celery"].
func WithQueues(q ...string) Option { return func(o *options) { o.queues = q } }

// WithConcurrency sets how many tasks run at once (-c). Default: CPU count.
func WithConcurrency(n int) Option { return func(o *options) { o.concurrency = n } }

// WithPrefetchMultiplier sets worker_prefetch_multiplier: at most
// concurrency × m messages are taken and not yet acknowledged, besides
// ETA tasks. Default 4; 0 means unlimited.
func WithPrefetchMultiplier(m int) Option { return func(o *options) { o.prefetchMultiplier = m } }

// WithAcksLate acknowledges messages after their task ran (task_acks_late).
func WithAcksLate(on bool) Option { return func(o *options) { o.acksLate = on } }

// WithTrackStarted stores a STARTED state before running (task_track_started).
func WithTrackStarted(on bool) Option { return func(o *options) { o.trackStarted = on } }

// WithHostname sets the node name. Default "celery@<host>".
func WithHostname(name string) Option { return func(o *options) { o.hostname = name } }

// WithLogger sets the logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithShutdownTimeout bounds how long a warm shutdown waits for running
// tasks. Default 30 s.
func WithShutdownTimeout(d time.Duration) Option { return func(o *options) { o.shutdownTimeout = d } }

// WithTimeLimits sets the default hard and soft time limits of every task
// (task_time_limit, task_soft_time_limit). Default none.
func WithTimeLimits(hard, soft time.Duration) Option {
	return func(o *options) { o.timeLimit, o.softTimeLimit = hard, soft }
}

// WithResultExtended stores name, args, kwargs, worker, retries and queue
// with results (result_extended). Default on.
func WithResultExtended(on bool) Option { return func(o *options) { o.resultExtended = on } }

// WithSweepInterval sets how often the visibility-timeout restore sweep
// runs. Default 100 s (kombu's 10 s timer × throttle 10); 0 disables it.
func WithSweepInterval(d time.Duration) Option { return func(o *options) { o.sweepInterval = d } }

// WithoutRateLimits ignores task rate limits (worker_disable_rate_limits).
func WithoutRateLimits() Option { return func(o *options) { o.disableRateLimits = true } }

// WithEvents turns task events on (-E; worker_send_task_events). Worker
// events (online, heartbeat, offline) are sent either way, as a Python
// worker does; enable_events/disable_events switch task events at run
// time. Default off.
func WithEvents(on bool) Option { return func(o *options) { o.taskEvents = on } }

// WithPidbox turns the remote-control node on or off (off is celery's
// --without-control, roughly). Default on.
func WithPidbox(on bool) Option { return func(o *options) { o.pidbox = on } }

// WithHeartbeatInterval sets how often worker-heartbeat is sent (its freq
// field). Default 2 s, as Celery; 0 or less keeps the default.
func WithHeartbeatInterval(d time.Duration) Option { return func(o *options) { o.heartbeat = d } }

// WithBrokerURL tells the worker the broker (and result backend) URLs it
// uses, for the stats and conf remote-control replies; passwords are
// removed. Default: unknown, reported as localhost:6379.
func WithBrokerURL(broker, backend string) Option {
	return func(o *options) { o.brokerURL, o.backendURL = broker, backend }
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
		resultExtended:     true,
		sweepInterval:      100 * time.Second,
		pidbox:             true,
		heartbeat:          2 * time.Second,
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
	w := &Worker{
		broker: broker, backend: backend, mux: mux, o: o,
		reserved: map[string]*request{}, active: map[string]*request{},
		revoked: newRevokedSet(50000, 3*time.Hour), total: map[string]int{},
	}
	w.ready.notify = make(chan struct{}, 1)
	w.acks = make(chan *celery.Delivery, 4096)
	if o.prefetchMultiplier > 0 {
		w.slots = newWindow(o.concurrency * o.prefetchMultiplier)
	}
	w.conc.Store(int64(o.concurrency))
	w.quit = make(chan struct{}, 1<<16)
	w.queues = append([]string(nil), o.queues...)
	w.queuesCh = make(chan struct{}, 1)
	w.clock = &events.Clock{}
	w.events = events.NewDispatcher(broker, o.hostname, events.WithClock(w.clock),
		events.WithTaskEvents(o.taskEvents), events.WithLogger(o.logger))
	w.registerMetrics()
	w.registerTaskMetrics()
	return w
}

// Hostname returns the worker's node name.
func (w *Worker) Hostname() string { return w.o.hostname }

// Concurrency returns the number of pool goroutines.
func (w *Worker) Concurrency() int { return int(w.conc.Load()) }

// PrefetchCount returns the prefetch window (0 = unlimited).
func (w *Worker) PrefetchCount() int {
	if w.slots == nil {
		return 0
	}
	return w.slots.size()
}

// Queues returns the consumed queues.
func (w *Worker) Queues() []string {
	w.queueMu.Lock()
	defer w.queueMu.Unlock()
	return append([]string(nil), w.queues...)
}

// Events returns the worker's event dispatcher.
func (w *Worker) Events() *events.Dispatcher { return w.events }

// Processed returns how many tasks were taken to run since start.
func (w *Worker) Processed() int64 { return w.processed.Load() }

// Revoke marks task ids as revoked: they are discarded when they arrive or
// come due, with a REVOKED result.
func (w *Worker) Revoke(ids ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		w.revoked.add(id, time.Now())
	}
}

// request is one delivery on its way through the worker.
type request struct {
	d        *celery.Delivery
	msg      *celery.Message
	entry    *entry
	handler  Handler
	timer    *time.Timer // ETA or rate-limit hold
	started  time.Time
	cancel   context.CancelCauseFunc
	hasSlot  bool
	acked    bool
	isActive bool
	killed   bool
	unsaved  bool          // its final result or retry could not be stored
	kill     chan struct{} // closed by revoke(terminate=True)
	signum   int
	seq      uint64 // arrival order, for inspect listings
}

func (r *request) acksLate(w *Worker) bool {
	if r.entry != nil && r.entry.opts.AcksLate != nil {
		return *r.entry.opts.AcksLate
	}
	return w.o.acksLate
}

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
// Start-up order: pool goroutines and the acker, the restore sweep, the
// pidbox node, worker-online and the heartbeat timer, then consuming.
// Shutdown reverses it: consuming stops first; then the pidbox node and
// the heartbeat stop (no remote command can start work any more); running
// tasks finish; queued events are flushed and worker-offline sent; held
// messages are restored last.
func (w *Worker) Run(ctx context.Context) error {
	for _, q := range w.Queues() {
		if err := w.broker.ValidateQueue(q); err != nil { // a key of the transport or the backend
			return fmt.Errorf("worker: %w", err)
		}
	}
	w.started = time.Now()
	log := w.o.logger
	// The remote shutdown command cancels ctx too.
	ctx, shutdown := context.WithCancel(ctx)
	defer shutdown()
	w.growMu.Lock()
	w.shutdown = shutdown
	w.growMu.Unlock()
	// Tasks outlive ctx until the shutdown timeout; taskCtx ends then.
	taskCtx, stopTasks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTasks()

	var pool sync.WaitGroup
	stopPool := make(chan struct{})
	w.growMu.Lock()
	w.grow = func(n int) {
		for range n {
			pool.Go(func() { w.poolLoop(taskCtx, stopPool) })
		}
	}
	w.grow(w.Concurrency())
	w.growMu.Unlock()
	var acker sync.WaitGroup
	acker.Go(w.ackLoop)
	var bg sync.WaitGroup
	if w.o.sweepInterval > 0 {
		bg.Go(func() { w.sweepLoop(ctx) })
	}
	// Remote control and heartbeats run until consuming stops.
	ctlCtx, stopCtl := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCtl()
	var ctl sync.WaitGroup
	if w.o.pidbox {
		ready := make(chan struct{})
		ctl.Go(func() { w.pidboxLoop(ctlCtx, ready) })
		select { // so a broadcast right after start-up is heard
		case <-ready:
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
		}
	}
	w.events.Emit(&events.WorkerOnlineEvent{WorkerState: w.workerState()})
	ctl.Go(func() { w.heartbeatLoop(ctlCtx) })

	log.Info("worker ready", "hostname", w.o.hostname, "queues", w.Queues(), "concurrency", w.Concurrency(), "prefetch", w.PrefetchCount())
	consumer := w.broker.Consume(w.Queues()...)
	consumer.SetMaxMessageSize(w.o.maxMessageSize)
	err := w.consume(ctx, consumer)
	consumer.Close()
	stopCtl()
	ctl.Wait()
	w.growMu.Lock()
	w.grow = nil // the pool is about to stop: no pool_grow any more
	w.growMu.Unlock()

	log.Info("warm shutdown: waiting for running tasks", "hostname", w.o.hostname)
	// Reserved requests that no pool goroutine has started are given back,
	// not run: Celery's pool drops its outbound buffer on shutdown and the
	// messages are restored (they are still unacknowledged).
	held := w.releaseHeld()
	held = append(held, w.ready.drain()...)
	close(stopPool)
	finished := make(chan struct{})
	go func() { pool.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(w.o.shutdownTimeout):
		// Cancel the running tasks; a handler that does not return within
		// abandonGrace of that is abandoned (execute), so this wait is
		// bounded even when a handler ignores its context.
		log.Warn("shutdown timeout: cancelling running tasks", "timeout", w.o.shutdownTimeout)
		stopTasks()
		<-finished
	}
	held = append(held, w.abandonedAtShutdown(log)...)
	bg.Wait()
	close(w.acks)
	acker.Wait()
	held = append(held, w.ready.drain()...)
	w.events.Flush()
	octx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := w.events.EmitNow(octx, &events.WorkerOfflineEvent{WorkerState: w.workerState()}); err != nil {
		log.Warn("could not send worker-offline", "error", err)
	}
	cancel()
	w.restore(held)
	w.events.Close()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	return err
}

// unlimitedBatch bounds one fetch when prefetch is unlimited.
const unlimitedBatch = 256

func (w *Worker) consume(ctx context.Context, c celery.Receiver) error {
	// A queue change (add_consumer/cancel_consumer) cancels the fetch in
	// progress and wakes its BRPOP (Consumer.Wake), which returns at once
	// without losing a message; the new queue set applies to the next fetch.
	var (
		fetchMu     sync.Mutex
		cancelFetch context.CancelFunc
		changed     atomic.Bool
	)
	changedCh := make(chan struct{}, 1)
	stopWatch := make(chan struct{})
	var watcher sync.WaitGroup
	// wake ends a BRPOP in progress at once instead of at its poll timeout.
	wake := func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if err := c.Wake(wctx); err != nil {
			w.o.logger.Debug("could not wake the consumer; it notices at the poll timeout", "error", err)
		}
	}
	watcher.Go(func() {
		done := ctx.Done()
		for {
			select {
			case <-w.queuesCh:
				changed.Store(true)
				select {
				case changedCh <- struct{}{}:
				default:
				}
				fetchMu.Lock()
				fetching := cancelFetch != nil
				if fetching {
					cancelFetch()
				}
				fetchMu.Unlock()
				if fetching {
					wake()
				}
			case <-done: // shutdown: end the fetch now
				done = nil
				wake()
			case <-stopWatch:
				return
			}
		}
	})
	defer func() { close(stopWatch); watcher.Wait() }()
	for {
		if changed.Swap(false) {
			c.SetQueues(w.Queues())
			w.queuesApplied()
		}
		if len(c.Queues()) == 0 { // nothing to consume: wait for a queue
			select {
			case <-changedCh:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		n := w.acquireSlots(ctx)
		if n == 0 {
			return ctx.Err()
		}
		fctx, cancel := context.WithCancel(ctx)
		fetchMu.Lock()
		cancelFetch = cancel
		fetchMu.Unlock()
		if changed.Load() {
			cancel()
		}
		ds, err := c.ReceiveBatch(fctx, n)
		fetchMu.Lock()
		cancelFetch = nil
		fetchMu.Unlock()
		cancel()
		for range n - len(ds) {
			w.releaseSlot()
		}
		if err != nil {
			if ctx.Err() == nil && fctx.Err() != nil {
				continue // queues changed
			}
			return err
		}
		for _, d := range ds {
			w.accept(ctx, d)
		}
	}
}

// acquireSlots waits for one free slot of the prefetch window and takes
// every other free one too: a fetch may bring that many messages. It
// returns 0 when ctx ended.
func (w *Worker) acquireSlots(ctx context.Context) int {
	if w.slots == nil {
		return unlimitedBatch
	}
	if !w.slots.acquire(ctx.Done()) {
		return 0
	}
	n := 1
	for w.slots.tryAcquire() {
		n++
	}
	return n
}

func (w *Worker) releaseSlot() {
	if w.slots != nil {
		w.slots.release()
	}
}

// accept routes one delivery: reject it, revoke it, hold it for its ETA or
// rate limit, or queue it for the pool (docs/wire.md#receive-path).
func (w *Worker) accept(ctx context.Context, d *celery.Delivery) {
	log := w.o.logger
	if d.Err != nil {
		w.reject(ctx, d, d.Err)
		return
	}
	msg, err := d.Decode()
	if err != nil {
		w.reject(ctx, d, err)
		return
	}
	r := &request{d: d, msg: msg, hasSlot: w.slots != nil, kill: make(chan struct{})}
	r.entry, r.handler = w.mux.lookup(msg.Task)
	w.tm.received(r)
	if r.entry == nil {
		log.Error("received unregistered task", "task", msg.Task, "task_id", msg.ID, "queue", d.Queue)
		w.ack(ctx, d)
		w.storeFailure(ctx, r, celery.Exception("NotRegistered", celeryExc, msg.Task), "")
		w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: "NotRegistered(" + pyjson.PyRepr(msg.Task) + ")"})
		w.done(r)
		return
	}
	if log.Enabled(ctx, slog.LevelInfo) { // skip building the line when off
		log.Info("Task "+msg.Name()+"["+msg.ID+"] received", "task_id", msg.ID, "task", msg.Task)
	}
	if w.maybeRevoke(ctx, r) {
		return
	}
	w.sendReceived(r)
	w.mu.Lock()
	w.seq++
	r.seq = w.seq
	w.reserved[d.Tag] = r
	w.mu.Unlock()
	now := time.Now()
	at := msg.ETA
	if at.After(now) {
		// ETA tasks don't count against the prefetch window (Celery raises
		// the prefetch count by one for each held ETA task).
		w.giveBackSlot(r)
	}
	if l := w.limiterFor(r); l != nil {
		at = l.reserve(maxTime(at, now))
	}
	if at.After(now) {
		w.mu.Lock()
		r.timer = time.AfterFunc(at.Sub(now), func() { w.due(r) })
		w.mu.Unlock()
		return
	}
	w.ready.push(r)
}

func (w *Worker) giveBackSlot(r *request) {
	if r.hasSlot {
		r.hasSlot = false
		w.releaseSlot()
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (w *Worker) limiterFor(r *request) *limiter {
	if w.o.disableRateLimits {
		return nil
	}
	w.mux.mu.RLock()
	defer w.mux.mu.RUnlock()
	return r.entry.limiter
}

// due moves a held request to the pool queue, unless shutdown took it.
func (w *Worker) due(r *request) {
	w.mu.Lock()
	held := r.timer != nil
	r.timer = nil
	w.mu.Unlock()
	if held {
		w.ready.push(r)
	}
}

// releaseHeld stops every ETA/rate-limit timer and returns those requests.
func (w *Worker) releaseHeld() []*request {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*request
	for _, r := range w.reserved {
		if r.timer != nil && r.timer.Stop() {
			r.timer = nil
			out = append(out, r)
		}
	}
	return out
}

// restore puts messages the worker holds but never ran back on their
// queues, first-taken first out.
func (w *Worker) restore(rs []*request) {
	if len(rs) == 0 {
		return
	}
	// First taken, first restored: ETA-held requests come from a map.
	slices.SortStableFunc(rs, func(a, b *request) int { return cmp.Compare(a.seq, b.seq) })
	ds := make([]*celery.Delivery, 0, len(rs))
	for _, r := range rs {
		ds = append(ds, r.d)
		w.forget(r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Requeue confirms each record before it restores the message; a
	// message whose record failed is back on its queue already.
	n, err := w.broker.Requeue(ctx, ds...)
	if err != nil {
		w.o.logger.Error("could not restore all unacknowledged messages; the visibility sweep will", "error", err)
	}
	w.o.logger.Info("restored unacknowledged messages", "count", n)
}

// giveUpAtShutdown records a running request given up at the shutdown
// timeout; Run restores its message (abandonedAtShutdown).
func (w *Worker) giveUpAtShutdown(r *request) {
	w.mu.Lock()
	w.givenUp = append(w.givenUp, r)
	w.mu.Unlock()
}

// abandonedAtShutdown logs the requests given up at the shutdown timeout
// and returns those whose message is still unacknowledged (acks-late),
// to be restored. An early-acknowledged one is not restored: it was
// acknowledged before it ran (at most once), as a crash would lose it.
func (w *Worker) abandonedAtShutdown(log *slog.Logger) []*request {
	w.mu.Lock()
	rs := w.givenUp
	w.givenUp = nil
	w.mu.Unlock()
	if len(rs) == 0 {
		return nil
	}
	var restore []*request
	var restored, lost []string
	for _, r := range rs {
		w.mu.Lock()
		acked := r.acked
		w.mu.Unlock()
		if acked {
			lost = append(lost, r.msg.ID)
			w.forget(r)
			continue
		}
		restored = append(restored, r.msg.ID)
		restore = append(restore, r)
	}
	log.Warn("shutdown timeout: gave up on running tasks; unacknowledged ones go back to their queues",
		"restored_task_ids", restored, "early_acked_not_restored_task_ids", lost)
	return restore
}

func (w *Worker) forget(r *request) {
	w.mu.Lock()
	delete(w.reserved, r.d.Tag)
	delete(w.active, r.d.Tag)
	w.mu.Unlock()
}

// done releases a request's resources after it was acked or rejected.
func (w *Worker) done(r *request) {
	w.forget(r)
	w.giveBackSlot(r)
}

func (w *Worker) poolLoop(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-stop: // shutting down: start nothing new
			return
		case <-w.quit: // pool_shrink
			return
		default:
		}
		if r := w.ready.pop(); r != nil {
			w.execute(ctx, r)
			continue
		}
		select {
		case <-w.ready.notify:
		case <-stop:
			return
		case <-w.quit:
			w.ready.wake() // pass on a token this goroutine may have eaten
			return
		}
	}
}

// ack hands a delivery's acknowledgement to the acker, which sends acks in
// batches. An early ack may thus reach Redis just after its task started,
// as in Celery, whose main process acks while the pool child already runs
// the task.
func (w *Worker) ack(_ context.Context, d *celery.Delivery) {
	if d.Tracked {
		w.acks <- d
	}
}

// ackLoop sends queued acknowledgements, as many per round trip as have
// queued up meanwhile, until acks is closed and drained.
func (w *Worker) ackLoop() {
	const maxBatch = 512
	batch := make([]*celery.Delivery, 0, maxBatch)
	for d := range w.acks {
		batch = append(batch[:0], d)
	more:
		for len(batch) < maxBatch {
			select {
			case d, ok := <-w.acks:
				if !ok {
					break more
				}
				batch = append(batch, d)
			default:
				break more
			}
		}
		// Not cancellable, so no goroutine per round trip (rconn.Do); the
		// connection's read timeout bounds it. Ack keeps each ack behind
		// its delivery's record in unacked.
		if err := w.broker.Ack(context.Background(), batch...); err != nil && !errors.Is(err, celery.ErrNotRecorded) {
			w.o.logger.Error("ack failed; the messages may run again after the visibility timeout", "count", len(batch), "delivery_tag", batch[0].Tag, "error", err)
		}
		clear(batch)
	}
}

// maybeRevoke handles expired and revoked requests; it reports whether the
// request was consumed.
func (w *Worker) maybeRevoke(ctx context.Context, r *request) bool {
	reason := ""
	w.mu.Lock()
	if w.revoked.has(r.msg.ID) {
		reason = "revoked"
	}
	w.mu.Unlock()
	if reason == "" && !r.msg.Expires.IsZero() && time.Now().After(r.msg.Expires) {
		reason = "expired"
		w.Revoke(r.msg.ID)
	}
	if reason == "" {
		return false
	}
	w.o.logger.Info("Discarding revoked task: "+r.msg.Name()+"["+r.msg.ID+"]", "task_id", r.msg.ID, "reason", reason)
	w.tm.revoked(r)
	w.ack(ctx, r.d)
	w.events.Emit(&events.TaskRevokedEvent{UUID: r.msg.ID, Expired: reason == "expired"})
	meta := w.meta(&Task{Message: r.msg, Queue: r.d.Queue}, celery.StateRevoked, celery.Exception("TaskRevokedError", celeryExc, reason))
	if _, err := w.backend.Store(context.WithoutCancel(ctx), meta); err != nil {
		w.o.logger.Error("could not store result", "task_id", r.msg.ID, "error", err)
	}
	w.chordMember(ctx, r.msg, celery.StateRevoked, meta.Result)
	w.done(r)
	return true
}

type outcome struct {
	result any
	err    error
	panic  string
}

func (w *Worker) execute(ctx context.Context, r *request) {
	msg := r.msg
	// Never run a task whose delivery is not recorded in unacked: Redis
	// refused the record (at maxmemory, say) and the consumer gives the
	// message back to its queue (Delivery.Settle).
	if err := r.d.Settle(); err != nil {
		w.o.logger.Info("Task "+msg.Name()+"["+msg.ID+"] not run: its delivery could not be recorded, and it goes back to its queue", "task_id", msg.ID, "error", err)
		w.done(r)
		return
	}
	if w.maybeRevoke(ctx, r) {
		return
	}
	w.mu.Lock()
	delete(w.reserved, r.d.Tag)
	w.active[r.d.Tag] = r
	r.isActive = true
	w.total[msg.Task]++
	w.mu.Unlock()
	w.processed.Add(1)
	lateAck := r.acksLate(w)
	if !lateAck {
		w.mu.Lock()
		r.acked = true
		w.mu.Unlock()
		w.ack(ctx, r.d)
		// Acknowledged: it no longer counts against the prefetch window
		// (kombu's QoS counts unacked deliveries).
		w.giveBackSlot(r)
	}
	t := &Task{Message: msg, Queue: r.d.Queue, Hostname: w.o.hostname, Received: time.Now(), w: w, entry: r.entry}
	if w.trackStarted(r) && !w.ignoreResult(r) {
		w.store(ctx, w.meta(t, celery.StateStarted, map[string]any{"pid": os.Getpid(), "hostname": w.o.hostname}))
	}
	hard, soft := msg.Hard, msg.Soft
	if hard == 0 && soft == 0 {
		w.mux.mu.RLock()
		hard, soft = r.entry.opts.TimeLimit, r.entry.opts.SoftTimeLimit
		w.mux.mu.RUnlock()
		if hard == 0 && soft == 0 {
			hard, soft = w.o.timeLimit, w.o.softTimeLimit
		}
	}
	tctx, cancel := context.WithCancelCause(context.WithValue(ctx, ctxKey{}, t))
	defer cancel(nil)
	if soft > 0 {
		var stop context.CancelFunc
		tctx, stop = context.WithTimeoutCause(tctx, soft, errSoftTimeLimit)
		defer stop()
	}
	start := time.Now()
	w.mu.Lock()
	r.cancel = cancel
	r.started = start
	w.mu.Unlock()
	w.events.Emit(&events.TaskStartedEvent{UUID: msg.ID}) // Header.PID: this process

	done := make(chan outcome, 1)
	run := &handlerRun{}
	go func() {
		defer run.finished(w, msg.Task, msg.ID)
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{panic: fmt.Sprintf("panic: %v\n\n%s", p, debug.Stack())}
			}
		}()
		res, err := r.handler.ProcessTask(tctx, t)
		done <- outcome{result: res, err: err}
	}()
	var hardC <-chan time.Time
	if hard > 0 {
		ht := time.NewTimer(hard)
		defer ht.Stop()
		hardC = ht.C
	}
	var o outcome
	select {
	case <-r.kill:
		// terminate cancelled the context first: a handler that obeys it
		// returns at once and is not reported as abandoned.
		select {
		case o = <-done:
		case <-time.After(abandonGrace):
			run.abandon(w, msg.Task, msg.ID, "terminated")
		}
	case o = <-done:
	case <-ctx.Done():
		// The shutdown timeout passed and cancelled tctx with ctx: a
		// handler that obeys it returns at once.
		select {
		case o = <-done:
		case <-time.After(abandonGrace):
			run.abandon(w, msg.Task, msg.ID, "shutdown timeout")
			w.giveUpAtShutdown(r)
			return
		}
	case <-hardC:
		run.abandon(w, msg.Task, msg.ID, "hard time limit")
		// Go cannot kill a goroutine: the handler is abandoned (its
		// context is cancelled) and its slot freed, as Celery frees a
		// killed child's.
		cancel(errors.New("hard time limit"))
		o = outcome{err: &PyError{Type: "TimeLimitExceeded", Module: billiardExc, Args: []any{limitArg(hard)}}}
		w.o.logger.Error("hard time limit exceeded", "task", msg.Task, "task_id", msg.ID, "limit", hard)
	}
	// revoke(terminate=True): the context is cancelled with errTerminated
	// and the handler abandoned at once, as Celery kills the pool process
	// (Go cannot kill a goroutine; a handler that ignores ctx runs on in the
	// background until it returns). The cause is checked, not only the kill
	// channel: terminate cancels first, so a handler that obeys its context
	// can return before the channel is closed.
	killed := errors.Is(context.Cause(tctx), errTerminated)
	select {
	case <-r.kill:
		killed = true
	default:
	}
	if killed {
		w.terminated(ctx, r, t)
		if lateAck {
			w.ack(ctx, r.d)
		}
		w.done(r)
		return
	}
	if ctx.Err() != nil && lateAck && o.err != nil && errors.Is(o.err, context.Canceled) {
		// Cancelled by the shutdown timeout: an acks-late message goes
		// back to its queue rather than failing, as Celery's cold shutdown
		// leaves it to the broker's redelivery.
		w.giveUpAtShutdown(r)
		return
	}
	runtime := time.Since(start)
	if o.err != nil && soft > 0 && errors.Is(context.Cause(tctx), errSoftTimeLimit) && errors.Is(o.err, context.DeadlineExceeded) {
		o.err = errSoftTimeLimit
	}
	w.finish(ctx, r, t, o, runtime)
	if lateAck {
		if r.unsaved {
			w.giveBack(r)
		} else {
			w.ack(ctx, r.d)
		}
	}
	w.done(r)
}

// giveBack puts the message of a late-acknowledged task whose outcome
// could not be stored (a result, or the retry message) back on its queue
// instead of acknowledging it: the task runs again rather than its
// outcome being lost. If even that fails, the message stays in unacked
// and the visibility sweep restores it.
func (w *Worker) giveBack(r *request) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := w.o.logger
	if err := w.broker.Reject(ctx, r.d, true); err != nil {
		log.Error("Task "+r.msg.Name()+"["+r.msg.ID+"] outcome not stored and message not requeued; it stays unacknowledged and runs again after the visibility timeout", "task_id", r.msg.ID, "error", err)
		return
	}
	log.Warn("Task "+r.msg.Name()+"["+r.msg.ID+"] outcome could not be stored: message requeued, not acknowledged, to run again", "task_id", r.msg.ID)
}

func (w *Worker) trackStarted(r *request) bool {
	if r.entry.opts.TrackStarted != nil {
		return *r.entry.opts.TrackStarted
	}
	return w.o.trackStarted
}

func (w *Worker) ignoreResult(r *request) bool {
	return r.msg.IgnoreResult || r.entry.opts.IgnoreResult
}

func (w *Worker) finish(ctx context.Context, r *request, t *Task, o outcome, runtime time.Duration) {
	w.tm.observe(r, runtime)
	msg := r.msg
	log := w.o.logger
	name := "Task " + msg.Name() + "[" + msg.ID + "]"
	if o.panic != "" {
		log.Error(name+" raised unexpected: panic", "task_id", msg.ID, "traceback", o.panic)
		exc := celery.Exception("PanicError", "celeriac", firstLine(o.panic))
		w.storeFailure(ctx, r, exc, o.panic)
		w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: excRepr(exc), Traceback: o.panic})
		return
	}
	if o.err == nil {
		// Celery's order: callbacks are applied before the result is
		// stored (so that its children are known), the event and the log
		// line come after. Waiting clients see the result first; the
		// event's repr and round trip are not in their way.
		w.onSuccess(ctx, msg, o.result)
		if !w.ignoreResult(r) && w.store(ctx, w.meta(t, celery.StateSuccess, o.result)) != nil {
			r.unsaved = true
		}
		w.chordMember(ctx, msg, celery.StateSuccess, o.result)
		w.tm.succeeded(r)
		if w.events.TaskEvents() { // the repr is a real cost per task; skip it when the event is dropped
			w.events.Emit(&events.TaskSucceededEvent{UUID: msg.ID, Result: pyjson.SafeRepr(o.result, 1024, 3), Runtime: runtime.Seconds()})
		}
		if log.Enabled(ctx, slog.LevelInfo) {
			log.Info(name+" succeeded in "+strconv.FormatFloat(runtime.Seconds(), 'f', -1, 64)+"s: "+pyjson.Truncate(pyjson.PyRepr(o.result), 1024), "task_id", msg.ID, "runtime", runtime)
		}
		return
	}
	var re *RetryError
	if errors.As(o.err, &re) {
		w.retry(ctx, r, t, re)
		return
	}
	if match := r.entry.opts.AutoRetryFor; match != nil && match(o.err) {
		w.retry(ctx, r, t, &RetryError{Err: o.err, Countdown: w.autoRetryDelay(r)})
		return
	}
	exc, tb := excInfo(o.err, msg)
	log.Error(name+" raised unexpected: "+excString(exc), "task_id", msg.ID)
	w.storeFailure(ctx, r, exc, tb)
	w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: excRepr(exc), Traceback: tb})
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

func (w *Worker) autoRetryDelay(r *request) time.Duration {
	o := r.entry.opts
	if o.RetryBackoff <= 0 {
		return -1
	}
	maxD := o.RetryBackoffMax
	if maxD <= 0 {
		maxD = 600 * time.Second
	}
	d := o.RetryBackoff
	for i := 0; i < r.msg.Retries && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	if o.RetryJitter == nil || *o.RetryJitter {
		d = rand.N(d + 1)
	}
	return d
}

// excInfo turns an error into Celery's exception dict and a traceback text.
func excInfo(err error, msg *celery.Message) (map[string]any, string) {
	var pe *PyError
	var exc map[string]any
	if errors.As(err, &pe) {
		exc = celery.Exception(pe.Type, pe.Module, pe.Args...)
	} else {
		exc = celery.Exception("Exception", "builtins", err.Error())
	}
	tb := "Traceback (most recent call last):\n  File \"<go>\", in " + msg.Task + "\n" + excString(exc) + "\n"
	return exc, tb
}

func excString(exc map[string]any) string {
	t, _ := exc["exc_type"].(string)
	args, _ := exc["exc_message"].([]any)
	switch len(args) {
	case 0:
		return t
	case 1:
		if s, ok := args[0].(string); ok {
			return t + ": " + s
		}
		return t + ": " + pyjson.PyRepr(args[0])
	}
	return t + ": " + pyjson.ArgsRepr(args)
}

func (w *Worker) retry(ctx context.Context, r *request, t *Task, re *RetryError) {
	msg := r.msg
	log := w.o.logger
	maxRetries := 3
	if mr := r.entry.opts.MaxRetries; mr != nil {
		maxRetries = *mr
	}
	if re.MaxRetries != nil {
		maxRetries = *re.MaxRetries
	}
	if maxRetries >= 0 && msg.Retries >= maxRetries {
		var exc map[string]any
		tb := ""
		if re.Err != nil {
			exc, tb = excInfo(re.Err, msg)
		} else {
			exc = celery.Exception("MaxRetriesExceededError", celeryExc,
				fmt.Sprintf("Can't retry %s[%s] args:%s kwargs:%s", msg.Task, msg.ID, pyjson.ArgsRepr(msg.Args), pyjson.KwargsRepr(msg.Kwargs)))
		}
		log.Error("Task "+msg.Name()+"["+msg.ID+"] max retries exceeded: "+excString(exc), "task_id", msg.ID, "retries", msg.Retries)
		w.storeFailure(ctx, r, exc, tb)
		w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: excRepr(exc), Traceback: tb})
		return
	}
	countdown := re.Countdown
	if countdown < 0 {
		countdown = r.entry.opts.DefaultRetryDelay
		if countdown <= 0 {
			countdown = 180 * time.Second
		}
	}
	next := *msg
	next.Retries++
	next.ParentID = msg.ID // Celery sends retries from inside the task.
	next.ETA = re.ETA
	if next.ETA.IsZero() {
		next.ETA = time.Now().Add(countdown)
	}
	if re.Args != nil {
		next.Args, next.ArgsRepr = re.Args, ""
	}
	if re.Kwargs != nil {
		next.Kwargs, next.KwargsRepr = re.Kwargs, ""
	}
	next.Redelivered = false
	next.Properties.DeliveryTag = newTag()
	next.Properties.DeliveryInfo = celery.DeliveryInfo{Exchange: r.d.Exchange, RoutingKey: r.d.RoutingKey}
	body, err := celery.EncodeMessage(&next)
	if err == nil {
		err = w.broker.PublishOne(context.WithoutCancel(ctx), celery.Publishing{Queue: r.d.Queue, Priority: r.d.Priority, Body: body})
	}
	if err != nil {
		log.Error("could not publish retry; failing the task", "task_id", msg.ID, "error", err)
		exc, tb := excInfo(err, msg)
		w.storeFailure(ctx, r, exc, tb)
		return
	}
	var exc any
	tb := ""
	if re.Err != nil {
		exc, tb = excInfo(re.Err, msg)
	}
	log.Info("Task "+msg.Name()+"["+msg.ID+"] retry: Retry in "+countdown.String(), "task_id", msg.ID, "retries", next.Retries)
	retryExc := "Retry('Retry in " + strconv.FormatFloat(countdown.Seconds(), 'f', -1, 64) + "s')"
	if m, ok := exc.(map[string]any); ok {
		retryExc = excRepr(m)
	}
	w.tm.retried(r)
	w.events.Emit(&events.TaskRetriedEvent{UUID: msg.ID, Exception: retryExc, Traceback: tb})
	if !w.ignoreResult(r) {
		m := w.meta(t, celery.StateRetry, exc)
		m.Traceback = tb
		w.store(ctx, m)
	}
}

func (w *Worker) storeFailure(ctx context.Context, r *request, exc map[string]any, tb string) {
	w.tm.failed(r)
	t := &Task{Message: r.msg, Queue: r.d.Queue}
	m := w.meta(t, celery.StateFailure, exc)
	m.Traceback = tb
	if w.store(ctx, m) != nil {
		r.unsaved = true
	}
	w.onFailure(ctx, r.msg, exc, tb)
}

// store writes a result meta. A final state (SUCCESS, FAILURE, REVOKED)
// that Redis refuses is retried with backoff (100 ms growing to 5 s) for up to
// storeRetryFor, or until ctx ends, since a Redis at maxmemory may take
// writes again soon; the error is returned when it was not stored.
func (w *Worker) store(ctx context.Context, m *celery.ResultMeta) error {
	state := m.Status
	raw, err := m.Encode()
	if err != nil {
		// A value the serializer cannot encode fails the task with kombu's
		// EncodeError, as Celery's trace does, rather than leaving the
		// client waiting for a result that never comes.
		w.o.logger.Error("Task "+m.Name+"["+m.TaskID+"] result cannot be encoded: "+err.Error(), "task_id", m.TaskID, "state", m.Status)
		f := *m
		if f.Status == celery.StateSuccess {
			f.Status = celery.StateFailure
		}
		f.Result = celery.Exception("EncodeError", "kombu.exceptions", err.Error())
		f.Traceback = "Traceback (most recent call last):\n  File \"<go>\", in " + m.Name + "\nkombu.exceptions.EncodeError: " + err.Error() + "\n"
		if raw, err = f.Encode(); err != nil {
			w.o.logger.Error("could not store result", "task_id", m.TaskID, "state", m.Status, "error", err)
			return err
		}
		state = f.Status
	}
	log := w.o.logger
	deadline := time.Now().Add(w.o.storeRetryFor)
	for attempt := 0; ; attempt++ {
		_, err := w.backend.StoreRaw(context.WithoutCancel(ctx), m.TaskID, state, raw)
		if err == nil {
			if attempt > 0 {
				log.Info("result stored after retrying", "task_id", m.TaskID, "state", state, "attempts", attempt+1)
			}
			return nil
		}
		if !state.Ready() || time.Now().After(deadline) || ctx.Err() != nil {
			log.Error("could not store result", "task_id", m.TaskID, "state", state, "attempts", attempt+1, "error", err)
			return err
		}
		if attempt == 0 {
			log.Warn("could not store result; retrying", "task_id", m.TaskID, "state", state, "retry_for", w.o.storeRetryFor, "error", err)
		}
		t := time.NewTimer(rconn.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}.Delay(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

func (w *Worker) meta(t *Task, state celery.State, result any) *celery.ResultMeta {
	msg := t.Message
	m := &celery.ResultMeta{
		TaskID: msg.ID, Status: state, Result: result, GroupID: msg.Group, ParentID: msg.ParentID,
	}
	if state.Ready() {
		m.DateDone = time.Now()
	}
	if w.o.resultExtended {
		m.Name, m.Args, m.Kwargs = msg.Task, msg.Args, msg.Kwargs
		m.Worker, m.Retries, m.Queue = w.o.hostname, msg.Retries, msg.Properties.DeliveryInfo.RoutingKey
		if m.Queue == "" {
			m.Queue = t.Queue
		}
	}
	return m
}

func (w *Worker) sweepLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	conn := &rconn.State{Name: "visibility sweep", Logger: w.o.logger}
	refused := false // Redis refused the last sweep (logged once)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch _, err := w.broker.RestoreVisible(ctx); {
		case err != nil && ctx.Err() == nil && !celery.IsUnavailable(err):
			// Redis answered, and refused (its lock at maxmemory, say).
			if !refused {
				w.o.logger.Warn("visibility sweep refused by Redis; retrying", "error", err)
				refused = true
			}
		case err != nil && ctx.Err() == nil:
			conn.Lost(err) // one line per outage, not one per sweep
		case err == nil:
			conn.Up()
			if refused {
				w.o.logger.Info("visibility sweep runs again")
				refused = false
			}
		}
		t.Reset(w.o.sweepInterval)
	}
}
