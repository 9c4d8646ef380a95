//go:build integration

package integration

// Worker lifecycle (docs/operations.md#worker-lifecycle): recycling after
// N tasks or over M KiB (the binary re-executes itself warm, without
// losing held messages), Celery 5.5's soft shutdown, and the autoscaler
// with its remote-control commands sent by Python Celery.

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/worker"
)

// lcRunsOnce checks that every task succeeded and ran once in log.
func lcRunsOnce(t *testing.T, e *env, p *proc, ids []string) {
	t.Helper()
	metas := wkWaitReady(t, e, 60*time.Second, ids)
	for _, id := range ids {
		if metas[id].Status != celery.StateSuccess {
			t.Errorf("task %s: %s %v", id, metas[id].Status, metas[id].Result)
		}
	}
	faultDrained(t, e, "celery")
	wkEventually(t, 10*time.Second, "every success log line", func() bool { return len(wkSucceeded(p.Log())) == len(ids) })
	for id, n := range wkSucceeded(p.Log()) {
		if n != 1 {
			t.Errorf("task %s ran %d times", id, n)
		}
	}
}

// TestLifecycleMaxTasksPerChild: with --max-tasks-per-child 3 the binary
// re-executes itself (same pid) after every third task, restoring what it
// prefetched or held for its ETA; every task runs once.
func TestLifecycleMaxTasksPerChild(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := startBinary(t, "worker ready", "worker", "--broker", e.URL, "-c", "1", "--max-tasks-per-child", "3", "-n", "recycle@celeriac")
	pid := w.Cmd.Process.Pid
	ids := faultPublish(t, e, 1, "tasks.add", celery.Args(1, 2), celery.Countdown(2*time.Second)) // ETA-held across a recycle
	ids = append(ids, faultPublish(t, e, 10, "tasks.sleep", celery.Args(0.05))...)
	lcRunsOnce(t, e, w, ids)
	wkEventually(t, 30*time.Second, "three re-executions", func() bool {
		return strings.Count(w.Log(), "re-executing the worker") >= 3 && strings.Count(w.Log(), "worker ready") >= 4
	})
	log := w.Log()
	if !strings.Contains(log, "max tasks per child reached") {
		t.Errorf("the log gives no reason for the recycle:\n%s", log)
	}
	select {
	case <-w.Done():
		t.Fatalf("the worker exited instead of re-executing:\n%s", log)
	default:
	}
	if w.Cmd.Process.Pid != pid {
		t.Errorf("pid changed")
	}
}

// TestLifecycleMaxMemoryPerChild: a limit of 1 KiB is always exceeded, so
// the worker recycles after each task, and every task still runs once.
func TestLifecycleMaxMemoryPerChild(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := startBinary(t, "worker ready", "worker", "--broker", e.URL, "-c", "2", "--max-memory-per-child", "1", "-n", "memory@celeriac")
	ids := faultPublish(t, e, 4, "tasks.add", celery.Args(1, 2))
	lcRunsOnce(t, e, w, ids)
	if log := w.Log(); !strings.Contains(log, "max memory per child exceeded") || !strings.Contains(log, "re-executing the worker") {
		t.Errorf("no memory recycle in the log:\n%s", log)
	}
}

// TestLifecycleSoftShutdown: SIGQUIT starts the cold shutdown; with
// --soft-shutdown-timeout a task that ends within it finishes, and one
// that does not is cancelled and its acks-late message restored with the
// prefetched ones. REMAP_SIGTERM=SIGQUIT makes SIGTERM do the same.
func TestLifecycleSoftShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := func(env ...string) *proc {
		args := []string{"worker", "--broker", e.URL, "-c", "1", "--acks-late", "--soft-shutdown-timeout", "3s", "--shutdown-timeout", "60s", "-n", "soft@celeriac"}
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), env...)
		p := startProc(t, cmd, "celeriac "+strings.Join(args, " "), 20*time.Second)
		wkEventually(t, 30*time.Second, "worker ready", func() bool { return strings.Contains(p.Log(), "worker ready") })
		return p
	}

	t.Run("finishes-within", func(t *testing.T) {
		w := start()
		short := faultPublish(t, e, 1, "tasks.sleep", celery.Args(1))
		wkEventually(t, 20*time.Second, "the task running", func() bool { return strings.Contains(w.Log(), short[0]+"] received") })
		w.Signal(syscall.SIGQUIT)
		if !w.Wait(20 * time.Second) {
			t.Fatalf("no exit after the soft shutdown:\n%s", w.Log())
		}
		m := wkWaitReady(t, e, 10*time.Second, short)[short[0]]
		if m.Status != celery.StateSuccess {
			t.Errorf("task within the soft shutdown timeout: %s %v", m.Status, m.Result)
		}
	})

	t.Run("cancelled-and-restored", func(t *testing.T) {
		w := start("REMAP_SIGTERM=SIGQUIT")
		long := faultPublish(t, e, 1, "tasks.sleep", celery.Args(30))
		adds := faultPublish(t, e, 3, "tasks.add", celery.Args(1, 2))
		ids := append(slices.Clone(long), adds...)
		wkEventually(t, 20*time.Second, "the long task running and 3 prefetched", func() bool {
			return wkInt(t, e, "HLEN", "unacked") == 4 && wkQueueLen(t, e, "celery") == 0 &&
				strings.Contains(w.Log(), long[0]+"] received")
		})
		w.Signal(syscall.SIGTERM) // remapped: a cold shutdown, not a warm one
		if !w.Wait(20 * time.Second) {
			t.Fatalf("no exit after the soft shutdown timeout (warm would wait 60 s):\n%s", w.Log())
		}
		log := w.Log()
		if !strings.Contains(log, "soft shutdown timeout: cancelling running tasks") {
			t.Errorf("no soft shutdown in the log:\n%s", log)
		}
		if n := wkInt(t, e, "HLEN", "unacked") + wkInt(t, e, "ZCARD", "unacked_index"); n != 0 {
			t.Errorf("%d entries left in unacked/unacked_index after the shutdown", n)
		}
		back := faultPopOrder(t, e, "celery")
		if got, want := slices.Sorted(slices.Values(back)), slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
			t.Fatalf("queue after the shutdown holds %v, want every task %v", back, ids)
		}
	})
}

// TestLifecycleAutoscale: a Go worker with WithAutoscale(4, 1) grows for
// waiting tasks and shrinks back after the keepalive; Python Celery's
// stats shows the autoscaler, its autoscale command changes the bounds,
// and pool_grow is refused as Celery refuses it.
func TestLifecycleAutoscale(t *testing.T) {
	e := newEnv(t)
	const node = "autoscale@celeriac"
	startGoWorker(t, e.URL, nil, worker.WithHostname(node), wkLogger(t),
		worker.WithAutoscale(4, 1), worker.WithAutoscaleKeepalive(time.Second))
	ctl := control.New(e.Broker)
	waitGoNode(t, ctl, node)
	scaler := func() map[string]any {
		st, _ := pyInspect(t, e.URL, node, "stats", nil).(map[string]any)
		a, _ := st["autoscaler"].(map[string]any)
		if a == nil {
			t.Fatalf("stats has no autoscaler: %v", st)
		}
		return a
	}
	num := func(v any) int { f, _ := v.(float64); return int(f) }
	if a := scaler(); num(a["max"]) != 4 || num(a["min"]) != 1 || num(a["current"]) != 1 {
		t.Errorf("autoscaler at start: %v", a)
	}
	ids := faultPublish(t, e, 4, "tasks.sleep", celery.Args(3))
	wkEventually(t, 20*time.Second, "the pool grown to 4", func() bool { return num(scaler()["current"]) == 4 })
	wkWaitReady(t, e, 30*time.Second, ids)
	wkEventually(t, 20*time.Second, "the pool shrunk to 1 after the keepalive", func() bool { return num(scaler()["current"]) == 1 })

	call := func(method, args string) map[string]any {
		var replies []map[string]map[string]any
		pyControl(t, e.URL, &replies, "call", method, "--args", args, "--destination", node)
		if len(replies) != 1 {
			t.Fatalf("%s replies: %v", method, replies)
		}
		return replies[0][node]
	}
	if r := call("autoscale", `{"max": 6, "min": 2}`); r["ok"] != "autoscale now max=6 min=2" {
		t.Errorf("autoscale reply: %v", r)
	}
	if a := scaler(); num(a["max"]) != 6 || num(a["min"]) != 2 || num(a["current"]) != 2 {
		t.Errorf("autoscaler after autoscale(6, 2): %v", a)
	}
	st, _ := pyInspect(t, e.URL, node, "stats", nil).(map[string]any)
	if pc := num(st["prefetch_count"]); pc != 6*4 {
		t.Errorf("prefetch_count %d, want max × multiplier = 24", pc)
	}
	if r := call("pool_grow", `{"n": 1}`); !strings.Contains(jsonText(r), "pool_grow is not supported with autoscale") {
		t.Errorf("pool_grow with autoscale: %v", r)
	}
	if r := call("pool_shrink", `{"n": 1}`); !strings.Contains(jsonText(r), "pool_shrink is not supported with autoscale") {
		t.Errorf("pool_shrink with autoscale: %v", r)
	}
}

// TestLifecycleAutoscaleCommandWithout: a worker without --autoscale
// answers the autoscale command with Celery's error.
func TestLifecycleAutoscaleCommandWithout(t *testing.T) {
	e := newEnv(t)
	const node = "fixed@celeriac"
	startGoWorker(t, e.URL, nil, worker.WithHostname(node), wkLogger(t), worker.WithConcurrency(2))
	waitGoNode(t, control.New(e.Broker), node)
	var replies []map[string]map[string]any
	pyControl(t, e.URL, &replies, "call", "autoscale", "--args", `{"max": 3, "min": 1}`, "--destination", node)
	b, _ := json.Marshal(replies)
	if len(replies) != 1 || !strings.Contains(string(b), "Autoscale not enabled") {
		t.Errorf("autoscale without --autoscale: %s", b)
	}
}

// TestLifecycleAutoscaleFlower: Flower's autoscale button changes the
// bounds of a Go worker's autoscaler.
func TestLifecycleAutoscaleFlower(t *testing.T) {
	e := newEnv(t)
	const node = "flower-autoscale@celeriac"
	startGoWorker(t, e.URL, nil, worker.WithHostname(node), wkLogger(t), worker.WithAutoscale(3, 1),
		worker.WithBrokerURL(e.URL, e.URL))
	ctl := control.New(e.Broker)
	waitGoNode(t, ctl, node)
	fl := startFlower(t, e.URL)
	var workers map[string]map[string]any
	waitFor(t, "the worker in /api/workers?refresh=1", 20*time.Second, func() bool {
		fl.getJSON("/api/workers?refresh=1", &workers)
		return workers[node]["stats"] != nil
	})
	if code, body := fl.postForm("/api/worker/pool/autoscale/"+node, map[string][]string{"min": {"2"}, "max": {"5"}}); code != 200 || !strings.Contains(body, "Autoscaling") {
		t.Fatalf("Flower autoscale = %d %s", code, body)
	}
	st, err := ctl.Stats(ctxFor(t, 10*time.Second), time.Second, node)
	if err != nil {
		t.Fatal(err)
	}
	if a := st[node].Autoscaler; a == nil || a.Max != 5 || a.Min != 2 || a.Current != 2 {
		t.Errorf("autoscaler after Flower's autoscale(min 2, max 5): %+v", a)
	}
}
