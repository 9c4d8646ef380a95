//go:build integration

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	credis "github.com/celeriac/celeriac/celery/redis"
)

// portFree reports whether addr can be listened on now.
func portFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// startRedisOn runs a redis-server on 127.0.0.1:port until the test ends
// and waits until it answers.
func startRedisOn(t *testing.T, port int) *proc {
	t.Helper()
	p := startProc(t, exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir()), "redis-server :"+strconv.Itoa(port), 5*time.Second)
	url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	b, err := credis.NewBroker(url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := b.Ping(ctx)
		cancel()
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %d does not answer: %v\n%s", port, err, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeNoFlags is `make run`: `celeriac serve` with no flags starts
// the embedded broker, a Go worker and the API on 127.0.0.1:8000, and both
// a Python Celery client and the API reach it. What else listens on this
// machine must not matter: the test itself occupies 127.0.0.1:6379 with a
// redis-server when that port is free (as on most Celery developers'
// machines), so the embedded broker moves to a free port and the banner's
// Broker line names that port, not 6379. When 127.0.0.1:8000 is taken by
// something else the API part runs on a free port instead; either way a
// second `celeriac serve` on the taken 8000 exits with a one-line error.
func TestServeNoFlags(t *testing.T) {
	var other *proc
	if portFree("127.0.0.1:6379") {
		other = startRedisOn(t, 6379)
	} else {
		t.Log("127.0.0.1:6379 is taken already; the embedded broker must move to a free port")
	}
	var args []string
	if !portFree("127.0.0.1:8000") {
		t.Log("127.0.0.1:8000 is taken by another process; the API part uses a free port")
		args = []string{"--addr", "127.0.0.1:0"}
	}
	t.Setenv("CELERY_BROKER_URL", "")
	t.Setenv("CELERY_RESULT_BACKEND", "")
	apiURL, brokerURL := startServe(t, args...)
	if strings.Contains(brokerURL, ":6379/") {
		t.Fatalf("banner broker %s: want the embedded broker on a free port (6379 is taken)", brokerURL)
	}
	if args == nil && apiURL != "http://127.0.0.1:8000" {
		t.Errorf("API on %s, want http://127.0.0.1:8000 (the default --addr)", apiURL)
	}

	id := pySend(t, brokerURL, "tasks.add", "--args", "[2, 3]")
	if r := pyGet(t, brokerURL, id); r.State != "SUCCESS" || r.Result != 5.0 {
		t.Errorf("Python send_task tasks.add via the embedded broker = %+v", r)
	}
	ctx := ctxFor(t, 20*time.Second)
	var sent struct {
		TaskID string `json:"task_id"`
	}
	apiDo(t, ctx, "GET", apiURL+"/run-task/?duration=0", "", &sent)
	var task struct{ State, Result string }
	if apiDo(t, ctx, "GET", apiURL+"/api/v1/tasks/"+sent.TaskID+"?wait=10s", "", &task); task.State != "SUCCESS" || task.Result != "Task completed in 0 seconds!" {
		t.Errorf("API task = %+v", task)
	}
	// Python reads the API's task too.
	if r := pyGet(t, brokerURL, sent.TaskID); r.State != "SUCCESS" {
		t.Errorf("Python AsyncResult of the API's task = %+v", r)
	}
	var ready map[string]any
	if code := apiDo(t, ctx, "GET", apiURL+"/readyz", "", &ready); code != 200 {
		t.Errorf("/readyz = %d %v", code, ready)
	}
	if other != nil {
		// The test's own Redis on 6379 saw none of it.
		b, err := credis.NewBroker("redis://127.0.0.1:6379/0")
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if n, err := b.QueueLength(ctx, "celery"); err != nil || n != 0 {
			t.Errorf("the Redis on 6379 has %d messages (%v); serve must not use it", n, err)
		}
	}

	// 127.0.0.1:8000 is taken now (by the serve above or by another
	// process): a second serve says so in one line and exits non-zero.
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, binary, "serve")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "--addr 127.0.0.1:8000") {
		t.Errorf("serve with 127.0.0.1:8000 taken: %v\n%s\nwant exit 1 naming --addr 127.0.0.1:8000", err, out)
	}
}

// freeTCPPort returns a loopback port nothing listens on now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestStartupBrokerLater is honest start-up: `celeriac worker` and
// `celeriac serve` started before their broker log each retry the way
// Celery does (attempt number and delay), say nothing of being ready and
// keep /readyz at 503; once a redis-server appears on the port they come
// up, /readyz turns 200 and a task runs.
func TestStartupBrokerLater(t *testing.T) {
	port := freeTCPPort(t)
	url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	api := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	s := startBinary(t, "", "serve", "--broker", url, "--addr", api, "--worker=false")
	w := startBinary(t, "", "worker", "--broker", url, "-n", "late@celeriac", "-c", "2")
	retry := "Cannot connect to " + url + ": "
	for _, p := range []*proc{s, w} {
		wkEventually(t, 30*time.Second, "a retry line", func() bool {
			return strings.Contains(p.Log(), retry) && strings.Contains(p.Log(), "Trying again in 2.00 seconds... (1/100)")
		})
	}
	ctx := ctxFor(t, 60*time.Second)
	var body map[string]any
	if code := apiDo(t, ctx, "GET", "http://"+api+"/readyz", "", &body); code != 503 {
		t.Errorf("/readyz before the broker = %d %v, want 503", code, body)
	}
	if strings.Contains(s.Log(), "celeriac is serving") || strings.Contains(w.Log(), "worker ready") {
		t.Fatalf("ready before the broker answers:\nserve:\n%s\nworker:\n%s", s.Log(), w.Log())
	}

	startRedisOn(t, port)
	wkEventually(t, 40*time.Second, "serve to come up", func() bool { return strings.Contains(s.Log(), "celeriac is serving") })
	wkEventually(t, 40*time.Second, "the worker to come up", func() bool { return strings.Contains(w.Log(), "worker ready") })
	if strings.Contains(s.Log(), "Ctrl-C discards") {
		t.Error("serve on a real Redis says Ctrl-C discards its tasks")
	}
	if code := apiDo(t, ctx, "GET", "http://"+api+"/readyz", "", &body); code != 200 {
		t.Errorf("/readyz with the broker up = %d %v, want 200", code, body)
	}
	var sent struct{ ID string }
	if code := apiDo(t, ctx, "POST", "http://"+api+"/api/v1/tasks/tasks.add", `{"args": [2, 3]}`, &sent); code != 202 {
		t.Fatalf("POST tasks.add = %d", code)
	}
	var task struct {
		State  string
		Result float64
	}
	if apiDo(t, ctx, "GET", "http://"+api+"/api/v1/tasks/"+sent.ID+"?wait=20s", "", &task); task.State != "SUCCESS" || task.Result != 5 {
		t.Errorf("tasks.add after the late start = %+v", task)
	}
	// The worker's success line gives the runtime as a duration
	// (runtime=41.2µs), not as float seconds (runtime=4.12e-05). The line
	// comes after the result is stored (Celery's order), and either
	// serve's worker or the other one may have run the task.
	success := regexp.MustCompile(`succeeded in .* runtime=(\S+)`)
	var m []string
	wkEventually(t, 10*time.Second, "a success line with a runtime", func() bool {
		m = success.FindStringSubmatch(s.Log() + w.Log())
		return m != nil
	})
	if _, err := time.ParseDuration(m[1]); err != nil || strings.Contains(m[1], "e-") {
		t.Errorf("runtime=%s is not a duration", m[1])
	}
}

// TestMakeFlower is `make run` then `make flower`: serve writes its broker
// URL to --broker-url-file while it serves (and removes it at exit), and
// `make flower` starts Flower from .venv against that broker. Without the
// file, make flower says to start make run first.
func TestMakeFlower(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	urlFile := t.TempDir() + "/broker-url"
	port := strconv.Itoa(freeTCPPort(t))
	vars := []string{"-s", "-C", "..", "flower", "BROKER_URL_FILE=" + urlFile, "FLOWER_PORT=" + port}

	out, err := exec.Command("make", vars...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "start `make run` first") {
		t.Errorf("make flower without make run: %v\n%s", err, out)
	}

	t.Setenv("CELERY_BROKER_URL", "")
	s := startBinary(t, "celeriac is serving.", "serve", "--addr", "127.0.0.1:0", "--embedded-addr", "127.0.0.1:0",
		"--broker-url-file", urlFile, "-n", "flower-make@celeriac", "--loglevel", "warning")
	brokerURL := bannerField(s.Log(), "Broker:")
	if b, err := os.ReadFile(urlFile); err != nil || strings.TrimSpace(string(b)) != brokerURL {
		t.Fatalf("--broker-url-file holds %q (%v), want the banner's %s", b, err, brokerURL)
	}

	cmd := exec.Command("make", vars...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	f := startProc(t, cmd, "make flower", 10*time.Second)
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) })
	wkEventually(t, 60*time.Second, "Flower's /healthcheck", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/healthcheck")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	// Flower follows the serve's broker: its worker is listed.
	wkEventually(t, 30*time.Second, "Flower to list the serve's worker", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/workers?json=1")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "flower-make@celeriac")
	})
	if !strings.Contains(f.Log(), "Flower on http://localhost:"+port) {
		t.Errorf("make flower output:\n%s", f.Log())
	}

	s.Signal(syscall.SIGTERM)
	if !s.Wait(20 * time.Second) {
		t.Fatal("serve did not stop")
	}
	if _, err := os.Stat(urlFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--broker-url-file after exit: %v, want it removed", err)
	}
}

// TestServeTrackStartedEvents: what the README says of the event stream,
// PENDING, STARTED (with --track-started), SUCCESS, holds for serve's own
// worker.
func TestServeTrackStartedEvents(t *testing.T) {
	e := newEnv(t)
	apiURL, _ := startServe(t, "--broker", e.URL, "--addr", "127.0.0.1:0", "--track-started", "--loglevel", "warning")
	ctx := ctxFor(t, 30*time.Second)
	id := uuid.NewString()
	req, _ := http.NewRequestWithContext(ctx, "GET", apiURL+"/api/v1/tasks/"+id+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	states := make(chan string, 16)
	go func() {
		defer close(states)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m struct{ State string }
				json.Unmarshal([]byte(data), &m)
				states <- m.State
			}
		}
	}()
	if first := <-states; first != "PENDING" {
		t.Fatalf("first event %q, want PENDING", first)
	}
	if code := apiDo(t, ctx, "POST", apiURL+"/api/v1/tasks/tasks.sample_task", `{"args": [1], "task_id": "`+id+`"}`, nil); code != 202 {
		t.Fatalf("POST tasks.sample_task = %d", code)
	}
	var got []string
	for s := range states {
		got = append(got, s)
	}
	if strings.Join(got, ",") != "STARTED,SUCCESS" {
		t.Errorf("states after PENDING = %v, want STARTED, SUCCESS", got)
	}
}
