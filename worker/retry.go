package worker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/google/uuid"
)

// autoRetryDelay is the countdown of an autoretry: exponential backoff
// from retry_backoff, capped at retry_backoff_max, with full jitter unless
// turned off; -1 (the default delay) without retry_backoff.
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

// retry publishes the next attempt of r's task (Task.retry): a copy of
// the message with retries+1 and an ETA after the countdown, sent to the
// queue it came from; it stores RETRY and sends task-retried. Past
// max_retries, or when the retry cannot be published, the task fails
// instead. It returns the state the task came to (RETRY or FAILURE).
func (w *Worker) retry(ctx context.Context, r *request, t *Task, re *RetryError) celery.State {
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
			r.cause = re.Err
		} else {
			exc = celery.Exception("MaxRetriesExceededError", celeryExc,
				fmt.Sprintf("Can't retry %s[%s] args:%s kwargs:%s", msg.Task, msg.ID, pyjson.ArgsRepr(msg.Args), pyjson.KwargsRepr(msg.Kwargs)))
		}
		log.Error("Task "+msg.Name()+"["+msg.ID+"] max retries exceeded: "+excString(exc), "task_id", msg.ID, "retries", msg.Retries)
		w.storeFailure(ctx, r, exc, tb)
		w.events.Emit(&events.TaskFailedEvent{UUID: msg.ID, Exception: excRepr(exc), Traceback: tb})
		return celery.StateFailure
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
	next.Signer = w.o.signer
	next.Properties.DeliveryTag = newTag()
	next.Properties.DeliveryInfo = celery.DeliveryInfo{Exchange: r.d.Exchange, RoutingKey: r.d.RoutingKey}
	body, err := celery.EncodeMessage(&next)
	if err == nil {
		err = w.broker.PublishOne(context.WithoutCancel(ctx), celery.Publishing{Queue: r.d.Queue, Priority: r.d.Priority, Body: body})
	}
	if err != nil {
		log.Error("could not publish retry; failing the task", "task_id", msg.ID, "error", err)
		exc, tb := excInfo(err, msg)
		r.cause = err
		w.storeFailure(ctx, r, exc, tb)
		return celery.StateFailure
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
	if w.storeErrors(r) {
		m := w.meta(t, celery.StateRetry, exc)
		m.Traceback = tb
		// The retry message is in the trail, as Python's Task.retry
		// applies it from inside the task (docs/wire.md#result-children).
		m.Children = []any{[]any{[]any{msg.ID, nil}, nil}}
		w.store(ctx, m)
	}
	w.hooks.retry(ctx, t, re.Err)
	return celery.StateRetry
}

// newTag returns a new delivery tag.
func newTag() string { return uuid.NewString() }
