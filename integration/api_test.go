//go:build integration

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/celeriac/celeriac/internal/pypeer"
)

// startServe runs `celeriac serve args...` and returns its API base URL
// and broker URL, read from the banner.
func startServe(t *testing.T, args ...string) (apiURL, brokerURL string) {
	t.Helper()
	p := startBinary(t, "celeriac is serving.", append([]string{"serve"}, args...)...)
	apiURL, brokerURL = bannerField(p.Log(), "API:"), bannerField(p.Log(), "Broker:")
	if apiURL == "" || brokerURL == "" {
		t.Fatalf("no URLs in the banner:\n%s", p.Log())
	}
	return apiURL, brokerURL
}

// bannerField returns the first field after label on a line of serve's
// banner (its stable "API:" and "Broker:" lines), or "".
func bannerField(banner, label string) string {
	for line := range strings.Lines(banner) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), label); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

func apiDo(t *testing.T, ctx context.Context, method, url, body string, out any) int {
	t.Helper()
	var req *http.Request
	var err error
	if body != "" {
		req, err = http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, err = http.NewRequestWithContext(ctx, method, url, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want JSON", method, url, ct)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if out != nil {
		b, _ := json.Marshal(m)
		json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

// checkOriginalEndpoints is the original app's flow: /run-task/?duration=1,
// then /task-status/{id} until SUCCESS, plus every bad input.
func checkOriginalEndpoints(t *testing.T, apiURL string) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	var sent struct {
		TaskID string `json:"task_id"`
		Status string `json:"status"`
	}
	if code := apiDo(t, ctx, "GET", apiURL+"/run-task/?duration=1", "", &sent); code != 200 || sent.Status != "Task submitted" {
		t.Fatalf("/run-task/?duration=1 = %d %+v", code, sent)
	}
	// Wait on the result channel, then read the status the original way.
	var task struct{ State string }
	apiDo(t, ctx, "GET", apiURL+"/api/v1/tasks/"+sent.TaskID+"?wait=20s", "", &task)
	var st struct{ Status, Result string }
	if code := apiDo(t, ctx, "GET", apiURL+"/task-status/"+sent.TaskID, "", &st); code != 200 ||
		st.Status != "SUCCESS" || st.Result != "Task completed in 1 seconds!" {
		t.Fatalf("/task-status/%s = %d %+v (after wait: %s)", sent.TaskID, code, st, task.State)
	}
	for _, target := range []string{
		"/run-task/", "/run-task/?duration=abc", "/run-task/?duration=-1", "/run-task/?duration=100000",
		"/task-status/not%20an%20id",
	} {
		var e struct{ Detail []map[string]any }
		if code := apiDo(t, ctx, "GET", apiURL+target, "", &e); code != 422 || len(e.Detail) != 1 || e.Detail[0]["loc"] == nil {
			t.Errorf("GET %s = %d %+v, want 422 with a FastAPI detail", target, code, e)
		}
	}
}

func TestAPIOriginalEndpointsGoWorker(t *testing.T) {
	e := newEnv(t)
	apiURL, _ := startServe(t, "--broker", e.URL, "--addr", "127.0.0.1:0", "--loglevel", "warning", "--max-duration", "60")
	checkOriginalEndpoints(t, apiURL)
}

func TestAPIOriginalEndpointsPythonWorker(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithTrackStarted())
	apiURL, _ := startServe(t, "--broker", e.URL, "--addr", "127.0.0.1:0", "--loglevel", "warning", "--worker=false",
		"--allow-tasks", "tasks.progress")
	checkOriginalEndpoints(t, apiURL)

	// The event stream of tasks.progress run by the Python worker: PENDING
	// first, SUCCESS last, PROGRESS in between with a rising count.
	ctx := ctxFor(t, 30*time.Second)
	id := uuid.NewString()
	req, _ := http.NewRequestWithContext(ctx, "GET", apiURL+"/api/v1/tasks/"+id+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan map[string]any, 256)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				json.Unmarshal([]byte(data), &m)
				events <- m
			}
		}
	}()
	first := <-events
	if first["state"] != "PENDING" {
		t.Fatalf("first event = %v, want PENDING", first)
	}
	if code := apiDo(t, ctx, "POST", apiURL+"/api/v1/tasks/tasks.progress", `{"args": [50], "task_id": "`+id+`"}`, nil); code != 202 {
		t.Fatalf("POST tasks.progress = %d", code)
	}
	var states []string
	last := 0.0
	var final map[string]any
	for ev := range events {
		states = append(states, ev["state"].(string))
		final = ev
		if ev["state"] == "PROGRESS" {
			cur := ev["meta"].(map[string]any)["current"].(float64)
			if cur <= last {
				t.Errorf("PROGRESS current %v after %v", cur, last)
			}
			last = cur
		}
	}
	if final["state"] != "SUCCESS" || final["result"] != "done" || last == 0 {
		t.Errorf("event states = %v, final %v: want PROGRESS then SUCCESS done", states, final)
	}
}

// TestServeTokenTrimmed: a CELERIAC_API_TOKEN ending in a newline and
// spaces (a common .env mistake) is trimmed with a warning, so the token
// works; a blank one is refused (issue 16 item 12).
func TestServeTokenTrimmed(t *testing.T) {
	e := newEnv(t)
	cmd := exec.Command(binary, "serve", "--worker=false", "--addr", "127.0.0.1:0", "-b", e.URL)
	cmd.Env = append(os.Environ(), "CELERIAC_API_TOKEN=s3cret\n  ")
	p := startProc(t, cmd, "celeriac serve", 20*time.Second)
	waitFor(t, "celeriac is serving", 30*time.Second, func() bool { return strings.Contains(p.Log(), "celeriac is serving.") })
	if !strings.Contains(p.Log(), "CELERIAC_API_TOKEN had whitespace around it") {
		t.Errorf("no warning about the trimmed token:\n%s", p.Log())
	}
	apiURL := bannerField(p.Log(), "API:")
	ctx := ctxFor(t, 20*time.Second)
	for _, tc := range []struct {
		auth string
		want int
	}{{"Bearer s3cret", http.StatusOK}, {"", http.StatusUnauthorized}, {"Bearer s3cre", http.StatusUnauthorized}} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+"/api/v1/workers", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.auth != "" {
			req.Header["Authorization"] = []string{tc.auth}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /api/v1/workers with %q: %s, want %d", tc.auth, resp.Status, tc.want)
		}
	}

	blank := exec.Command(binary, "serve", "--worker=false", "--addr", "127.0.0.1:0", "-b", e.URL)
	blank.Env = append(os.Environ(), "CELERIAC_API_TOKEN= \n")
	out, err := blank.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "CELERIAC_API_TOKEN is set but blank") {
		t.Errorf("serve with a blank token: %v\n%s", err, out)
	}
}
