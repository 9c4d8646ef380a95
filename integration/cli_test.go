//go:build integration

package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
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
