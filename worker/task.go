package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// Task is the request a handler receives: the decoded message plus where
// it came from. It is read-only for handlers.
type Task struct {
	*celery.Message
	// Queue is the queue the message was taken from.
	Queue string
	// Hostname is the worker's node name.
	Hostname string
	// Received is when the worker took the message.
	Received time.Time

	w     *Worker
	entry *entry
}

// Arg decodes positional argument i into out (a pointer).
func (t *Task) Arg(i int, out any) error {
	if i < 0 || i >= len(t.Args) {
		return typeError("%s() missing positional argument %d", t.Task, i)
	}
	return convert(t.Args[i], out)
}

// Kwarg decodes keyword argument name into out; it reports false when the
// argument is absent.
func (t *Task) Kwarg(name string, out any) (bool, error) {
	v, ok := t.Kwargs[name]
	if !ok {
		return false, nil
	}
	return true, convert(v, out)
}

func convert(v any, out any) error {
	raw, err := pyjson.Encode(v)
	if err != nil {
		return err
	}
	if err := pyjson.Unmarshal(raw, out); err != nil {
		return &PyError{Type: "TypeError", Module: "builtins", Args: []any{err.Error()}}
	}
	return nil
}

type ctxKey struct{}

// FromContext returns the task a handler's context belongs to.
func FromContext(ctx context.Context) (*Task, bool) {
	t, ok := ctx.Value(ctxKey{}).(*Task)
	return t, ok
}

// UpdateState stores a custom state with meta for the running task, e.g.
// "PROGRESS" with {"current": 3, "total": 10} (Task.update_state).
func UpdateState(ctx context.Context, state celery.State, meta any) error {
	t, ok := FromContext(ctx)
	if !ok {
		return errors.New("worker: UpdateState outside a task")
	}
	m := t.w.meta(t, state, meta)
	m.DateDone = time.Time{}
	_, err := t.w.backend.Store(ctx, m)
	return err
}

// RetryError asks the worker to retry the task; build it with Retry and
// return it from the handler.
type RetryError struct {
	// Countdown before the retry runs; ETA wins when set.
	Countdown time.Duration
	ETA       time.Time
	// MaxRetries overrides the task's max_retries when not nil.
	MaxRetries *int
	// Err is the exception that caused the retry (may be nil).
	Err error
	// Args and Kwargs replace the arguments when not nil.
	Args   []any
	Kwargs map[string]any
}

func (e *RetryError) Error() string {
	if e.Err != nil {
		return "retry: " + e.Err.Error()
	}
	return "retry"
}

func (e *RetryError) Unwrap() error { return e.Err }

// RetryOption configures Retry.
type RetryOption func(*RetryError)

// In sets the retry countdown.
func In(d time.Duration) RetryOption { return func(r *RetryError) { r.Countdown = d } }

// At sets the retry ETA.
func At(t time.Time) RetryOption { return func(r *RetryError) { r.ETA = t } }

// WithMaxRetries overrides max_retries for this retry (negative: none).
func WithMaxRetries(n int) RetryOption { return func(r *RetryError) { r.MaxRetries = &n } }

// WithArgs replaces the arguments of the retried task.
func WithArgs(args []any, kwargs map[string]any) RetryOption {
	return func(r *RetryError) { r.Args, r.Kwargs = args, kwargs }
}

// Retry returns the error a handler returns to retry the task, as Python's
// self.retry(exc=err, countdown=…, max_retries=…). err may be nil.
func Retry(err error, opts ...RetryOption) error {
	r := &RetryError{Err: err, Countdown: -1}
	for _, o := range opts {
		o(r)
	}
	return r
}

// PyError is an error with a Python exception identity: the worker stores
// it as {exc_type, exc_message, exc_module}, so Python's get() raises that
// type (ValueError stays ValueError).
type PyError struct {
	Type   string
	Module string
	Args   []any
}

// NewPyError returns a builtins exception with one message argument, e.g.
// NewPyError("ValueError", "bad input").
func NewPyError(excType, msg string) *PyError {
	return &PyError{Type: excType, Module: "builtins", Args: []any{msg}}
}

func (e *PyError) Error() string {
	switch len(e.Args) {
	case 0:
		return e.Type
	case 1:
		if s, ok := e.Args[0].(string); ok {
			return e.Type + ": " + s
		}
	}
	return e.Type + ": " + pyjson.ArgsRepr(e.Args)
}

func typeError(format string, a ...any) *PyError {
	return &PyError{Type: "TypeError", Module: "builtins", Args: []any{fmt.Sprintf(format, a...)}}
}

// Celery exception names a Go worker reports (celery/exceptions.py).
const celeryExc = "celery.exceptions"

// billiardExc is the module of the time-limit exceptions: celery.exceptions
// re-exports them from billiard, and Python workers store the defining
// module (type(exc).__module__).
const billiardExc = "billiard.exceptions"

// errSoftTimeLimit is the cause of a task context cancelled by its soft
// time limit, and the exception stored when the task gives up because of it.
var errSoftTimeLimit error = &PyError{Type: "SoftTimeLimitExceeded", Module: billiardExc}

// limitArg is the argument of TimeLimitExceeded: the limit in seconds, an
// int when whole, as Python passes on the message's value (1, not 1.0).
func limitArg(d time.Duration) any {
	if d%time.Second == 0 {
		return int64(d / time.Second)
	}
	return d.Seconds()
}
