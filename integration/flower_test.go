//go:build integration

package integration

// Flower 2.2 (a real process from the venv) against a Go worker next to a
// Python worker: the dashboard, the REST API, Flower's control buttons,
// Prometheus metrics, and the worker going offline. With
// CELERIAC_SCREENSHOTS=<dir> it also takes screenshots with headless
// Chromium (make screenshots).

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

const flGoNode = "go-flower@celeriac"

type flower struct {
	t    *testing.T
	base string
	log  *proc
}

// startFlower runs `celery -A tasks flower` on a free port and waits for
// /healthcheck.
func startFlower(t *testing.T, brokerURL string) *flower {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(pypeer.Python(t), "-m", "celery", "-A", "tasks", "flower",
		"--address=127.0.0.1", fmt.Sprintf("--port=%d", port), "--inspect_timeout=1000")
	cmd.Dir = pypeer.PyAppDir(t)
	cmd.Env = append(os.Environ(), "CELERY_BROKER_URL="+brokerURL, "CELERY_RESULT_BACKEND="+brokerURL, "FLOWER_UNAUTHENTICATED_API=true")
	p := startProc(t, cmd, "flower", 10*time.Second)
	f := &flower{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), log: p}
	waitFor(t, "flower /healthcheck", 30*time.Second, func() bool {
		resp, err := http.Get(f.base + "/healthcheck")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return f
}

// do sends a request and returns status and body.
func (f *flower) do(method, path string, body io.Reader, contentType string) (int, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.base+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (f *flower) getJSON(path string, out any) {
	f.t.Helper()
	code, b := f.do("GET", path, nil, "")
	if code != 200 {
		f.t.Fatalf("GET %s = %d: %s", path, code, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		f.t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

func (f *flower) postForm(path string, form url.Values) (int, string) {
	f.t.Helper()
	code, b := f.do("POST", path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
	return code, string(b)
}

func (f *flower) postJSON(path string, v any, out any) {
	f.t.Helper()
	body, _ := json.Marshal(v)
	code, b := f.do("POST", path, strings.NewReader(string(body)), "application/json")
	if code != 200 {
		f.t.Fatalf("POST %s = %d: %s", path, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("POST %s: %v: %s", path, err, b)
		}
	}
}

func TestFlower(t *testing.T) {
	e := newEnv(t)
	py := pypeer.StartWorker(t, e.URL, pypeer.WithQueues("pyq"), pypeer.WithEvents())
	_, stopGo := runGoWorker(t, e.URL, nil, worker.WithHostname(flGoNode), worker.WithResultExtended(true), worker.WithConcurrency(2),
		worker.WithEvents(true), worker.WithBrokerURL(e.URL, e.URL), wkLogger(t))
	ctl := control.New(e.Broker)
	waitGoNode(t, ctl, flGoNode)
	ctx := ctxFor(t, 90*time.Second)

	// Tasks run before Flower starts are not in its event state; send
	// them after.
	fl := startFlower(t, e.URL)
	var workers map[string]map[string]any
	waitFor(t, "both workers in /api/workers?refresh=1", 20*time.Second, func() bool {
		fl.getJSON("/api/workers?refresh=1", &workers)
		return workers[flGoNode]["stats"] != nil && workers[py.NodeName()]["stats"] != nil
	})
	gw := workers[flGoNode]
	// Flower keeps only non-empty replies: the empty active, reserved,
	// scheduled and revoked lists are dropped for Python workers too.
	for _, k := range []string{"stats", "registered", "active_queues", "conf"} {
		if _, ok := gw[k]; !ok {
			t.Errorf("/api/workers[%s] lacks %s: %v", flGoNode, k, gw)
		}
	}
	if reg, _ := gw["registered"].([]any); !slices.Contains(reg, any("tasks.add")) {
		t.Errorf("registered = %v", gw["registered"])
	}
	if aq, _ := gw["active_queues"].([]any); len(aq) != 1 || aq[0].(map[string]any)["name"] != "celery" {
		t.Errorf("active_queues = %v", gw["active_queues"])
	}
	var status map[string]bool
	waitFor(t, "Go worker online in /api/workers?status=1", 10*time.Second, func() bool {
		fl.getJSON("/api/workers?status=1", &status)
		return status[flGoNode]
	})

	// Tasks on the Go worker, seen through events.
	okID := pySend(t, e.URL, "tasks.add", "--args", "[2, 3]")
	failID := pySend(t, e.URL, "tasks.fail", "--args", `["boom"]`)
	pyGet(t, e.URL, okID)
	pyGet(t, e.URL, failID)
	var info map[string]any
	waitFor(t, "succeeded task in /api/task/info", 10*time.Second, func() bool {
		code, b := fl.do("GET", "/api/task/info/"+okID, nil, "")
		info = nil
		json.Unmarshal(b, &info)
		return code == 200 && info["state"] == "SUCCESS"
	})
	if info["result"] != "5" || info["args"] != "[2, 3]" || info["worker"] != flGoNode || info["name"] != "tasks.add" {
		t.Errorf("task info = %v", info)
	}
	if rt, _ := info["runtime"].(float64); rt <= 0 {
		t.Errorf("runtime = %v", info["runtime"])
	}
	waitFor(t, "failed task in /api/task/info", 10*time.Second, func() bool {
		code, b := fl.do("GET", "/api/task/info/"+failID, nil, "")
		info = nil
		json.Unmarshal(b, &info)
		return code == 200 && info["state"] == "FAILURE"
	})
	if info["exception"] != "ValueError('boom')" || !strings.Contains(fmt.Sprint(info["traceback"]), "ValueError: boom") {
		t.Errorf("failed task info = %v", info)
	}
	var tasks map[string]map[string]any
	fl.getJSON("/api/tasks?workername="+flGoNode, &tasks)
	if tasks[okID]["state"] != "SUCCESS" || tasks[failID]["state"] != "FAILURE" {
		t.Errorf("/api/tasks = %v", tasks)
	}

	// Flower applies tasks that the Go worker runs.
	var applied map[string]any
	fl.postJSON("/api/task/async-apply/tasks.add", map[string]any{"args": []int{1, 2}}, &applied)
	m, err := e.Client.AsyncResult(applied["task-id"].(string)).Wait(ctx)
	if err != nil || m.Status != celery.StateSuccess || m.Worker != flGoNode {
		t.Errorf("async-apply: %+v, %v", m, err)
	}
	fl.postJSON("/api/task/send-task/tasks.mul", map[string]any{"args": []int{6, 7}}, &applied)
	if m, err = e.Client.AsyncResult(applied["task-id"].(string)).Wait(ctx); err != nil || m.Worker != flGoNode {
		t.Errorf("send-task: %+v, %v", m, err)
	}
	later := pySend(t, e.URL, "tasks.add", "--args", "[1, 1]", "--countdown", "60")
	waitFor(t, "scheduled on Go", 10*time.Second, func() bool {
		s, err := ctl.Inspect(ctx, "scheduled", nil, time.Second, flGoNode)
		return err == nil && len(s[flGoNode].([]any)) == 1
	})
	if code, body := fl.postForm("/api/task/revoke/"+later, url.Values{}); code != 200 {
		t.Errorf("revoke = %d %s", code, body)
	}
	if m, err = e.Client.AsyncResult(later).Wait(ctx); err != nil || m.Status != celery.StateRevoked {
		t.Errorf("revoked via Flower: %+v, %v", m, err)
	}

	// Flower's buttons.
	node := url.PathEscape(flGoNode)
	for _, b := range []struct {
		path string
		form url.Values
	}{
		{"/api/worker/pool/grow/" + node, url.Values{"n": {"2"}}},
		{"/api/worker/pool/shrink/" + node, url.Values{"n": {"1"}}},
		{"/api/task/rate-limit/tasks.add", url.Values{"workername": {flGoNode}, "ratelimit": {"20/m"}}},
		{"/api/task/timeout/tasks.add", url.Values{"workername": {flGoNode}, "soft": {"7"}, "hard": {"9"}}},
		{"/api/worker/queue/add-consumer/" + node, url.Values{"queue": {"parked"}}},
	} {
		if code, body := fl.postForm(b.path, b.form); code != 200 {
			t.Errorf("POST %s = %d %s", b.path, code, body)
		}
	}
	if code, body := fl.postForm("/api/worker/pool/autoscale/"+node, url.Values{"min": {"1"}, "max": {"3"}}); code != 403 || !strings.Contains(body, "Autoscale not enabled") {
		t.Errorf("autoscale = %d %s", code, body)
	}
	st, err := ctl.Inspect(ctx, "stats", nil, time.Second, flGoNode)
	if err != nil || fmt.Sprint(st[flGoNode].(map[string]any)["pool"].(map[string]any)["max-concurrency"]) != "3" {
		t.Errorf("stats after Flower grow 2/shrink 1 = %v, %v", st, err)
	}
	reg, err := ctl.Inspect(ctx, "registered", map[string]any{"taskinfoitems": []string{"rate_limit", "soft_time_limit", "time_limit"}}, time.Second, flGoNode)
	if err != nil || !slices.Contains(reg[flGoNode].([]any), any("tasks.add [rate_limit=20/m soft_time_limit=7.0 time_limit=9.0]")) {
		t.Errorf("registered after Flower limits = %v, %v", reg, err)
	}
	// Queue lengths: Flower counts the queues its last inspect saw. Refresh
	// while "parked" is consumed, stop consuming it, then park messages.
	fl.getJSON("/api/workers?refresh=1", &workers)
	if code, body := fl.postForm("/api/worker/queue/cancel-consumer/"+node, url.Values{"queue": {"parked"}}); code != 200 {
		t.Errorf("cancel-consumer = %d %s", code, body)
	}
	waitFor(t, "parked no longer consumed", 10*time.Second, func() bool {
		aq, err := ctl.Inspect(ctx, "active_queues", nil, time.Second, flGoNode)
		return err == nil && len(aq[flGoNode].([]any)) == 1
	})
	for i := range 3 {
		if _, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(i, i), celery.Queue("parked")); err != nil {
			t.Fatal(err)
		}
	}
	var ql struct {
		ActiveQueues []struct {
			Name     string `json:"name"`
			Messages int    `json:"messages"`
		} `json:"active_queues"`
	}
	fl.getJSON("/api/queues/length", &ql)
	found := false
	for _, q := range ql.ActiveQueues {
		if q.Name == "parked" {
			found = true
			if n, _ := e.Broker.QueueLength(ctx, "parked"); q.Messages != 3 || n != 3 {
				t.Errorf("parked: Flower %d, broker %d, want 3", q.Messages, n)
			}
		}
	}
	if !found {
		t.Errorf("/api/queues/length = %+v", ql)
	}

	// Pages and metrics.
	for _, p := range []string{"/workers", "/worker/" + node, "/tasks", "/task/" + okID} {
		code, body := fl.do("GET", p, nil, "")
		if code != 200 {
			t.Errorf("GET %s = %d", p, code)
		}
		if strings.HasPrefix(p, "/worker") && !strings.Contains(string(body), flGoNode) {
			t.Errorf("GET %s does not name %s", p, flGoNode)
		}
	}
	code, metrics := fl.do("GET", "/metrics", nil, "")
	if code != 200 || !strings.Contains(string(metrics), `worker="`+flGoNode+`"`) {
		t.Errorf("/metrics lacks the Go worker (%d)", code)
	}
	if dir := os.Getenv("CELERIAC_SCREENSHOTS"); dir != "" {
		screenshot(t, fl.base+"/workers", filepath.Join(dir, "flower-workers.png"))
		screenshot(t, fl.base+"/worker/"+node, filepath.Join(dir, "flower-worker.png"))
		screenshot(t, fl.base+"/task/"+failID, filepath.Join(dir, "flower-task.png"))
	}

	// Exit: offline within 10 s (worker-offline makes it immediate).
	stopGo()
	waitFor(t, "Go worker offline in /api/workers?status=1", 10*time.Second, func() bool {
		fl.getJSON("/api/workers?status=1", &status)
		return !status[flGoNode]
	})
	if !status[py.NodeName()] {
		t.Errorf("Python worker not online: %v", status)
	}
}

// screenshot saves a PNG of url taken with headless Chromium.
func screenshot(t *testing.T, url, out string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("screenshots need Debian chromium: %v", err)
	}
	abs, _ := filepath.Abs(out)
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--window-size=1400,900", "--virtual-time-budget=4000", "--user-data-dir="+t.TempDir(),
		"--screenshot="+abs, url)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("chromium %s: %v\n%s", url, err, b)
	}
}
