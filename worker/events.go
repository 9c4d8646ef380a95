package worker

import (
	"context"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// Software identification sent in worker events (celery/worker/state.py
// SOFTWARE_INFO). sw_ver is the Celery version whose wire behaviour the
// worker implements.
const (
	SoftwareIdent   = "celeriac"
	SoftwareVersion = "5.7.0"
)

func softwareInfo() events.WorkerState {
	sys := runtime.GOOS
	if sys != "" {
		sys = strings.ToUpper(sys[:1]) + sys[1:] // platform.system(): "Linux"
	}
	return events.WorkerState{SWIdent: SoftwareIdent, SWVer: SoftwareVersion, SWSys: sys}
}

// workerState is the body of worker-online/-heartbeat/-offline
// (worker/heartbeat.py Heart._send).
func (w *Worker) workerState() events.WorkerState {
	st := softwareInfo()
	st.Freq = w.o.heartbeat.Seconds() // a float: 2.0, never 2
	w.mu.Lock()
	active := len(w.active)
	w.mu.Unlock()
	processed := w.processed.Load()
	st.Active, st.Processed = &active, &processed
	st.Loadavg = loadAverage()
	return st
}

// heartbeatLoop sends worker-heartbeat every interval until ctx ends.
func (w *Worker) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(w.o.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.events.Emit(&events.WorkerHeartbeatEvent{WorkerState: w.workerState()})
		}
	}
}

// loadAverage reads the 1, 5 and 15 minute load averages, rounded up to 2
// decimals (celery/utils/sysinfo.py load_average); zeros where unknown.
func loadAverage() []float64 {
	out := []float64{0, 0, 0}
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	for i, f := range strings.Fields(string(b)) {
		if i >= 3 {
			break
		}
		if v, err := strconv.ParseFloat(f, 64); err == nil {
			out[i] = math.Ceil(v*100) / 100
		}
	}
	return out
}

// sendReceived sends task-received (worker/strategy.py).
func (w *Worker) sendReceived(r *request) {
	if !w.events.TaskEvents() {
		return
	}
	msg := r.msg
	w.events.Emit(&events.TaskReceivedEvent{
		UUID: msg.ID, Name: msg.Name(), Args: argsRepr(msg), Kwargs: kwargsRepr(msg),
		RootID: nilIfEmpty(msg.RootID), ParentID: nilIfEmpty(msg.ParentID),
		Retries: msg.Retries, ETA: isoOrNil(msg.ETA), Expires: isoOrNil(msg.Expires),
	})
}

func argsRepr(msg *celery.Message) string {
	if msg.ArgsRepr != "" {
		return msg.ArgsRepr
	}
	return pyjson.ArgsRepr(msg.Args)
}

func kwargsRepr(msg *celery.Message) string {
	if msg.KwargsRepr != "" {
		return msg.KwargsRepr
	}
	return pyjson.KwargsRepr(msg.Kwargs)
}

// nilIfEmpty is s, or None (nil) when empty.
func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// isoOrNil formats t as Python's isoformat, or None (nil) when zero.
func isoOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := isoTime(t)
	return &s
}

// isoTime formats t as Python's isoformat.
func isoTime(t time.Time) string {
	layout := "2006-01-02T15:04:05.000000-07:00"
	if t.Nanosecond()/1000 == 0 {
		layout = "2006-01-02T15:04:05-07:00"
	}
	return t.Format(layout)
}

// excRepr is Python's repr of an exception from Celery's exception dict,
// e.g. "ValueError('nope')".
func excRepr(exc map[string]any) string {
	t, _ := exc["exc_type"].(string)
	args, _ := exc["exc_message"].([]any)
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = pyjson.PyRepr(a)
	}
	return t + "(" + strings.Join(parts, ", ") + ")"
}

// errTerminated is the cancellation cause of a task terminated by
// revoke(terminate=True).
var errTerminated = &PyError{Type: "TaskRevokedError", Module: celeryExc, Args: []any{"terminated"}}

// terminated records a task stopped by revoke(terminate=True): REVOKED
// with TaskRevokedError('terminated') and task-revoked terminated=true, as
// Celery's Request.terminate/_announce_revoked.
func (w *Worker) terminated(ctx context.Context, r *request, t *Task) {
	w.mu.Lock()
	signum := r.signum
	w.mu.Unlock()
	w.o.logger.Info("Task "+r.msg.Name()+"["+r.msg.ID+"] terminated", "task_id", r.msg.ID, "signum", signum)
	meta := w.meta(t, celery.StateRevoked, celery.Exception("TaskRevokedError", celeryExc, "terminated"))
	w.store(ctx, meta)
	w.chordMember(ctx, r.msg, celery.StateRevoked, meta.Result)
	w.tm.revoked(r)
	w.events.Emit(&events.TaskRevokedEvent{UUID: r.msg.ID, Terminated: true, Signum: &signum})
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
