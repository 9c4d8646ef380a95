package pypeer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type sent struct {
	ID string `json:"id"`
}

type result struct {
	State    string `json:"state"`
	Result   any    `json:"result"`
	Name     string `json:"name"`
	Worker   string `json:"worker"`
	Queue    string `json:"queue"`
	Retries  int    `json:"retries"`
	DateDone string `json:"date_done"`
}

func TestWorkerRunsAdd(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL(0)
	w := pypeer.StartWorker(t, url)
	if !strings.HasPrefix(w.NodeName(), "py-") || !strings.Contains(w.NodeName(), "@") {
		t.Errorf("NodeName() = %q", w.NodeName())
	}
	if w.PID() <= 0 {
		t.Errorf("PID() = %d", w.PID())
	}

	var s sent
	pypeer.RunJSON(t, url, &s, "client.py", "send", "tasks.add", "--args", "[2, 3]")
	if s.ID == "" {
		t.Fatal("send returned no id")
	}
	var r result
	pypeer.RunJSON(t, url, &r, "client.py", "get", s.ID, "--timeout", "30")
	if r.State != "SUCCESS" || r.Result != float64(5) {
		t.Fatalf("tasks.add(2, 3): state %q result %v, want SUCCESS 5", r.State, r.Result)
	}
	if r.Name != "tasks.add" || r.Worker != w.NodeName() || r.Queue != "celery" || r.DateDone == "" {
		t.Errorf("extended result = %+v (worker %s)", r, w.NodeName())
	}
	if !strings.Contains(w.Log(), "tasks.add["+s.ID+"] succeeded") {
		t.Errorf("worker log lacks the success line:\n%s", w.Log())
	}

	if err := w.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	select {
	case <-w.Done():
	default:
		t.Error("Done not closed after Stop")
	}
}

func TestWorkerOptionsAndKill(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL(0)
	w := pypeer.StartWorker(t, url,
		pypeer.WithQueues("q1"),
		pypeer.WithPool("prefork"),
		pypeer.WithConcurrency(2),
		pypeer.WithAcksLate(),
		pypeer.WithNodeName("custom-%h"),
	)
	if !strings.HasPrefix(w.NodeName(), "custom-") || !strings.Contains(w.NodeName(), "@") {
		t.Errorf("NodeName() = %q", w.NodeName())
	}

	// A long task under acks_late: after a crash it stays unacked.
	var s sent
	pypeer.RunJSON(t, url, &s, "client.py", "send", "tasks.sleep", "--args", "[60]", "--queue", "q1")
	w.WaitLog(t, "tasks.sleep["+s.ID+"] received", 30*time.Second)
	w.Kill()
	if n, err := redis.Int(srv.Do(t, "HLEN", "unacked"), nil); err != nil || n != 1 {
		t.Fatalf("HLEN unacked after kill = %d, %v; want 1", n, err)
	}

	// Python's restore sweep puts it back on the queue.
	pypeer.Run(t, url, "client.py", "restore-sweep", "--visibility-timeout", "0")
	if n, err := redis.Int(srv.Do(t, "LLEN", "q1"), nil); err != nil || n != 1 {
		t.Fatalf("LLEN q1 after restore = %d, %v; want 1", n, err)
	}
}

func TestCmdStdinAndFailure(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL(0)

	var ids []string
	pypeer.Cmd{BrokerURL: url, Stdin: []byte(`[{"name": "tasks.add", "args": [1, 2], "options": {"queue": "raw", "task_id": "t-1"}}]`)}.
		RunJSON(t, &ids, "client.py", "raw-publish")
	if len(ids) != 1 || ids[0] != "t-1" {
		t.Fatalf("raw-publish ids = %v", ids)
	}
	var raw struct{ Raw string }
	pypeer.RunJSON(t, url, &raw, "client.py", "lpop-raw", "raw")
	if !strings.Contains(raw.Raw, `"task": "tasks.add"`) {
		t.Fatalf("raw message = %s", raw.Raw)
	}

	_, stderr, err := pypeer.Cmd{BrokerURL: url}.Output(t, "client.py", "get", "nope", "--timeout", "0.2")
	if err == nil || !strings.Contains(string(stderr), "timed out") {
		t.Fatalf("get of a missing result: err %v, stderr %s", err, stderr)
	}
}
