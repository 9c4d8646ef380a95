//go:build integration

package integration

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// TestHardenShutdownTimeout: the real worker binary, acks-late, one slot
// busy with a handler that ignores its context (tasks.stubborn) and three
// prefetched tasks. After SIGTERM it exits about --shutdown-timeout later
// instead of when the handler returns; every message (the abandoned one
// and the three never started) is back in the queue, unacked is empty, the
// log names the abandoned task, and a second worker runs all four once.
func TestHardenShutdownTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const timeout = time.Second
	w1 := startBinary(t, "worker ready", "worker", "--broker", e.URL, "-c", "1", "--acks-late",
		"--shutdown-timeout", timeout.String(), "-n", "stubborn@celeriac")
	stubborn := faultPublish(t, e, 1, "tasks.stubborn", celery.Args(4))
	adds := faultPublish(t, e, 3, "tasks.add", celery.Args(1, 2))
	ids := append(slices.Clone(stubborn), adds...)
	wkEventually(t, 20*time.Second, "the stubborn task running and 3 tasks prefetched", func() bool {
		return wkInt(t, e, "HLEN", "unacked") == 4 && wkQueueLen(t, e, "celery") == 0 &&
			strings.Contains(w1.Log(), stubborn[0]+"] received")
	})
	sigterm := time.Now()
	w1.Signal(syscall.SIGTERM)
	// The handler would return 4 s after it started; the worker must not
	// wait for it. 10 s of margin for a loaded machine: the bound proven is
	// "before the handler returns", which the log checks exactly below.
	if !w1.Wait(timeout + 10*time.Second) {
		t.Fatalf("no exit within the shutdown timeout + 10 s:\n%s", w1.Log())
	}
	exited := time.Since(sigterm)
	t.Logf("fault: shutdown timeout %v: exited %v after SIGTERM", timeout, exited.Round(time.Millisecond))
	log := w1.Log()
	if strings.Contains(log, "abandoned task handler returned") || len(wkSucceeded(log)) != 0 {
		t.Errorf("the worker waited for the stubborn handler:\n%s", log)
	}
	if !strings.Contains(log, "shutdown timeout: gave up on running tasks") || !strings.Contains(log, stubborn[0]) {
		t.Errorf("the log does not name the abandoned task %s:\n%s", stubborn[0], log)
	}
	if n := wkInt(t, e, "HLEN", "unacked") + wkInt(t, e, "ZCARD", "unacked_index"); n != 0 {
		t.Errorf("%d entries left in unacked/unacked_index after the shutdown", n)
	}
	back := faultPopOrder(t, e, "celery")
	if got, want := slices.Sorted(slices.Values(back)), slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		t.Fatalf("queue after the shutdown holds %v, want every task %v", back, ids)
	}

	w2 := startBinary(t, "worker ready", "worker", "--broker", e.URL, "-c", "4", "-n", "after@celeriac")
	metas := wkWaitReady(t, e, 60*time.Second, ids)
	for _, id := range ids {
		if metas[id].Status != celery.StateSuccess {
			t.Errorf("task %s: %s %v", id, metas[id].Status, metas[id].Result)
		}
	}
	faultDrained(t, e, "celery")
	wkEventually(t, 10*time.Second, "every success log line", func() bool { return len(wkSucceeded(w2.Log())) == 4 })
	for id, n := range wkSucceeded(w2.Log()) {
		if n != 1 {
			t.Errorf("task %s ran %d times on the second worker", id, n)
		}
	}
}
