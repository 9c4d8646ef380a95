//go:build integration

package integration

import (
	"io"
	"net/http"
	"slices"
	"strconv"
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

// TestHardenAPI runs the attacks of issue #16 items 2, 5, 6, 7 and 14
// against the real `celeriac serve` (API and Go worker) on a real Redis,
// then checks that the fleet still works.
func TestHardenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	apiURL, _ := startServe(t, "--broker", e.URL, "--addr", "127.0.0.1:0", "--loglevel", "warning",
		"--max-duration", "60", "--max-result-bytes", "150000")
	ctx := ctxFor(t, 60*time.Second)
	post := func(task, body string) (int, map[string]any) {
		var out map[string]any
		code := apiDo(t, ctx, "POST", apiURL+"/api/v1/tasks/"+task, body, &out)
		return code, out
	}
	detailType := func(out map[string]any) string {
		l, _ := out["detail"].([]any)
		if len(l) == 0 {
			return ""
		}
		typ, _ := l[0].(map[string]any)["type"].(string)
		return typ
	}

	// 2: the test-only built-ins are not in the default allow-list.
	for _, task := range []string{"tasks.flaky", "tasks.fail", "tasks.echo", "tasks.sleep", "tasks.stubborn"} {
		if code, out := post(task, `{"args": ["celery", 1]}`); code != 404 {
			t.Errorf("POST %s = %d %v, want 404 (not allowed by default)", task, code, out)
		}
	}
	if n := wkInt(t, e, "EXISTS", "celery"); n != 0 {
		t.Errorf("a refused task still touched the key celery")
	}

	// 7: --max-duration on the generic endpoint, by position and keyword.
	for _, body := range []string{`{"args": [100000]}`, `{"kwargs": {"duration": 61}}`, `{"args": [-1]}`, `{"args": [1e400]}`} {
		if code, out := post("tasks.sample_task", body); code != 422 || detailType(out) == "" {
			t.Errorf("POST tasks.sample_task %s = %d %v, want 422", body, code, out)
		}
	}

	// 14: lone surrogates and args deeper than the worker decodes.
	deep := strings.Repeat("[", 512) + strings.Repeat("]", 512)
	for _, body := range []string{`{"args": ["\ud800", "x"]}`, `{"kwargs": {"x": "\udfff"}}`, `{"args": [` + deep + `, 1]}`} {
		if code, out := post("tasks.add", body); code != 422 || detailType(out) == "" {
			t.Errorf("POST tasks.add %.60s = %d %v, want 422", body, code, out)
		}
	}

	// 6: tasks.mul of a 100 kB string by 1000 fails at the worker, before
	// it builds 100 MB; a result over --max-result-bytes gets 413.
	code, out := post("tasks.mul", `{"args": [["`+strings.Repeat("A", 100000)+`"], 1000]}`)
	if code != 202 {
		t.Fatalf("POST tasks.mul = %d %v", code, out)
	}
	var task struct {
		State string
		Error struct{ Type, Message string }
	}
	apiDo(t, ctx, "GET", apiURL+"/api/v1/tasks/"+out["id"].(string)+"?wait=20s", "", &task)
	if task.State != "FAILURE" || task.Error.Type != "MemoryError" || !strings.Contains(task.Error.Message, "limit") {
		t.Errorf("tasks.mul of 100 MB = %+v, want a MemoryError FAILURE naming the limit", task)
	}
	code, out = post("tasks.mul", `{"args": ["`+strings.Repeat("B", 60000)+`", 3]}`)
	if code != 202 {
		t.Fatalf("POST tasks.mul = %d %v", code, out)
	}
	id := out["id"].(string)
	for _, target := range []string{"/api/v1/tasks/" + id + "?wait=20s", "/task-status/" + id} {
		var e struct{ Detail string }
		if code := apiDo(t, ctx, "GET", apiURL+target, "", &e); code != 413 || !strings.Contains(e.Detail, "150000") {
			t.Errorf("GET %s = %d %+v, want 413 with a reason", target, code, e)
		}
	}

	// 5: 1000 odd methods leave the metrics bounded.
	for i := range 1000 {
		req, _ := http.NewRequestWithContext(ctx, "X"+strings.Repeat("Y", i%7)+strconv.Itoa(i), apiURL+"/nope/"+strconv.Itoa(i), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", apiURL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	series := strings.Count(string(metrics), "\nceleriac_api_requests_total{")
	t.Logf("fault: api: %d request series, %d bytes of /metrics after 1000 odd methods", series, len(metrics))
	if series > 15 || !strings.Contains(string(metrics), `method="other",route="unmatched",status="404"} 1000`) {
		t.Errorf("%d request series after 1000 odd methods:\n%s", series, metrics)
	}

	// The fleet still works.
	code, out = post("tasks.add", `{"args": [2, 3]}`)
	if code != 202 {
		t.Fatalf("POST tasks.add = %d %v", code, out)
	}
	var sum struct {
		State  string
		Result float64
	}
	if apiDo(t, ctx, "GET", apiURL+"/api/v1/tasks/"+out["id"].(string)+"?wait=20s", "", &sum); sum.State != "SUCCESS" || sum.Result != 5 {
		t.Errorf("tasks.add after the attacks = %+v", sum)
	}
}
