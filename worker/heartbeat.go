package worker

import (
	"context"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/celeriac/celeriac/celery/events"
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
	w.reg.mu.Lock()
	active := len(w.reg.active)
	w.reg.mu.Unlock()
	processed := w.processed.Load()
	st.Active, st.Processed = &active, &processed
	st.Loadavg = loadAverage()
	return st
}

// heartbeater announces the worker on the event exchange:
// worker-online when it starts, worker-heartbeat every interval (the freq
// field) while it runs, worker-offline when the worker stops
// (celery/worker/heartbeat.py Heart).
type heartbeater struct {
	events   *events.Dispatcher
	interval time.Duration
	state    func() events.WorkerState
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// start sends worker-online, then worker-heartbeat every interval until
// ctx ends or shutdown is called.
func (h *heartbeater) start(ctx context.Context) {
	h.events.Emit(&events.WorkerOnlineEvent{WorkerState: h.state()})
	ctx, h.cancel = context.WithCancel(ctx)
	h.wg.Go(func() { h.loop(ctx) })
}

// shutdown stops the heartbeats.
func (h *heartbeater) shutdown() {
	if h.cancel != nil {
		h.cancel()
	}
	h.wg.Wait()
}

func (h *heartbeater) loop(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.events.Emit(&events.WorkerHeartbeatEvent{WorkerState: h.state()})
		}
	}
}

// offline sends the events still queued, then worker-offline, at once.
func (h *heartbeater) offline(ctx context.Context) error {
	h.events.Flush()
	return h.events.EmitNow(ctx, &events.WorkerOfflineEvent{WorkerState: h.state()})
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
