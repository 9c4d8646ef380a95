package worker

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Handler runs one task. The returned value is stored as the task's result
// (encoded as kombu JSON); a returned error becomes a FAILURE, unless it is
// a retry request made with Retry. Modelled on net/http's Handler.
type Handler interface {
	ProcessTask(ctx context.Context, t *Task) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, t *Task) (any, error)

// ProcessTask calls f.
func (f HandlerFunc) ProcessTask(ctx context.Context, t *Task) (any, error) { return f(ctx, t) }

// Middleware wraps a Handler.
type Middleware func(Handler) Handler

// TaskOptions are per-task settings, Celery's task attributes.
type TaskOptions struct {
	// AcksLate acknowledges after the task ran instead of before. nil: the
	// worker default.
	AcksLate *bool
	// IgnoreResult stores no result (errors neither).
	IgnoreResult bool
	// TrackStarted stores STARTED before running. nil: the worker default.
	TrackStarted *bool
	// RateLimit is "N/s", "N/m", "N/h" or a number per second; "" none.
	RateLimit string
	// TimeLimit and SoftTimeLimit are defaults when a message has none.
	TimeLimit, SoftTimeLimit time.Duration
	// MaxRetries bounds Retry; nil means Celery's default 3, and a
	// negative value means no limit (max_retries=None).
	MaxRetries *int
	// DefaultRetryDelay is the countdown of a Retry without one (180 s).
	DefaultRetryDelay time.Duration
	// AutoRetryFor makes errors it reports true retry automatically.
	AutoRetryFor func(error) bool
	// RetryBackoff enables exponential backoff for automatic retries:
	// countdown = RetryBackoff × 2^retries, capped at RetryBackoffMax
	// (default 600 s), with full jitter unless RetryJitter is false.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	RetryJitter     *bool
	// AcksOnFailure and AcksOnTimeout (acks-late tasks only): whether a
	// failed task's message is acknowledged (else rejected without
	// requeue) and whether a task past its hard time limit has its
	// message acknowledged (else requeued, to run again). nil: the
	// worker default (WithAcksOnFailureOrTimeout, true).
	AcksOnFailure, AcksOnTimeout *bool
	// RejectOnWorkerLost (acks-late tasks only) requeues the message of
	// a handler that panics instead of storing a FAILURE: the Go
	// counterpart of a Python pool process lost while running the task.
	// nil: the worker default (WithRejectOnWorkerLost, false).
	RejectOnWorkerLost *bool
	// StoreErrorsEvenIfIgnored stores failures (and retries) of a task
	// whose result is ignored. nil: the worker default
	// (WithStoreErrorsEvenIfIgnored, false).
	StoreErrorsEvenIfIgnored *bool
}

// TaskOption sets a TaskOptions field.
type TaskOption func(*TaskOptions)

// AcksLate sets acks_late for the task.
func AcksLate(on bool) TaskOption { return func(o *TaskOptions) { o.AcksLate = &on } }

// IgnoreResult sets ignore_result for the task.
func IgnoreResult() TaskOption { return func(o *TaskOptions) { o.IgnoreResult = true } }

// TrackStarted sets track_started for the task.
func TrackStarted(on bool) TaskOption { return func(o *TaskOptions) { o.TrackStarted = &on } }

// RateLimit sets the task's rate limit ("10/s", "100/m", "5/h", "2.5").
func RateLimit(r string) TaskOption { return func(o *TaskOptions) { o.RateLimit = r } }

// TimeLimits sets the task's default hard and soft time limits.
func TimeLimits(hard, soft time.Duration) TaskOption {
	return func(o *TaskOptions) { o.TimeLimit, o.SoftTimeLimit = hard, soft }
}

// MaxRetries sets max_retries (negative: unlimited).
func MaxRetries(n int) TaskOption { return func(o *TaskOptions) { o.MaxRetries = &n } }

// DefaultRetryDelay sets default_retry_delay.
func DefaultRetryDelay(d time.Duration) TaskOption {
	return func(o *TaskOptions) { o.DefaultRetryDelay = d }
}

// AutoRetryFor retries automatically when match reports true for the
// returned error (Celery's autoretry_for), with backoff as configured by
// RetryBackoff.
func AutoRetryFor(match func(error) bool) TaskOption {
	return func(o *TaskOptions) { o.AutoRetryFor = match }
}

// RetryBackoff sets exponential backoff for automatic retries.
func RetryBackoff(base, maxDelay time.Duration, jitter bool) TaskOption {
	return func(o *TaskOptions) { o.RetryBackoff, o.RetryBackoffMax, o.RetryJitter = base, maxDelay, &jitter }
}

// AcksOnFailureOrTimeout sets acks_on_failure_or_timeout for the task:
// both AcksOnFailure and AcksOnTimeout.
func AcksOnFailureOrTimeout(on bool) TaskOption {
	return func(o *TaskOptions) { o.AcksOnFailure, o.AcksOnTimeout = &on, &on }
}

// AcksOnFailure sets acks_on_failure for the task.
func AcksOnFailure(on bool) TaskOption { return func(o *TaskOptions) { o.AcksOnFailure = &on } }

// AcksOnTimeout sets acks_on_timeout for the task.
func AcksOnTimeout(on bool) TaskOption { return func(o *TaskOptions) { o.AcksOnTimeout = &on } }

// RejectOnWorkerLost sets reject_on_worker_lost for the task.
func RejectOnWorkerLost(on bool) TaskOption {
	return func(o *TaskOptions) { o.RejectOnWorkerLost = &on }
}

// StoreErrorsEvenIfIgnored sets store_errors_even_if_ignored for the task.
func StoreErrorsEvenIfIgnored(on bool) TaskOption {
	return func(o *TaskOptions) { o.StoreErrorsEvenIfIgnored = &on }
}

type entry struct {
	name    string
	handler Handler
	opts    TaskOptions
	limiter *limiter
}

// ServeMux maps exact Celery task names to handlers. Registering is done
// before the worker runs; lookups are safe for concurrent use, and
// per-task limits can be changed while running (remote control).
type ServeMux struct {
	mu         sync.RWMutex
	m          map[string]*entry
	middleware []Middleware
}

// NewServeMux returns an empty mux.
func NewServeMux() *ServeMux { return &ServeMux{m: map[string]*entry{}} }

// Handle registers h for the task name. It panics on an empty name, a nil
// handler, a duplicate name or an invalid rate limit: programmer errors
// that should stop the program at start-up.
func (mux *ServeMux) Handle(name string, h Handler, opts ...TaskOption) {
	if name == "" {
		panic("worker: empty task name")
	}
	if h == nil {
		panic("worker: nil handler for " + name)
	}
	e := &entry{name: name, handler: h}
	for _, o := range opts {
		o(&e.opts)
	}
	if e.opts.RateLimit != "" {
		l, err := newLimiter(e.opts.RateLimit)
		if err != nil {
			panic(fmt.Sprintf("worker: task %s: %v", name, err))
		}
		e.limiter = l
	}
	mux.mu.Lock()
	defer mux.mu.Unlock()
	if mux.m == nil {
		mux.m = map[string]*entry{}
	}
	if _, dup := mux.m[name]; dup {
		panic("worker: task registered twice: " + name)
	}
	mux.m[name] = e
}

// HandleFunc registers a function for the task name.
func (mux *ServeMux) HandleFunc(name string, f func(ctx context.Context, t *Task) (any, error), opts ...TaskOption) {
	mux.Handle(name, HandlerFunc(f), opts...)
}

// Use appends middleware applied to every handler at dispatch.
func (mux *ServeMux) Use(mw ...Middleware) {
	mux.mu.Lock()
	defer mux.mu.Unlock()
	mux.middleware = append(mux.middleware, mw...)
}

// Names returns the registered task names, sorted.
func (mux *ServeMux) Names() []string {
	mux.mu.RLock()
	defer mux.mu.RUnlock()
	names := make([]string, 0, len(mux.m))
	for n := range mux.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (mux *ServeMux) lookup(name string) (*entry, Handler) {
	mux.mu.RLock()
	defer mux.mu.RUnlock()
	e := mux.m[name]
	if e == nil {
		return nil, nil
	}
	h := e.handler
	for i := len(mux.middleware) - 1; i >= 0; i-- {
		h = mux.middleware[i](h)
	}
	return e, h
}

// SetRateLimit changes a task's rate limit at run time ("" disables it).
func (mux *ServeMux) SetRateLimit(name, rate string) error {
	mux.mu.Lock()
	defer mux.mu.Unlock()
	e := mux.m[name]
	if e == nil {
		return fmt.Errorf("worker: unknown task %q", name)
	}
	if rate == "" {
		e.limiter, e.opts.RateLimit = nil, ""
		return nil
	}
	l, err := newLimiter(rate)
	if err != nil {
		return err
	}
	e.limiter, e.opts.RateLimit = l, rate
	return nil
}

// SetTimeLimits changes a task's default time limits at run time.
func (mux *ServeMux) SetTimeLimits(name string, hard, soft time.Duration) error {
	mux.mu.Lock()
	defer mux.mu.Unlock()
	e := mux.m[name]
	if e == nil {
		return fmt.Errorf("worker: unknown task %q", name)
	}
	e.opts.TimeLimit, e.opts.SoftTimeLimit = hard, soft
	return nil
}
