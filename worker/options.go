package worker

import (
	"log/slog"
	"runtime"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/codec"
	"github.com/prometheus/client_golang/prometheus"
)

type options struct {
	archive            archiveOptions // archive.go
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
	accept             codec.Accept
	verifier           celery.BodyVerifier
	signer             celery.BodySigner
	maxMessageSizeSet  bool
	routes             *celery.Routes // task_routes and task_queues (routing.go)
	workerDirect       bool
	eventSerializer    string
	life               lifecycle // lifecycle.go
	ackPolicy          ackPolicy
	hooks              []Hooks
}

// ackPolicy holds the worker-wide defaults of the per-task ack and
// storage settings (TaskOptions).
type ackPolicy struct {
	acksOnFailure, acksOnTimeout bool
	rejectOnWorkerLost           bool
	storeErrorsEvenIfIgnored     bool
}

// WithAcksOnFailureOrTimeout sets task_acks_on_failure_or_timeout for
// acks-late tasks: acknowledge the message of a failed task or one past
// its hard time limit (true, the default), or reject a failed one
// without requeue and requeue a timed-out one.
func WithAcksOnFailureOrTimeout(on bool) Option {
	return func(o *options) { o.ackPolicy.acksOnFailure, o.ackPolicy.acksOnTimeout = on, on }
}

// WithRejectOnWorkerLost sets task_reject_on_worker_lost: an acks-late
// task whose handler panics has its message requeued rather than a
// FAILURE stored (TaskOptions.RejectOnWorkerLost). Default off.
func WithRejectOnWorkerLost(on bool) Option {
	return func(o *options) { o.ackPolicy.rejectOnWorkerLost = on }
}

// WithStoreErrorsEvenIfIgnored sets task_store_errors_even_if_ignored:
// failures of tasks whose result is ignored are stored. Default off.
func WithStoreErrorsEvenIfIgnored(on bool) Option {
	return func(o *options) { o.ackPolicy.storeErrorsEvenIfIgnored = on }
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
// with results (result_extended). Default off, as Celery: task arguments
// are not copied into the result backend unless asked for.
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

func numCPU() int { return runtime.NumCPU() }
