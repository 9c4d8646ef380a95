package worker

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/internal/redact"
)

// This file answers the inspect commands of remote control (stats,
// registered, active, reserved, scheduled, query_task, conf, report...):
// read-only views of the worker, in the reply types of celery/control.

// stats is WorkController.stats (docs/wire.md#stats-reply).
func (w *Worker) stats() control.Stats {
	w.reg.mu.Lock()
	total := make(map[string]int64, len(w.reg.total))
	for k, v := range w.reg.total {
		total[k] = int64(v)
	}
	w.reg.mu.Unlock()
	pid := os.Getpid()
	soft, hard := w.o.softTimeLimit.Seconds(), w.o.timeLimit.Seconds()
	guarded := false
	abandoned := int64(w.Abandoned()) // celeriac: handlers abandoned, still running
	var perChild any = "N/A"
	if n := w.o.life.maxTasks; n > 0 {
		perChild = n
	}
	var scaler *control.AutoscalerInfo
	if w.scaler != nil {
		scaler = w.scaler.info()
	}
	return control.Stats{
		Autoscaler: scaler,
		Total:      total,
		PID:        pid,
		Clock:      strconv.FormatInt(w.clock.Value(), 10),
		Uptime:     int64(time.Since(w.started).Round(time.Second) / time.Second),
		Pool: control.PoolStats{
			Implementation:        "celeriac.worker:goroutines",
			MaxConcurrency:        w.Concurrency(),
			Processes:             []int{pid},
			MaxTasksPerChild:      perChild,
			PutGuardedBySemaphore: &guarded,
			Timeouts:              []float64{soft, hard},
		},
		Broker:        w.brokerInfo(),
		PrefetchCount: w.PrefetchCount(),
		Abandoned:     &abandoned,
		Rusage:        rusage(),
	}
}

func (w *Worker) brokerInfo() control.BrokerInfo {
	heartbeat := 120.0
	bi := w.broker.Info()
	info := control.BrokerInfo{
		Hostname: bi.Hostname, VirtualHost: bi.VirtualHost, Port: bi.Port, SSL: bi.SSL, Transport: bi.Transport,
		ConnectTimeout: "4", TransportOptions: map[string]any{}, Heartbeat: &heartbeat,
		FailoverStrategy: "round-robin", Alternates: []string{},
	}
	if bi.UserID != "" {
		info.UserID = &bi.UserID
	}
	return info
}

func rusage() control.Rusage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return control.Rusage{Unavailable: true}
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return control.Rusage{
		UTime: tv(ru.Utime), STime: tv(ru.Stime), MaxRSS: ru.Maxrss,
		IxRSS: ru.Ixrss, IdRSS: ru.Idrss, IsRSS: ru.Isrss,
		MinFlt: ru.Minflt, MajFlt: ru.Majflt, NSwap: ru.Nswap,
		InBlock: ru.Inblock, OuBlock: ru.Oublock, MsgSnd: ru.Msgsnd,
		MsgRcv: ru.Msgrcv, NSignals: ru.Nsignals, NVCSw: ru.Nvcsw, NIVCSw: ru.Nivcsw,
	}
}

// registered is control.registered: sorted names, with "[attr=value …]"
// for requested task attributes that are set (default rate_limit; also
// time_limit, soft_time_limit, acks_late, ignore_result, track_started,
// max_retries, default_retry_delay, acks_on_failure, acks_on_timeout,
// reject_on_worker_lost, store_errors_even_if_ignored).
func (w *Worker) registered(items []string) []string {
	if len(items) == 0 {
		items = []string{"exchange", "routing_key", "rate_limit"}
	}
	w.mux.mu.RLock()
	defer w.mux.mu.RUnlock()
	names := slices.Sorted(maps.Keys(w.mux.m))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if strings.HasPrefix(n, "celery.") {
			continue
		}
		o := w.mux.m[n].opts
		var fields []string
		for _, it := range items {
			if v, ok := taskAttr(o, it); ok {
				fields = append(fields, it+"="+v)
			}
		}
		if len(fields) > 0 {
			out = append(out, n+" ["+strings.Join(fields, " ")+"]")
		} else {
			out = append(out, n)
		}
	}
	return out
}

func taskAttr(o TaskOptions, name string) (string, bool) {
	secs := func(d time.Duration) (string, bool) {
		if d <= 0 {
			return "", false
		}
		return pyjson.PyRepr(d.Seconds()), true
	}
	switch name {
	case "rate_limit":
		return o.RateLimit, o.RateLimit != ""
	case "time_limit":
		return secs(o.TimeLimit)
	case "soft_time_limit":
		return secs(o.SoftTimeLimit)
	case "acks_late":
		if o.AcksLate != nil {
			return pyBool(*o.AcksLate), true
		}
	case "track_started":
		if o.TrackStarted != nil {
			return pyBool(*o.TrackStarted), true
		}
	case "ignore_result":
		return pyBool(o.IgnoreResult), true
	case "max_retries":
		if o.MaxRetries == nil {
			return "3", true
		}
		if *o.MaxRetries < 0 {
			return "", false
		}
		return strconv.Itoa(*o.MaxRetries), true
	case "default_retry_delay":
		if o.DefaultRetryDelay <= 0 {
			return "180", true
		}
		return secs(o.DefaultRetryDelay)
	}
	for _, f := range []struct {
		attr string
		v    *bool
	}{
		{"acks_on_failure", o.AcksOnFailure}, {"acks_on_timeout", o.AcksOnTimeout},
		{"reject_on_worker_lost", o.RejectOnWorkerLost}, {"store_errors_even_if_ignored", o.StoreErrorsEvenIfIgnored},
	} {
		if name == f.attr && f.v != nil {
			return pyBool(*f.v), true
		}
	}
	return "", false
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// info is Request.info (docs/wire.md#request-info).
func (w *Worker) info(r *request, safe bool) control.TaskInfo {
	msg := r.msg
	var args, kwargs any = msg.Args, msg.Kwargs
	if len(msg.Args) == 0 {
		args = []any{}
	}
	if msg.Kwargs == nil {
		kwargs = map[string]any{}
	}
	if safe {
		args, kwargs = argsRepr(msg), kwargsRepr(msg)
	}
	prio, redelivered := r.d.Priority, msg.Redelivered
	info := control.TaskInfo{
		ID: msg.ID, Name: msg.Name(), Args: args, Kwargs: kwargs, Type: msg.Task,
		Hostname: w.o.hostname, Acknowledged: r.acked,
		DeliveryInfo: control.DeliveryInfo{
			Exchange: r.d.Exchange, RoutingKey: r.d.RoutingKey,
			Priority: &prio, Redelivered: &redelivered,
		},
	}
	if r.isActive {
		start, pid := float64(r.started.UnixMicro())/1e6, os.Getpid()
		info.TimeStart, info.WorkerPID = &start, &pid
	}
	return info
}

// requestInfos returns the info of the worker's requests that match,
// oldest first.
func (w *Worker) requestInfos(match func(*request) bool, safe bool) []control.TaskInfo {
	w.reg.mu.Lock()
	defer w.reg.mu.Unlock()
	out := []control.TaskInfo{}
	for _, r := range w.sortedRequests() {
		if match(r) {
			out = append(out, w.info(r, safe))
		}
	}
	return out
}

// sortedRequests lists active then reserved requests by start/receipt;
// w.mu must be held.
func (w *Worker) sortedRequests() []*request {
	rs := make([]*request, 0, len(w.reg.active)+len(w.reg.reserved))
	for _, r := range w.reg.active {
		rs = append(rs, r)
	}
	for _, r := range w.reg.reserved {
		rs = append(rs, r)
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].seq < rs[j].seq })
	return rs
}

func (w *Worker) scheduled() []control.ScheduledTask {
	w.reg.mu.Lock()
	defer w.reg.mu.Unlock()
	out := []control.ScheduledTask{}
	for _, r := range w.sortedRequests() {
		if r.isActive || !w.sched.isHeld(r) || r.msg.ETA.IsZero() {
			continue
		}
		eta := isoTime(r.msg.ETA)
		out = append(out, control.ScheduledTask{ETA: &eta, Priority: 6, Request: w.info(r, false)})
	}
	return out
}

func (w *Worker) queryTask(ids []string) map[string]control.TaskState {
	w.reg.mu.Lock()
	defer w.reg.mu.Unlock()
	out := map[string]control.TaskState{}
	for _, r := range w.sortedRequests() {
		if !slices.Contains(ids, r.msg.ID) {
			continue
		}
		state := "reserved"
		switch {
		case r.isActive:
			state = "active"
		case !r.msg.ETA.IsZero() && w.sched.isHeld(r):
			state = "scheduled"
		}
		out[r.msg.ID] = control.TaskState{State: state, Info: w.info(r, false)}
	}
	return out
}

// queueInfo is kombu's Queue.as_dict(recurse=True) for a queue declared
// by name (routing key = name, direct exchange = name).
func queueInfo(name string) control.QueueInfo {
	return control.QueueInfo{
		Name: name,
		Exchange: control.ExchangeInfo{
			Name: name, Type: "direct", Durable: true,
		},
		RoutingKey: name, Durable: true, Bindings: []any{},
	}
}

// conf is the worker's non-default configuration, under Celery's setting
// names.
func (w *Worker) conf() control.Conf {
	c := control.Conf{
		"worker_concurrency":                w.Concurrency(),
		"worker_prefetch_multiplier":        w.o.prefetchMultiplier,
		"task_acks_late":                    w.o.acksLate,
		"task_track_started":                w.o.trackStarted,
		"task_acks_on_failure_or_timeout":   w.o.ackPolicy.acksOnFailure && w.o.ackPolicy.acksOnTimeout,
		"task_reject_on_worker_lost":        w.o.ackPolicy.rejectOnWorkerLost,
		"task_store_errors_even_if_ignored": w.o.ackPolicy.storeErrorsEvenIfIgnored,
		"worker_send_task_events":           w.events.TaskEvents(),
		"result_extended":                   w.o.resultExtended,
		"task_default_queue":                celery.DefaultQueue,
		"task_queues":                       w.Queues(),
		"worker_disable_rate_limits":        w.o.disableRateLimits,
		"include":                           w.mux.Names(),
	}
	if w.o.timeLimit > 0 {
		c["task_time_limit"] = w.o.timeLimit.Seconds()
	}
	if w.o.softTimeLimit > 0 {
		c["task_soft_time_limit"] = w.o.softTimeLimit.Seconds()
	}
	if l := w.o.life; l.maxTasks > 0 {
		c["worker_max_tasks_per_child"] = l.maxTasks
	}
	if l := w.o.life; l.maxMemoryKiB > 0 {
		c["worker_max_memory_per_child"] = l.maxMemoryKiB
	}
	if l := w.o.life; l.soft > 0 {
		c["worker_soft_shutdown_timeout"] = l.soft.Seconds()
	}
	if w.o.brokerURL != "" {
		c["broker_url"] = maskURL(w.o.brokerURL)
	}
	if w.o.backendURL != "" {
		c["result_backend"] = maskURL(w.o.backendURL)
	}
	return c
}

// maskURL hides passwords as Celery's maybe_sanitize_url does
// (user:**@host).
func maskURL(u string) string { return redact.Mask(u, "**") }

func (w *Worker) report() string {
	return fmt.Sprintf("software -> celeriac:%s (%s) %s/%s\nworker -> %s\nbroker -> redis (db %s)\nconcurrency -> %d (goroutines)\nqueues -> %s\n",
		SoftwareVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH, w.o.hostname,
		w.broker.Info().VirtualHost, w.Concurrency(), strings.Join(w.Queues(), ", "))
}
