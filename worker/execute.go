package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/google/uuid"
)

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
	w.reg.mu.Lock()
	delete(w.reg.reserved, r.d.Tag)
	w.reg.active[r.d.Tag] = r
	r.isActive = true
	w.reg.total[msg.Task]++
	w.reg.mu.Unlock()
	w.processed.Add(1)
	lateAck := r.acksLate(w)
	if !lateAck {
		w.reg.mu.Lock()
		r.acked = true
		w.reg.mu.Unlock()
		w.acker.ack(r.d)
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
	w.reg.mu.Lock()
	r.cancel = cancel
	r.started = start
	w.reg.mu.Unlock()
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
			w.acker.ack(r.d)
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
			w.acker.giveBack(r)
		} else {
			w.acker.ack(r.d)
		}
	}
	w.done(r)
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

func newTag() string { return uuid.NewString() }
