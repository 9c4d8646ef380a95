package worker

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// Revoke marks task ids as revoked: they are discarded when they arrive or
// come due, with a REVOKED result.
func (w *Worker) Revoke(ids ...string) {
	w.reg.mu.Lock()
	defer w.reg.mu.Unlock()
	for _, id := range ids {
		w.reg.revoked.add(id, time.Now())
	}
}

// maybeRevoke handles expired and revoked requests; it reports whether the
// request was consumed.
func (w *Worker) maybeRevoke(ctx context.Context, r *request) bool {
	reason := ""
	w.reg.mu.Lock()
	if w.reg.revoked.has(r.msg.ID) {
		reason = "revoked"
	}
	w.reg.mu.Unlock()
	if reason == "" && !r.msg.Expires.IsZero() && time.Now().After(r.msg.Expires) {
		reason = "expired"
		w.Revoke(r.msg.ID)
	}
	logMsg := "Discarding revoked task: " + r.msg.Name() + "[" + r.msg.ID + "]"
	if reason == "" {
		if h, v, ok := w.stamps.match(r.msg); ok {
			reason = "revoked"
			logMsg += " (revoked by header: " + pyjson.PyRepr(map[string]any{h: v}) + ")"
		}
	}
	if reason == "" {
		return false
	}
	w.o.logger.Info(logMsg, "task_id", r.msg.ID, "reason", reason)
	w.tm.revoked(r)
	w.acker.ack(r.d)
	w.events.Emit(&events.TaskRevokedEvent{UUID: r.msg.ID, Expired: reason == "expired"})
	w.hooks.revoked(ctx, r, Revoked{Expired: reason == "expired"})
	meta := w.meta(&Task{Message: r.msg, Queue: r.d.Queue}, celery.StateRevoked, celery.Exception("TaskRevokedError", celeryExc, reason))
	if _, err := w.backend.Store(context.WithoutCancel(ctx), meta); err != nil {
		w.o.logger.Error("could not store result", "task_id", r.msg.ID, "error", err)
	}
	w.canvas.chordMember(ctx, r.msg, celery.StateRevoked, meta.Result)
	w.done(r)
	return true
}

// revokedSet is Celery's LimitedSet of revoked ids: at most maxLen ids,
// entries older than expiry dropped when full (worker/state.py).
type revokedSet struct {
	maxLen int
	expiry time.Duration
	ids    map[string]time.Time
	order  []string
}

func newRevokedSet(maxLen int, expiry time.Duration) *revokedSet {
	return &revokedSet{maxLen: maxLen, expiry: expiry, ids: map[string]time.Time{}}
}

func (s *revokedSet) add(id string, now time.Time) {
	if _, ok := s.ids[id]; !ok {
		s.order = append(s.order, id)
	}
	s.ids[id] = now
	for len(s.ids) > s.maxLen || (len(s.order) > 0 && now.Sub(s.ids[s.order[0]]) > s.expiry) {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *revokedSet) has(id string) bool { _, ok := s.ids[id]; return ok }

func (s *revokedSet) list() []string { return append([]string(nil), s.order...) }

// errTerminated is the cancellation cause of a task terminated by
// revoke(terminate=True).
var errTerminated = &PyError{Type: "TaskRevokedError", Module: celeryExc, Args: []any{"terminated"}}

// terminated records a task stopped by revoke(terminate=True): REVOKED
// with TaskRevokedError('terminated') and task-revoked terminated=true, as
// Celery's Request.terminate/_announce_revoked.
func (w *Worker) terminated(ctx context.Context, r *request, t *Task) {
	w.reg.mu.Lock()
	signum := r.signum
	w.reg.mu.Unlock()
	w.o.logger.Info("Task "+r.msg.Name()+"["+r.msg.ID+"] terminated", "task_id", r.msg.ID, "signum", signum)
	meta := w.meta(t, celery.StateRevoked, celery.Exception("TaskRevokedError", celeryExc, "terminated"))
	w.store(ctx, meta)
	w.canvas.chordMember(ctx, r.msg, celery.StateRevoked, meta.Result)
	w.tm.revoked(r)
	w.events.Emit(&events.TaskRevokedEvent{UUID: r.msg.ID, Terminated: true, Signum: &signum})
	w.hooks.revoked(ctx, r, Revoked{Terminated: true, Signum: signum})
}

// signalNumbers maps signal names as Celery accepts them ("SIGKILL",
// "KILL", "9") to numbers (celery/platforms.py Signals.signum).
func signalNumber(name string) (int, bool) {
	if name == "" {
		return int(syscall.SIGTERM), true
	}
	if n, err := strconv.Atoi(name); err == nil {
		return n, true
	}
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	switch n {
	case "SIGTERM":
		return int(syscall.SIGTERM), true
	case "SIGKILL":
		return int(syscall.SIGKILL), true
	case "SIGINT":
		return int(syscall.SIGINT), true
	case "SIGHUP":
		return int(syscall.SIGHUP), true
	case "SIGQUIT":
		return int(syscall.SIGQUIT), true
	case "SIGUSR1":
		return int(syscall.SIGUSR1), true
	case "SIGUSR2":
		return int(syscall.SIGUSR2), true
	case "SIGABRT":
		return int(syscall.SIGABRT), true
	}
	return 0, false
}
