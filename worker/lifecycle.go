package worker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// This file holds the worker's lifecycle settings beyond a plain warm
// shutdown: recycling after N tasks or over M KiB of memory (Celery's
// --max-tasks-per-child and --max-memory-per-child, for a worker that has
// no children), the soft shutdown of Celery 5.5 (--soft-shutdown-timeout)
// and autoscaling (autoscale.go).

// ErrRecycle is returned by Run when the worker stopped to be replaced:
// it ran WithMaxTasksPerChild tasks or grew past WithMaxMemoryPerChild.
// Run has then shut down warm (running tasks finished, held messages
// restored); the caller starts a fresh worker, the celeriac binary by
// re-executing itself.
var ErrRecycle = errors.New("worker: recycle")

// lifecycle holds the settings of this file and autoscale.go.
type lifecycle struct {
	maxTasks     int64         // recycle after this many tasks (0: never)
	maxMemoryKiB int64         // recycle over this resident size (0: never)
	soft         time.Duration // soft shutdown timeout (0: cold is immediate)
	autoscaleMax int           // 0: no autoscaler
	autoscaleMin int
	keepalive    time.Duration // autoscaler's idle time before scaling down
}

// WithMaxTasksPerChild recycles the worker after it ran n tasks (Celery's
// worker_max_tasks_per_child): it stops taking messages, lets the running
// tasks finish, restores the messages it holds, and Run returns
// ErrRecycle. 0 (the default) never recycles.
func WithMaxTasksPerChild(n int) Option {
	return func(o *options) { o.life.maxTasks = int64(max(n, 0)) }
}

// WithMaxMemoryPerChild recycles the worker, as WithMaxTasksPerChild
// does, when a task finishes while the process's resident memory is over
// kib KiB (Celery's worker_max_memory_per_child). 0 (the default) never.
func WithMaxMemoryPerChild(kib int) Option {
	return func(o *options) { o.life.maxMemoryKiB = int64(max(kib, 0)) }
}

// WithSoftShutdownTimeout sets Celery 5.5's worker_soft_shutdown_timeout:
// after ColdShutdown, running tasks still have d to finish before they
// are cancelled and their messages, with those the worker holds, are
// restored. 0 (the default) cancels them at once.
func WithSoftShutdownTimeout(d time.Duration) Option {
	return func(o *options) { o.life.soft = max(d, 0) }
}

// WithAutoscale enables the autoscaler (celery worker --autoscale
// max,min): the pool grows up to max goroutines while more tasks are
// held than run, and shrinks back to min (at least one) after
// WithAutoscaleKeepalive without a new task. The prefetch window is
// sized for max. The autoscale remote-control command changes max and
// min; pool_grow and pool_shrink are refused while it runs, as in Celery.
func WithAutoscale(maxConcurrency, minConcurrency int) Option {
	return func(o *options) {
		o.life.autoscaleMax, o.life.autoscaleMin = maxConcurrency, minConcurrency
	}
}

// WithAutoscaleKeepalive sets how long the autoscaler waits without a new
// task before it scales down (Celery's AUTOSCALE_KEEPALIVE). Default 30s.
func WithAutoscaleKeepalive(d time.Duration) Option {
	return func(o *options) { o.life.keepalive = d }
}

// recycler decides when the worker stops to be replaced.
type recycler struct {
	once   sync.Once
	reason string // set once, read after Run's intake stopped
	mu     sync.Mutex
}

// startedTask runs when a task starts: the N-th task of
// WithMaxTasksPerChild pauses the pool, so that no other starts before the
// recycle (running ones finish).
func (w *Worker) startedTask() {
	if n := w.o.life.maxTasks; n > 0 && w.processed.Load() >= n {
		w.pool.paused.Store(true)
	}
}

// afterTask runs when a task taken to run is settled: the autoscaler
// follows, and the recycle starts once the task count or the memory is
// over its limit.
func (w *Worker) afterTask() {
	w.scale(false)
	l := w.o.life
	if l.maxTasks == 0 && l.maxMemoryKiB == 0 {
		return
	}
	reason := ""
	if n := w.processed.Load(); l.maxTasks > 0 && n >= l.maxTasks {
		reason = fmt.Sprintf("max tasks per child reached (%d tasks)", n)
	} else if l.maxMemoryKiB > 0 {
		if rss, err := residentKiB(); err != nil {
			w.o.logger.Warn("max memory per child: cannot read the resident size", "error", err)
		} else if rss > l.maxMemoryKiB {
			reason = fmt.Sprintf("max memory per child exceeded (%d KiB > %d KiB)", rss, l.maxMemoryKiB)
		}
	}
	if reason != "" {
		w.recycle(reason)
	}
}

// recycle stops the worker warm so that Run returns ErrRecycle.
func (w *Worker) recycle(reason string) {
	w.recyc.once.Do(func() {
		w.recyc.mu.Lock()
		w.recyc.reason = reason
		w.recyc.mu.Unlock()
		w.o.logger.Warn("recycling the worker: "+reason+"; held messages are restored, running tasks finish", "hostname", w.o.hostname)
		w.pool.paused.Store(true) // no task starts after the one that reached the limit
		if stop := w.remoteStop.Load(); stop != nil {
			(*stop)()
		}
	})
}

// recycleErr is ErrRecycle with its reason once recycle ran, else nil.
func (w *Worker) recycleErr() error {
	w.recyc.mu.Lock()
	defer w.recyc.mu.Unlock()
	if w.recyc.reason == "" {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrRecycle, w.recyc.reason)
}

// ColdShutdown starts Celery's cold shutdown: the worker stops taking
// messages (if it had not already) and running tasks get the soft
// shutdown timeout (WithSoftShutdownTimeout) to finish; then they are
// cancelled and the messages held or given up are restored, and Run
// returns. It is what a second SIGINT/SIGTERM, or SIGQUIT, does in the
// celeriac binary when --soft-shutdown-timeout is set.
func (w *Worker) ColdShutdown() {
	w.coldOnce.Do(func() {
		close(w.cold)
		if stop := w.remoteStop.Load(); stop != nil {
			(*stop)()
		}
	})
}

// residentKiB returns the process's resident set size in KiB, from
// /proc/self/statm (Linux).
func residentKiB() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("resident size: %w", err)
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("resident size: unexpected /proc/self/statm %q", b)
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("resident size: %w", err)
	}
	return pages * int64(os.Getpagesize()) / 1024, nil
}
