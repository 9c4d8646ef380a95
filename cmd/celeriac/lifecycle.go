package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/celeriac/celeriac/worker"
)

// This file holds the worker command's lifecycle: --autoscale parsing,
// the shutdown signals (warm, cold, Celery 5.5's soft shutdown) and the
// re-execution of a recycled worker (--max-tasks-per-child,
// --max-memory-per-child).

// parseAutoscale reads --autoscale as celery worker does: "max,min" or
// "max" (min 0); the larger number is the maximum whatever the order.
func parseAutoscale(s string) (maxC, minC int, err error) {
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return 0, 0, fmt.Errorf("want max,min or max, not %q", s)
	}
	n := make([]int, 0, 2)
	for _, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 {
			return 0, 0, fmt.Errorf("want non-negative integers, not %q", s)
		}
		n = append(n, v)
	}
	if len(n) == 1 {
		n = append(n, 0)
	}
	maxC, minC = max(n[0], n[1]), min(n[0], n[1])
	if maxC < 1 {
		return 0, 0, fmt.Errorf("the maximum must be at least 1, not %q", s)
	}
	return maxC, minC, nil
}

// lifecycleOptions are the worker options of the lifecycle flags that
// runWorker applies to every worker (autoscale, soft shutdown).
func (f *workerFlags) lifecycleOptions() []worker.Option {
	var opts []worker.Option
	if f.autoscaleMax > 0 {
		opts = append(opts, worker.WithAutoscale(f.autoscaleMax, f.autoscaleMin))
	}
	return append(opts, worker.WithSoftShutdownTimeout(f.softShutdownTimeout))
}

// recycleOptions are the options of --max-tasks-per-child and
// --max-memory-per-child, which only `celeriac worker` applies: it
// re-executes itself when Run returns worker.ErrRecycle.
func (f *workerFlags) recycleOptions() []worker.Option {
	return []worker.Option{worker.WithMaxTasksPerChild(f.maxTasksPerChild), worker.WithMaxMemoryPerChild(f.maxMemoryPerChild)}
}

// watchColdSignals handles the signals after the first SIGINT/SIGTERM
// (which cancel ctx: the warm shutdown) until done is closed. A cold
// shutdown is a second SIGINT or SIGTERM, SIGQUIT at any time, or SIGTERM
// when REMAP_SIGTERM=SIGQUIT (Celery's and billiard's variable). Without a
// soft shutdown timeout it exits at once; with one (Celery 5.5's soft
// shutdown) running tasks get that long, then they are cancelled and the
// messages restored; one more cold signal then exits at once.
func watchColdSignals(ctx context.Context, done <-chan struct{}, w *worker.Worker, soft bool, log *slog.Logger) {
	remapTerm := strings.EqualFold(os.Getenv("REMAP_SIGTERM"), "SIGQUIT")
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sig)
	warm, cold := 0, false
	for {
		select {
		case <-done:
			return
		case s := <-sig:
			isCold := s == syscall.SIGQUIT || (remapTerm && s == syscall.SIGTERM)
			if !isCold {
				warm++ // the first one is main's warm shutdown (ctx)
				isCold = warm > 1
			}
			if !isCold {
				continue
			}
			if !soft || cold {
				log.Warn("cold shutdown: exiting now; held messages return after the visibility timeout")
				os.Exit(1)
			}
			cold = true
			log.Warn("cold shutdown: soft shutdown started; a further signal exits at once", "signal", s.String())
			w.ColdShutdown()
		}
	}
}

// reexec replaces the process with a fresh run of the same binary and
// arguments (a recycled worker); it returns only on failure.
func reexec() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("recycle: %w", err)
	}
	if err := syscall.Exec(exe, os.Args, os.Environ()); err != nil {
		return fmt.Errorf("recycle: exec %s: %w", exe, err)
	}
	return nil
}
