//go:build integration

package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pypeer"
)

// TestCLIControlAndEvents drives `celeriac control` and `celeriac events`
// against a Go worker started with -E.
func TestCLIControlAndEvents(t *testing.T) {
	e := newEnv(t)
	const node = "go-cli@celeriac"
	startBinary(t, "worker ready", "worker", "--broker", e.URL, "-E", "-c", "2", "-n", node)
	ev := startBinary(t, "", "events", "--json", "--broker", e.URL)

	out, stderr, code := wireCLI(t, "control", "rate_limit", "tasks.add", "5/s", "--broker", e.URL, "--json")
	if code != 0 || !strings.Contains(out, "new rate limit set successfully") || !strings.Contains(out, node) {
		t.Errorf("control rate_limit: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	out, stderr, code = wireCLI(t, "control", "pool_grow", "2", "--broker", e.URL, "--destination", node, "--json")
	if code != 0 || !strings.Contains(out, "pool will grow") {
		t.Errorf("control pool_grow: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	out, _, code = wireCLI(t, "inspect", "stats", "--broker", e.URL, "--json")
	var stats map[string]map[string]any
	if err := json.Unmarshal([]byte(out), &stats); code != 0 || err != nil {
		t.Fatalf("inspect stats: exit %d, %v\n%s", code, err, out)
	}
	if pool, _ := stats[node]["pool"].(map[string]any); pool["max-concurrency"] != float64(4) {
		t.Errorf("after pool_grow 2: pool = %v", stats[node]["pool"])
	}
	out, _, code = wireCLI(t, "inspect", "registered", "--broker", e.URL, "--json")
	if code != 0 || !strings.Contains(out, "tasks.add [rate_limit=5/s]") {
		t.Errorf("inspect registered after rate_limit: exit %d\n%s", code, out)
	}

	ctx := ctxFor(t, 30*time.Second)
	res, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "task-succeeded in `celeriac events`", 10*time.Second, func() bool {
		for line := range strings.Lines(ev.Log()) {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["type"] == "task-succeeded" && m["uuid"] == res.ID && m["hostname"] == node {
				return true
			}
		}
		return false
	})
	if !strings.Contains(ev.Log(), `"worker-heartbeat"`) {
		t.Errorf("no heartbeat in the event stream:\n%s", ev.Log())
	}
}

// TestCLICeleryFlags starts the worker binary with the flags a Celery user
// writes (issue 17 item 2), then checks what they did through inspect,
// itself run with Celery's short spellings and a plain-seconds timeout,
// and the exit statuses of a usage error and of no replies.
func TestCLICeleryFlags(t *testing.T) {
	e := newEnv(t)
	pidfile := filepath.Join(t.TempDir(), "worker.pid")
	// Waiting before the start: --purge deletes them.
	var purged []string
	for range 3 {
		r, err := e.Client.SendTask(ctxFor(t, 5*time.Second), "tasks.add", celery.Args(1, 1), celery.Queue("fb"))
		if err != nil {
			t.Fatal(err)
		}
		purged = append(purged, r.ID)
	}
	p := startBinary(t, "worker ready", "-A", "proj", "worker", "-b", e.URL, "-l", "INFO", "--concurrency", "3", "--purge",
		"--hostname", "flags@%h", "--queues=fa,fb,fc", "-X", "fc", "--events", "--prefetch-multiplier", "1",
		"--without-heartbeat", "--without-gossip", "--without-mingle", "-P", "threads", "-O", "fair",
		"--time-limit", "30", "--soft-time-limit=20s", "--heartbeat-interval", "0.5", "--pidfile", pidfile)
	host, _ := os.Hostname()
	node := "flags@" + host
	raw, err := os.ReadFile(pidfile)
	if err != nil || strings.TrimSpace(string(raw)) != strconv.Itoa(p.Cmd.Process.Pid) {
		t.Errorf("--pidfile holds %q (%v), want %d", raw, err, p.Cmd.Process.Pid)
	}
	for _, want := range []string{"-A/--app is ignored", "-P/--pool: tasks run in goroutines", "--without-heartbeat is ignored", "purged 3 messages from 2 queues"} {
		if !strings.Contains(p.Log(), want) {
			t.Errorf("worker log lacks %q", want)
		}
	}

	out, stderr, code := wireCLI(t, "inspect", "stats", "-b", e.URL, "-d", node, "-t", "5", "-j")
	var stats map[string]map[string]any
	if err := json.Unmarshal([]byte(out), &stats); code != 0 || err != nil {
		t.Fatalf("inspect stats -j: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if pool, _ := stats[node]["pool"].(map[string]any); pool["max-concurrency"] != float64(3) {
		t.Errorf("-c 3 --concurrency: pool = %v", stats[node]["pool"])
	}
	out, _, code = wireCLI(t, "inspect", "active_queues", "--broker="+e.URL, "--destination", node, "--timeout=5s", "--json")
	var aq map[string][]map[string]any
	if err := json.Unmarshal([]byte(out), &aq); code != 0 || err != nil {
		t.Fatalf("inspect active_queues: exit %d, %v\n%s", code, err, out)
	}
	var names []string
	for _, q := range aq[node] {
		names = append(names, fmt.Sprint(q["name"]))
	}
	if slices.Sort(names); !slices.Equal(names, []string{"fa", "fb"}) {
		t.Errorf("--queues=fa,fb,fc -X fc: consuming %v, want [fa fb]", names)
	}

	// A task on fb runs; result waits take plain seconds.
	ctx := ctxFor(t, 30*time.Second)
	res, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(2, 3), celery.Queue("fb"))
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code = wireCLI(t, "result", res.ID, "-b", e.URL, "--wait", "--timeout", "20")
	if code != 0 || !strings.Contains(out, `"SUCCESS"`) {
		t.Errorf("result --wait --timeout 20: exit %d\n%s%s", code, out, stderr)
	}
	failed, err := e.Client.SendTask(ctx, "tasks.fail", celery.Args("flagged"), celery.Queue("fa"))
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, code = wireCLI(t, "result", failed.ID, "-b", e.URL, "--wait", "--timeout=20s", "--traceback", "-t", "tasks.fail")
	if code != 0 || !strings.Contains(out, "ValueError: flagged") || strings.Contains(out, `"state"`) {
		t.Errorf("result --traceback: exit %d\n%s%s", code, out, stderr)
	}

	for _, id := range purged {
		if m, err := e.Client.AsyncResult(id).Info(ctx); err != nil || m.Status != celery.StatePending {
			t.Errorf("purged task %s: %v %v, want PENDING", id, m, err)
		}
	}

	// No node answers: Celery's line and EX_UNAVAILABLE (69), with and
	// without --json; a usage error exits 2.
	for _, args := range [][]string{{"inspect", "ping"}, {"inspect", "ping", "-j"}, {"control", "rate_limit", "tasks.add", "1/s"}} {
		out, stderr, code = wireCLI(t, append(args, "-b", e.URL, "-d", "nobody@nowhere", "-t", "0.3")...)
		if code != 69 || out != "" || strings.TrimSpace(stderr) != "Error: No nodes replied within time constraint" {
			t.Errorf("%v to nobody: exit %d, stdout %q, stderr %q; want 69 and Celery's line", args, code, out, stderr)
		}
	}
	_, stderr, code = wireCLI(t, "worker", "-b", e.URL, "--concurency", "2")
	if code != 2 || !strings.Contains(stderr, "did you mean --concurrency?") {
		t.Errorf("worker --concurency: exit %d, stderr %q", code, stderr)
	}
	out, _, code = wireCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "celeriac ") || !strings.Contains(out, "go1.") {
		t.Errorf("celeriac version: exit %d, %q", code, out)
	}

	// A second worker on the same pid file is refused; after a warm
	// shutdown the file is gone.
	_, stderr, code = wireCLI(t, "worker", "-b", e.URL, "--pidfile", pidfile, "-n", "other@x")
	if code != 1 || !strings.Contains(stderr, "--pidfile") {
		t.Errorf("second worker on a live pid file: exit %d, stderr %q", code, stderr)
	}
	p.Signal(syscall.SIGTERM)
	if !p.Wait(40 * time.Second) {
		t.Fatal("worker did not stop")
	}
	if _, err := os.Stat(pidfile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after exit: %v", err)
	}
}

// TestCLIEventsEscapesForgedFields: whoever can publish on the broker can
// forge an event; `celeriac events` prints its hostname and fields with
// control characters escaped (issue 16 item 13).
func TestCLIEventsEscapesForgedFields(t *testing.T) {
	e := newEnv(t)
	ev := startBinary(t, "listening on", "events", "-b", e.URL, "--wakeup=false")
	const forged = "evil\x1b[2J\x1b[H\nceleriac@fake: all good"
	disp := events.NewDispatcher(e.Broker, forged)
	defer disp.Close()
	ctx := ctxFor(t, 20*time.Second)
	// The receiver subscribes right after printing its banner: send until
	// the event shows.
	waitFor(t, "the forged event in `celeriac events`", 15*time.Second, func() bool {
		if err := disp.SendNow(ctx, "worker-heartbeat", map[string]any{"sw_ident": "py\rcelery\a"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		return strings.Contains(ev.Log(), `"evil\x1b[2J\x1b[H\nceleriac@fake: all good" [`)
	})
	if strings.ContainsAny(ev.Log(), "\x1b\r\a") || strings.Contains(ev.Log(), "\nceleriac@fake") {
		t.Errorf("control characters reached the output:\n%q", ev.Log())
	}
	if !strings.Contains(ev.Log(), `sw_ident="py\rcelery\a"`) {
		t.Errorf("field not escaped:\n%q", ev.Log())
	}
}

// TestCLIGlobalKeyPrefix: a Python app with broker_transport_options and
// result_backend_transport_options global_keyprefix sends to a `celeriac
// worker` binary given the same prefixes, and gets its result (issue 17
// item 7). The result prefix "r" has no separator: both sides make it
// "r_". The CLI takes the prefixes as flags, environment variables or a
// ?global_keyprefix= in the URL.
func TestCLIGlobalKeyPrefix(t *testing.T) {
	e := newEnv(t)
	const node = "kp@celeriac"
	startBinary(t, "worker ready", "worker", "-b", e.URL, "--global-keyprefix", "x:", "--result-global-keyprefix=r", "-c", "2", "-n", node)
	py := pypeer.Cmd{BrokerURL: e.URL, Env: []string{"CELERIAC_GLOBAL_KEYPREFIX=x:", "CELERIAC_RESULT_GLOBAL_KEYPREFIX=r"}}
	var sent struct {
		ID string `json:"id"`
	}
	py.RunJSON(t, &sent, "client.py", "send", "tasks.add", "--args", "[2, 3]")
	var got pyResult
	py.RunJSON(t, &got, "client.py", "get", sent.ID, "--timeout", "30")
	if got.State != "SUCCESS" || got.Result != float64(5) {
		t.Fatalf("Python get through prefixes = %+v", got)
	}
	if e.Redis.Do(t, "EXISTS", "r_celery-task-meta-"+sent.ID) != int64(1) || e.Redis.Do(t, "EXISTS", "celery-task-meta-"+sent.ID) != int64(0) {
		t.Errorf("result not under r_celery-task-meta-%s only", sent.ID)
	}
	if keys := e.Redis.Do(t, "KEYS", "_kombu*"); len(keys.([]any)) != 0 {
		t.Errorf("unprefixed kombu keys: %q", keys)
	}

	// The URL form for the broker (the backend shares the URL, but the
	// flag names its own prefix), then the environment.
	out, stderr, code := wireCLI(t, "call", "tasks.add", "-a", "[4, 5]", "--wait", "--timeout", "20", "-b", e.URL+"?global_keyprefix=x:", "--result-global-keyprefix", "r")
	if code != 0 || !strings.Contains(out, `"result": 9`) {
		t.Errorf("call with ?global_keyprefix=x: exit %d\n%s%s", code, out, stderr)
	}
	t.Setenv("CELERIAC_GLOBAL_KEYPREFIX", "x:")
	out, stderr, code = wireCLI(t, "inspect", "ping", "-b", e.URL, "-d", node, "-t", "5", "-j")
	if code != 0 || !strings.Contains(out, node) {
		t.Errorf("inspect ping with $CELERIAC_GLOBAL_KEYPREFIX: exit %d\n%s%s", code, out, stderr)
	}
	t.Setenv("CELERIAC_GLOBAL_KEYPREFIX", "")
	if _, _, code = wireCLI(t, "inspect", "ping", "-b", e.URL, "-d", node, "-t", "0.5"); code != 69 {
		t.Errorf("inspect ping without the prefix: exit %d, want 69 (no node sees it)", code)
	}
}
