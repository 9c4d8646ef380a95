//go:build integration

package integration

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
)

// scrape GETs a Prometheus endpoint and returns its text.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}

// metricValue returns the value of the series of name whose labels
// contain each of labels (comma-separated), or "".
func metricValue(text, name, labels string) string {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{([^}]*)\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		ok := true
		for l := range strings.SplitSeq(labels, ",") {
			if !strings.Contains(m[1], l) {
				ok = false
			}
		}
		if ok {
			return m[2]
		}
	}
	return ""
}

// TestWorkerMetricsEndpoint scrapes `celeriac worker --metrics-addr`
// while a Python client sends it tasks (issue 17 item 8), and the API's
// /metrics of `celeriac serve`, which includes its worker's.
func TestWorkerMetricsEndpoint(t *testing.T) {
	e := newEnv(t)
	p := startBinary(t, "worker ready", "worker", "-b", e.URL, "-Q", "celery,mq2", "-c", "2", "-n", "metrics@celeriac", "--metrics-addr", "127.0.0.1:0")
	url := regexp.MustCompile(`msg=metrics url=(\S+)`).FindStringSubmatch(p.Log())
	if url == nil {
		t.Fatalf("no metrics url logged:\n%s", p.Log())
	}
	ok := pySend(t, e.URL, "tasks.add", "--args", "[2, 3]")
	bad := pySend(t, e.URL, "tasks.fail", "--args", `["boom"]`)
	for _, id := range []string{ok, bad} {
		pyGet(t, e.URL, id)
	}

	text := scrape(t, url[1])
	for _, tc := range []struct{ name, labels, want string }{
		{"celeriac_worker_tasks_received_total", `hostname="metrics@celeriac",task="tasks.add"`, "1"},
		{"celeriac_worker_tasks_succeeded_total", `task="tasks.add"`, "1"},
		{"celeriac_worker_tasks_failed_total", `task="tasks.fail"`, "1"},
		{"celeriac_worker_task_runtime_seconds_count", `task="tasks.add"`, "1"},
		{"celeriac_worker_queue_length", `queue="celery"`, "0"},
		{"celeriac_worker_queue_length", `queue="mq2"`, "0"},
		{"celeriac_worker_prefetch_window", `hostname="metrics@celeriac"`, "8"},
		{"celeriac_worker_concurrency", `hostname="metrics@celeriac"`, "2"},
		{"celeriac_worker_broker_reconnects_total", `hostname="metrics@celeriac"`, "0"},
		{"celeriac_worker_abandoned_handlers", `hostname="metrics@celeriac"`, "0"},
	} {
		if got := metricValue(text, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s{%s} = %q, want %s", tc.name, tc.labels, got, tc.want)
		}
	}
	if !strings.Contains(text, "go_goroutines ") || !strings.Contains(text, "process_resident_memory_bytes ") {
		t.Error("no Go and process metrics")
	}

	// serve: the worker's metrics at the API's /metrics.
	apiURL, brokerURL := startServe(t, "-b", e.URL, "--addr", "127.0.0.1:0", "-n", "serve-metrics@celeriac", "-Q", "served")
	ctx := ctxFor(t, 30*time.Second)
	c, err := credis.NewClient(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.SendTask(ctx, "tasks.add", celery.Args(1, 2), celery.Queue("served"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	text = scrape(t, apiURL+"/metrics")
	if got := metricValue(text, "celeriac_worker_tasks_succeeded_total", `hostname="serve-metrics@celeriac",task="tasks.add"`); got != "1" {
		t.Errorf("serve /metrics: worker tasks succeeded = %q, want 1", got)
	}
	if !strings.Contains(text, "go_goroutines ") {
		t.Error("serve /metrics lost the API's own registry (Go metrics)")
	}
	text = scrape(t, apiURL+"/metrics") // the first scrape is counted now
	if !strings.Contains(text, `celeriac_api_requests_total{method="GET",route="/metrics"`) {
		t.Error("serve /metrics lost the API's own metrics")
	}
}
