package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// Revoker broadcasts a revoke to the workers (Celery's control.revoke). It
// is satisfied by *control.Control from celery/control.
type Revoker interface {
	Revoke(ctx context.Context, ids []string, terminate bool, signal string) error
}

// WorkerLister reports the workers seen through the remote-control and
// event channels, for GET /api/v1/workers.
type WorkerLister interface {
	Workers(ctx context.Context) ([]WorkerInfo, error)
}

// WorkerInfo is one worker as GET /api/v1/workers reports it.
type WorkerInfo struct {
	Hostname  string `json:"hostname"`
	Online    bool   `json:"online"`
	Active    int    `json:"active"`
	Processed int    `json:"processed"`
}

// Deps are what the API talks to. Client is required; the others are
// optional and their routes answer 501 while they are nil.
type Deps struct {
	// Client sends tasks and reads results.
	Client *celery.Client
	// Broker answers /readyz and /api/v1/queues. Default: the Client's
	// publisher, when it is a QueueBroker (celery/redis.Broker is).
	Broker QueueBroker
	// Revoker backs DELETE /api/v1/tasks/{id}.
	Revoker Revoker
	// Workers backs GET /api/v1/workers.
	Workers WorkerLister
	// Pauser backs POST /api/v1/queues/{name}/pause and /resume, and the
	// paused flag of GET /api/v1/queues.
	Pauser QueuePauser
}

// QueueBroker is what the API asks of the broker beyond publishing:
// reachability and queue lengths by priority bucket.
type QueueBroker interface {
	// Ping checks that the broker answers.
	Ping(ctx context.Context) error
	// PrioritySteps returns the priority buckets, lowest first.
	PrioritySteps() []int
	// QueueLengths returns the messages waiting in queue, one count per
	// priority bucket (PrioritySteps' order).
	QueueLengths(ctx context.Context, queue string) ([]int, error)
}

type options struct {
	logger      *slog.Logger
	token       string
	allowed     []string
	maxDuration int
	maxBody     int64
	maxResult   int
	maxWait     time.Duration
	queues      []string
	keepAlive   time.Duration
	shutdown    context.Context
	maxInFlight int

	ratePerSecond  float64
	rateBurst      int
	trustedProxies []string

	gatherers []prometheus.Gatherer // more metrics for /metrics (WithMetrics)
}

// Option configures New.
type Option func(*options)

// WithLogger sets the logger for request logs and errors. Default
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithToken requires "Authorization: Bearer <token>" on every route but
// /healthz, /readyz, /docs and /openapi.json. Default "" (no auth).
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithAllowedTasks sets the task names POST /api/v1/tasks/{name} may send.
// Default none: the generic endpoint answers 404 for every name until
// some are allowed (never "any string").
func WithAllowedTasks(names ...string) Option {
	return func(o *options) { o.allowed = append(o.allowed, names...) }
}

// WithMaxDuration sets the largest sleep length, in seconds, that
// /run-task/ accepts, and that POST /api/v1/tasks/{name} accepts for the
// built-in tasks that sleep (tasks.sample_task's duration, the seconds
// of tasks.sleep and tasks.stubborn). Default 3600; 0 allows only 0.
func WithMaxDuration(seconds int) Option { return func(o *options) { o.maxDuration = seconds } }

// WithMaxBodyBytes limits request bodies; larger ones get 413. Default
// 1 MiB.
func WithMaxBodyBytes(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithMaxResultBytes bounds the stored result (its JSON meta, in bytes)
// that GET /api/v1/tasks/{id}, /task-status/{id} and the event stream
// read and send back for one task: a larger one gets 413 with a JSON
// reason (an event stream ends with an error event), and Redis measures
// it without sending it to the API. Default 16 MiB; 0 or less means no
// bound.
func WithMaxResultBytes(n int) Option { return func(o *options) { o.maxResult = n } }

// WithMaxWait caps ?wait= on GET /api/v1/tasks/{id}. Default 60 s.
func WithMaxWait(d time.Duration) Option { return func(o *options) { o.maxWait = d } }

// WithQueues sets the queues GET /api/v1/queues reports when the request
// names none. Default ["celery"].
func WithQueues(queues ...string) Option {
	return func(o *options) { o.queues = append([]string(nil), queues...) }
}

// WithKeepAlive sets how often an idle event stream sends a comment line
// so that proxies keep it open. Default 15 s.
func WithKeepAlive(d time.Duration) Option { return func(o *options) { o.keepAlive = d } }

// WithShutdown ends long requests (?wait= and event streams) as soon as
// ctx is done, so that http.Server.Shutdown need not wait for them: a
// wait answers with the state at that moment, a stream just ends. Default:
// they run until the client leaves.
func WithShutdown(ctx context.Context) Option { return func(o *options) { o.shutdown = ctx } }

// DefaultMaxResultBytes is WithMaxResultBytes' default.
const DefaultMaxResultBytes = 16 << 20

// handlers holds the API's dependencies; every route is one of its
// methods (routes.go).
type handlers struct {
	client  *celery.Client
	broker  QueueBroker
	revoker Revoker
	workers WorkerLister
	pauser  QueuePauser
	o       options
	allowed map[string]bool
	metrics *metrics
	conn    reconnect.State // Redis lost/restored, logged once each (brokerstate.go)
	limiter *rateLimiter    // nil: no rate limit
}

// New returns the API as an http.Handler: a gin.Engine built with gin.New
// and explicit middleware (recovery, request logging, metrics, auth). It
// panics if deps.Client is nil, a programmer error.
//
// New does not set gin's mode: the caller does (gin.SetMode), once, at
// startup.
func New(deps Deps, opts ...Option) http.Handler {
	return newEngine(deps, opts...)
}

func newEngine(deps Deps, opts ...Option) *gin.Engine {
	if deps.Client == nil {
		panic("api: New: nil Client")
	}
	o := options{
		logger:      slog.Default(),
		maxDuration: 3600,
		maxBody:     1 << 20,
		maxResult:   DefaultMaxResultBytes,
		maxWait:     60 * time.Second,
		queues:      []string{celery.DefaultQueue},
		keepAlive:   15 * time.Second,
		shutdown:    context.Background(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	if deps.Broker == nil {
		deps.Broker, _ = deps.Client.Publisher().(QueueBroker)
	}
	if deps.Broker == nil {
		panic("api: New: no QueueBroker (Deps.Broker)")
	}
	h := &handlers{
		client:  deps.Client,
		broker:  deps.Broker,
		revoker: deps.Revoker,
		workers: deps.Workers,
		pauser:  deps.Pauser,
		o:       o,
		allowed: map[string]bool{},
		metrics: newMetrics(o.gatherers...),
		limiter: newRateLimiter(o.ratePerSecond, o.rateBurst, time.Now),
	}
	h.conn.Name, h.conn.Logger = "broker", o.logger
	for _, n := range o.allowed {
		h.allowed[n] = true
	}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = false
	if err := e.SetTrustedProxies(o.trustedProxies); err != nil {
		o.logger.Error("api: bad trusted proxies; trusting none", "error", err)
		e.SetTrustedProxies(nil) //nolint:errcheck // nil cannot fail
	}
	h.routes(e)
	return e
}
