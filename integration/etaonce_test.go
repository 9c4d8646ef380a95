//go:build integration

package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/pypeer"
)

// etaRuns returns how many times tasks.flaky ran for key (Go and Python
// count in the same Redis key).
func etaRuns(t *testing.T, e *env, key string) int {
	t.Helper()
	n, err := redis.Int(e.Redis.Do(t, "GET", "celeriac:flaky:"+key), nil)
	if err == redis.ErrNil {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestETAOnce: an ETA task whose countdown (20 s) is far beyond the
// visibility timeout (4 s) runs once (issue #22 item 3). Before, every
// sweep restored the held message and it ran 7 to 8 times.
func TestETAOnce(t *testing.T) {
	t.Parallel()
	const vt = 4 * time.Second

	// A Go worker holds it while its own sweep and a Python worker's
	// (every second) run; it runs once, at its ETA.
	t.Run("MixedFleet", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		// The Python worker consumes another queue, so it only sweeps the
		// shared unacked (its restore_visible every second).
		pypeer.StartWorker(t, e.URL, pypeer.WithQueues("etaonce.py"), pypeer.WithVisibilityTimeout(vt),
			pypeer.WithEnv("CELERIAC_RESTORE_INTERVAL=1"))
		gw := startBinary(t, "worker ready", "worker", "--broker", e.URL, "--visibility-timeout", "4s",
			"-Q", "etaonce", "-n", "go@etaonce")
		sent := time.Now()
		id := pySend(t, e.URL, "tasks.flaky", "--args", `["mixed", 0]`, "--countdown", "20", "--queue", "etaonce")
		// A Python sweep from a process of its own too, as often as it
		// can, until the ETA.
		for time.Since(sent) < 18*time.Second {
			pypeer.RunJSON(t, e.URL, new(any), "client.py", "restore-sweep", "--visibility-timeout", "4")
			if n := wkInt(t, e, "LLEN", "etaonce"); n != 0 {
				t.Fatalf("held ETA message restored to its queue %v after sending", time.Since(sent))
			}
			if n := etaRuns(t, e, "mixed"); n != 0 {
				t.Fatalf("ETA task ran %v after sending, before its ETA", time.Since(sent))
			}
		}
		if r := pyGet(t, e.URL, id); r.State != "SUCCESS" {
			t.Fatalf("task %s: %+v", id, r)
		}
		// Two more visibility timeouts of sweeps: nothing runs again.
		time.Sleep(2*vt + time.Second)
		if n := etaRuns(t, e, "mixed"); n != 1 {
			t.Errorf("ETA task ran %d times, want 1", n)
		}
		if n := strings.Count(gw.Log(), "tasks.flaky["+id+"] received"); n != 1 {
			t.Errorf("Go worker received the task %d times, want 1", n)
		}
		if n := wkInt(t, e, "HLEN", "unacked") + wkInt(t, e, "ZCARD", "unacked_index") + wkInt(t, e, "LLEN", "etaonce"); n != 0 {
			t.Errorf("unacked, unacked_index and the queue hold %d entries, want none", n)
		}
	})

	// The holder dies (kill -9): the message is restored after its ETA
	// plus the visibility timeout, not before, and runs once on a Python
	// worker.
	t.Run("HolderKilled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		gw := startBinary(t, "worker ready", "worker", "--broker", e.URL, "--visibility-timeout", "4s",
			"-Q", "etaonce", "-n", "doomed@etaonce")
		sent := time.Now()
		id := pySend(t, e.URL, "tasks.flaky", "--args", `["killed", 0]`, "--countdown", "10", "--queue", "etaonce")
		wkEventually(t, 20*time.Second, "the Go worker holds the ETA message", func() bool {
			return strings.Contains(gw.Log(), "tasks.flaky["+id+"] received") && wkInt(t, e, "HLEN", "unacked") == 1
		})
		gw.Cmd.Process.Kill()
		<-gw.Done()
		pypeer.StartWorker(t, e.URL, pypeer.WithQueues("etaonce"), pypeer.WithVisibilityTimeout(vt),
			pypeer.WithEnv("CELERIAC_RESTORE_INTERVAL=1"))
		// Until the ETA plus the visibility timeout it stays in unacked.
		for time.Since(sent) < 10*time.Second+vt-time.Second {
			if wkInt(t, e, "HLEN", "unacked") != 1 || etaRuns(t, e, "killed") != 0 {
				t.Fatalf("dead holder's ETA message restored or run %v after sending, before ETA + visibility timeout", time.Since(sent))
			}
			time.Sleep(200 * time.Millisecond)
		}
		if r := pyGet(t, e.URL, id); r.State != "SUCCESS" {
			t.Fatalf("task %s: %+v", id, r)
		}
		time.Sleep(2 * time.Second)
		if n := etaRuns(t, e, "killed"); n != 1 {
			t.Errorf("ETA task ran %d times, want 1", n)
		}
	})
}
