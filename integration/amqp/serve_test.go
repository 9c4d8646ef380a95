//go:build integration

package amqp

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeOverAMQP: `celeriac serve --broker amqp://... --result-backend
// redis://...` runs the HTTP API and a Go worker on RabbitMQ: a task sent
// through the API runs and its result is read back, and the queue view
// reports RabbitMQ's queue length.
func TestServeOverAMQP(t *testing.T) {
	e := newEnv(t)
	serveRoundTrip(t, e, e.Results)
}

// TestServeRPCOverAMQP: TestServeOverAMQP with --result-backend rpc://:
// the API's client reads the result its worker sends to its reply queue.
func TestServeRPCOverAMQP(t *testing.T) {
	e := newEnv(t)
	serveRoundTrip(t, e, "rpc://")
}

// serveRoundTrip runs serve on e's vhost with results at backend, sends
// a task through the API and reads its result back.
func serveRoundTrip(t *testing.T, e *env, backend string) {
	t.Helper()
	p := startCeleriac(t, "serve", "-b", e.URL, "--result-backend", backend, "--addr", "127.0.0.1:0")
	p.WaitLog(t, "celeriac is serving.", 60*time.Second)
	api := ""
	for line := range strings.Lines(p.Log()) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "API:"); ok {
			api = strings.Fields(rest)[0]
		}
	}
	if api == "" {
		t.Fatalf("no API URL in the banner:\n%s", p.Log())
	}
	do := func(method, path, body string, out any) int {
		req, _ := http.NewRequest(method, api+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil {
			json.Unmarshal(b, out)
		}
		return resp.StatusCode
	}
	var sent struct {
		ID     string `json:"task_id"`
		TaskID string `json:"id"`
	}
	if code := do("POST", "/api/v1/tasks/tasks.add", `{"args": [20, 22]}`, &sent); code != 202 {
		t.Fatalf("POST /api/v1/tasks/tasks.add: %d", code)
	}
	id := sent.ID + sent.TaskID
	var task map[string]any
	do("GET", "/api/v1/tasks/"+id+"?wait=20s", "", &task)
	if task["state"] != "SUCCESS" || task["result"] != float64(42) {
		t.Fatalf("task %s: %v", id, task)
	}
	var queues struct {
		Queues []struct {
			Name     string `json:"name"`
			Messages int    `json:"messages"`
		} `json:"queues"`
	}
	if code := do("GET", "/api/v1/queues?queue=celery", "", &queues); code != 200 || len(queues.Queues) != 1 || queues.Queues[0].Messages != 0 {
		t.Errorf("GET /api/v1/queues: %d %+v", code, queues)
	}
	if code := do("GET", "/readyz", "", nil); code != 200 {
		t.Errorf("GET /readyz: %d", code)
	}
}
