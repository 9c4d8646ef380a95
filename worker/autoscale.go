package worker

import (
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/celeriac/celeriac/celery/control"
)

// defaultKeepalive is Celery's AUTOSCALE_KEEPALIVE: how long the pool
// stays large without a new task before it scales down.
const defaultKeepalive = 30 * time.Second

// autoscaler sizes the pool between min and max goroutines from the
// number of requests the worker holds (celery/worker/autoscale.py): it
// grows as soon as more are held than run, and shrinks once no task
// arrived for keepalive. It is driven by arrivals and completions, and a
// one-shot timer for the scale-down that keepalive delays; nothing polls.
type autoscaler struct {
	pool      *pool
	qty       func() int  // requests held: reserved, scheduled and running
	window    func(n int) // sizes the prefetch window for n goroutines
	log       *slog.Logger
	keepalive time.Duration

	mu         sync.Mutex
	max, min   int
	lastActive time.Time   // last scale-up or task received
	timer      *time.Timer // the pending scale-down check; nil when none
	stopped    bool
}

// maybeScale grows or shrinks the pool for the requests held now;
// received marks the arrival of a task (it delays a scale-down).
func (a *autoscaler) maybeScale(received bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return
	}
	now := time.Now()
	if received {
		a.lastActive = now
	}
	procs := int(a.pool.size.Load())
	qty := a.qty()
	if cur := min(qty, a.max); cur > procs {
		a.lastActive = now
		if err := a.pool.grow(cur - procs); err == nil {
			a.log.Info("Scaling up " + strconv.Itoa(cur-procs) + " processes.")
		}
		return
	}
	cur := max(qty, a.min, 1) // a pool keeps one goroutine
	if cur >= procs {
		return
	}
	if idle := now.Sub(a.lastActive); idle < a.keepalive {
		a.armLocked(a.keepalive - idle)
		return
	}
	if err := a.pool.shrink(procs - cur); err == nil {
		a.log.Info("Scaling down " + strconv.Itoa(procs-cur) + " processes.")
	}
}

// armLocked (re)starts the one-shot scale-down check; a.mu is held.
func (a *autoscaler) armLocked(d time.Duration) {
	if a.timer != nil {
		a.timer.Stop()
	}
	a.timer = time.AfterFunc(d, func() { a.maybeScale(false) })
}

// update is the autoscale command (Autoscaler.update): a smaller max
// shrinks the pool to it and a larger min grows it; the prefetch window
// follows max. It returns the new max and min.
func (a *autoscaler) update(maxC, minC *int) (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	procs := int(a.pool.size.Load())
	if maxC != nil {
		if *maxC < procs {
			if err := a.pool.shrink(procs - max(*maxC, 1)); err == nil {
				a.log.Info("Scaling down " + strconv.Itoa(procs-max(*maxC, 1)) + " processes.")
			}
		}
		a.max = *maxC
		a.window(max(a.max, 1))
	}
	if minC != nil {
		procs = int(a.pool.size.Load())
		if *minC > procs {
			if err := a.pool.grow(*minC - procs); err == nil {
				a.log.Info("Scaling up " + strconv.Itoa(*minC-procs) + " processes.")
			}
		}
		a.min = *minC
	}
	return a.max, a.min
}

// info is the autoscaler part of stats (Autoscaler.info).
func (a *autoscaler) info() *control.AutoscalerInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &control.AutoscalerInfo{Max: a.max, Min: a.min, Current: int(a.pool.size.Load()), Qty: a.qty()}
}

// shutdown stops the pending check; the autoscaler changes nothing after.
func (a *autoscaler) shutdown() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped = true
	if a.timer != nil {
		a.timer.Stop()
	}
}

// autoscaleCommand is the autoscale remote-control command.
func (w *Worker) autoscaleCommand(args map[string]any) (any, error) {
	if w.scaler == nil {
		return nil, valueError("Autoscale not enabled")
	}
	var maxC, minC *int
	for k, p := range map[string]**int{"max": &maxC, "min": &minC} {
		v, ok := args[k]
		if !ok || v == nil {
			continue
		}
		n := intOr(v, -1)
		if n < 0 {
			return nil, valueError("autoscale: " + k + " must be a non-negative integer")
		}
		*p = &n
	}
	if maxC != nil && minC != nil && *minC > *maxC {
		return nil, valueError("autoscale: min must not exceed max")
	}
	mx, mn := w.scaler.update(maxC, minC)
	return ok("autoscale now max=" + strconv.Itoa(mx) + " min=" + strconv.Itoa(mn)), nil
}

// autoscaleQty is the number of requests the worker holds (Celery's
// len(state.reserved_requests)).
func (w *Worker) autoscaleQty() int {
	w.reg.mu.Lock()
	defer w.reg.mu.Unlock()
	return len(w.reg.reserved) + len(w.reg.active)
}
