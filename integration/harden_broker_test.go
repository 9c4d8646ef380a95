//go:build integration

package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/internal/redistest"
)

// fillRedis appends to a ballast string until Redis refuses writes for
// memory (maxmemory, noeviction), and returns the OOM error.
func fillRedis(t *testing.T, e *env) error {
	t.Helper()
	c := e.Redis.Dial(t)
	chunk := strings.Repeat("x", 64<<10)
	for range 10000 {
		if _, err := c.Do("APPEND", "ballast", chunk); err != nil {
			if !strings.Contains(err.Error(), "OOM") {
				t.Fatalf("filling Redis: %v", err)
			}
			return err
		}
	}
	t.Fatal("Redis never refused a write: no maxmemory?")
	return nil
}

// TestHardenMaxmemoryAcksLate: a Go worker with acks_late starts on a
// Redis at maxmemory (noeviction) holding a backlog of 300 tasks. Redis
// refuses its records in unacked and its results: nothing runs
// unrecorded, results are retried, and once memory is freed every task
// ends with a SUCCESS result, nothing is left in unacked or the queue, and
// the log says what happened.
func TestHardenMaxmemoryAcksLate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, redistest.WithArgs("--maxmemory", "16mb", "--maxmemory-policy", "noeviction"))
	const n = 300
	ids := faultPublish(t, e, n, "tasks.sleep", celery.Args(0.001))
	oom := fillRedis(t, e)
	t.Logf("Redis full: %v", oom)
	start := time.Now()
	w := startBinary(t, "worker ready", "worker", "--broker", e.URL, "--acks-late", "-c", "8",
		"--visibility-timeout", "1h", "-n", "maxmemory@celeriac")
	// Let it meet the full Redis for a while: results refused and retried.
	wkEventually(t, 60*time.Second, "the worker to meet refused writes", func() bool {
		l := w.Log()
		return strings.Contains(l, "could not store result; retrying") || strings.Contains(l, "Redis refused to record a delivery")
	})
	time.Sleep(2 * time.Second)
	if got := len(wkSucceeded(w.Log())); got >= n {
		t.Fatalf("all %d tasks done while Redis was full: the test did not exercise maxmemory", got)
	}
	e.Redis.Do(t, "CONFIG", "SET", "maxmemory", "0")
	freed := time.Now()
	metas := wkWaitReady(t, e, 180*time.Second, ids)
	faultDrained(t, e, "celery")
	lost, dups := faultTally(t, e, ids, metas, w.Log())
	if lost != 0 {
		t.Errorf("%d of %d tasks lost", lost, n)
	}
	log := w.Log()
	if testing.Verbose() {
		for _, l := range strings.Split(log, "\n") {
			if !strings.Contains(l, "level=INFO") || strings.Contains(l, "resumed") || strings.Contains(l, "retrying") {
				t.Log(l)
			}
		}
	}
	// What happened is in the log: refused records (the blocking pop's)
	// and refused results, retried until stored. (On Redis 7 the batch pop
	// still records at maxmemory, so tasks run and their results wait.)
	if strings.Contains(log, "could not store result; retrying") != strings.Contains(log, "result stored after retrying") {
		t.Errorf("worker log: results refused but never stored after retrying, or the reverse")
	}
	if !strings.Contains(log, "could not store result; retrying") && !strings.Contains(log, "Redis refused to record a delivery") {
		t.Errorf("worker log says nothing of the full Redis")
	}
	if strings.Contains(log, "could not store result\" ") || strings.Contains(log, "msg=\"could not store result\"") {
		t.Errorf("a result was given up:\n%s", log)
	}
	t.Logf("maxmemory: %d tasks, %d lost, %d ran twice; %d records refused and given back; drained %v after memory was freed (%v in all)",
		n, lost, dups, strings.Count(log, "goes back to its queue"), time.Since(freed).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// TestHardenInvalidJSONKill: a Go worker with acks_late holds messages
// that look like JSON objects but are not valid JSON, among real tasks,
// when it is killed (SIGKILL). unacked then holds only valid JSON, and a
// Python worker's restore sweep brings back every real task.
func TestHardenInvalidJSONKill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	garbage := []string{`{not json}`, `{"a": 0x10}`, `{"a": inf}`, `{"body": "x",}`}
	var ids []string
	for range 5 {
		ids = append(ids, faultPublish(t, e, 4, "tasks.sleep", celery.Args(2))...)
		for _, g := range garbage {
			e.Redis.Do(t, "LPUSH", "celery", g)
		}
	}
	w := startBinary(t, "worker ready", "worker", "--broker", e.URL, "--acks-late", "-c", "2", "--prefetch-multiplier", "20",
		"--visibility-timeout", "3s", "-n", "garbage@celeriac")
	wkEventually(t, 30*time.Second, "the worker to take the whole queue", func() bool {
		return wkQueueLen(t, e, "celery") == 0 && strings.Count(w.Log(), "rejected malformed message") == 5*len(garbage)
	})
	held := wkInt(t, e, "HLEN", "unacked")
	w.Signal(syscall.SIGKILL)
	w.Wait(10 * time.Second)
	if held == 0 {
		t.Fatal("nothing unacknowledged at the kill")
	}
	vals, err := redis.Strings(e.Redis.Do(t, "HVALS", "unacked"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Python's json decides: it is what kombu's restore uses.
	py := exec.Command(pypeer.Python(t), "-c", "import json, sys\nfor line in sys.stdin.read().split('\\x00'):\n    line and json.loads(line)\n")
	py.Stdin = strings.NewReader(strings.Join(vals, "\x00"))
	if out, err := py.CombinedOutput(); err != nil {
		t.Fatalf("unacked holds an entry Python's json cannot load: %v\n%s", err, out)
	}
	for _, v := range vals {
		if !json.Valid([]byte(v)) {
			t.Errorf("unacked entry is not JSON: %.80q", v)
		}
	}
	if log := w.Log(); !strings.Contains(log, "content=") {
		t.Errorf("the rejection lines do not show the content:\n%s", log)
	}
	pw := pypeer.StartWorker(t, e.URL, pypeer.WithConcurrency(4), pypeer.WithAcksLate(),
		pypeer.WithVisibilityTimeout(3*time.Second), pypeer.WithEnv("CELERIAC_RESTORE_INTERVAL=1"))
	metas := wkWaitReady(t, e, 120*time.Second, ids)
	for _, id := range ids {
		if m := metas[id]; m == nil || m.Status != celery.StateSuccess {
			t.Errorf("task %s: %v", id, m)
		}
	}
	if plog := pw.Log(); strings.Contains(plog, "JSONDecodeError") || strings.Contains(plog, "Traceback") {
		t.Errorf("the Python worker's restore failed:\n%s", plog)
	}
	t.Logf("invalid JSON: %d messages unacknowledged at the kill, all valid JSON; %d tasks restored by Python and done", held, len(ids))
}

// TestHardenHostileQueues: the attacks of #16.1 against a real `celeriac
// serve`, a Go worker, Python's remote control and the CLI: every queue
// name that is a key of the transport or the result backend is refused
// (422, an error reply, exit 2), no such key changes type, and the fleet
// works afterwards (a Python client's task runs, inspect answers).
func TestHardenHostileQueues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const node = "hostile@celeriac"
	startBinary(t, "worker ready", "worker", "--broker", e.URL, "-n", node, "-c", "2")
	_, api := faultServe(t, "--broker", e.URL)
	hostile := []string{"unacked", "unacked_index", "unacked_mutex", "_kombu.binding.reply.celery.pidbox",
		"_kombu.binding.celery", "celery-task-meta-x", "0f3a.reply.celery.pidbox"}
	before := map[string]string{}
	for _, q := range hostile {
		before[q], _ = redis.String(e.Redis.Do(t, "TYPE", q), nil)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, q := range hostile {
		r := faultCall(ctxFor(t, 10*time.Second), client, "POST", api+"/api/v1/tasks/tasks.add", `{"args": [1, 2], "queue": "`+q+`"}`)
		if r.err != nil || r.status != http.StatusUnprocessableEntity {
			t.Errorf("POST queue %q: %d %v, want 422", q, r.status, r.err)
		}
	}
	// Remote control from Python: add_consumer is refused with an error reply.
	var out []map[string]any
	pyControl(t, e.URL, &out, "call", "add_consumer", "--args", `{"queue": "unacked"}`, "--destination", node)
	if len(out) != 1 {
		t.Fatalf("add_consumer: replies %v", out)
	}
	if r, _ := out[0][node].(map[string]any); !strings.Contains(fmt.Sprint(r["error"]), "invalid queue name") {
		t.Errorf("add_consumer(unacked) = %v, want an error", r)
	}
	// The CLI refuses in one line, exit 2.
	cmd := exec.Command(binary, "call", "tasks.add", "--broker", e.URL, "--queue", "unacked")
	msg, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Count(strings.TrimSpace(string(msg)), "\n") != 0 {
		t.Errorf("celeriac call --queue unacked: %v, %q; want exit 2 and one line", err, msg)
	}
	for _, q := range hostile {
		if typ, _ := redis.String(e.Redis.Do(t, "TYPE", q), nil); typ != before[q] {
			t.Errorf("key %q was a %s, is a %s", q, before[q], typ)
		}
	}
	// The fleet works.
	id := pySend(t, e.URL, "tasks.add", "--args", "[2, 40]")
	if r := pyGet(t, e.URL, id); r.State != "SUCCESS" || r.Result != 42.0 {
		t.Errorf("task after the attacks: %+v", r)
	}
	if aq, _ := pyInspect(t, e.URL, node, "active_queues", nil).([]any); len(aq) != 1 {
		t.Errorf("active_queues = %v, want celery only", aq)
	}
}
