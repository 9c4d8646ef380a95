//go:build integration

package amqp

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/celeriac/celeriac/internal/proctest"
	"github.com/celeriac/celeriac/internal/pypeer"
)

// TestFlowerOverAMQP: Flower 2.2 on an amqp:// broker sees a Go worker
// (its inspect replies and its events), shows the Go worker's task, and
// its control buttons act on it (pool grow, rate limit).
func TestFlowerOverAMQP(t *testing.T) {
	e := newEnv(t)
	const goNode = "goflower@localhost"
	e.startWorker(t, "-E", "-n", goNode, "-c", "2")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(pypeer.Python(t), "-m", "celery", "-A", "tasks", "flower",
		"--address=127.0.0.1", fmt.Sprintf("--port=%d", port), "--inspect_timeout=2000")
	cmd.Dir = pypeer.PyAppDir(t)
	cmd.Env = append(os.Environ(), "CELERY_BROKER_URL="+e.URL, "CELERY_RESULT_BACKEND="+e.Results, "FLOWER_UNAUTHENTICATED_API=true")
	startCmd(t, cmd)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	get := func(path string, out any) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil {
			json.Unmarshal(b, out)
		}
		return resp.StatusCode
	}
	waitUntil(t, "Flower answers", 60*time.Second, func() bool { return get("/healthcheck", nil) == 200 })
	var workers map[string]map[string]any
	waitUntil(t, "the Go worker in /api/workers?refresh=1", 60*time.Second, func() bool {
		workers = nil
		get("/api/workers?refresh=1", &workers)
		return workers[goNode]["stats"] != nil && workers[goNode]["registered"] != nil
	})
	var status map[string]bool
	waitUntil(t, "the Go worker online (events)", 30*time.Second, func() bool {
		get("/api/workers?status=1", &status)
		return status[goNode]
	})
	id := e.pySend(t, "tasks.add", "--args", "[2, 3]")
	if r := e.pyGet(t, id); r.State != "SUCCESS" {
		t.Fatalf("tasks.add: %+v", r)
	}
	var info map[string]any
	waitUntil(t, "the task in /api/task/info", 30*time.Second, func() bool {
		info = nil
		return get("/api/task/info/"+id, &info) == 200 && info["state"] == "SUCCESS"
	})
	if info["worker"] != goNode || info["result"] != "5" {
		t.Errorf("task info %v", info)
	}
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/api/worker/pool/grow/" + goNode, url.Values{"n": {"1"}}},
		{"/api/task/rate-limit/tasks.add", url.Values{"workername": {goNode}, "ratelimit": {"20/m"}}},
	} {
		resp, err := http.PostForm(base+c.path, c.form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("POST %s: %d %s", c.path, resp.StatusCode, b)
		}
	}
	var stats map[string]map[string]any
	waitUntil(t, "the pool grown to 3", 20*time.Second, func() bool {
		stats = nil
		get("/api/workers?refresh=1", &stats)
		pool, _ := stats[goNode]["stats"].(map[string]any)["pool"].(map[string]any)
		return fmt.Sprint(pool["max-concurrency"]) == "3"
	})
}

// startCmd starts cmd with its output captured and stops it at Cleanup.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	return proctest.Start(t, cmd, cmd.Path, 10*time.Second)
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
