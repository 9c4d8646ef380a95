//go:build integration

package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pypeer"
)

// queuesCLI runs `celeriac queues args... --json -b url` and decodes its
// output into out.
func queuesCLI(t *testing.T, url string, out any, args ...string) {
	t.Helper()
	text, code := runBinary(t, 30*time.Second, append(append([]string{"queues"}, args...), "--json", "-b", url)...)
	if code != 0 {
		t.Fatalf("celeriac queues %v: exit %d\n%s", args, code, text)
	}
	if err := json.Unmarshal([]byte(text), out); err != nil {
		t.Fatalf("celeriac queues %v: %v\n%s", args, err, text)
	}
}

// TestQueueOps: messages Python Celery sent are listed (priority buckets
// in the order workers take them, Python's argsrepr, the ETA), one is
// removed while a Python client waits for it (its get() returns
// REVOKED), one is moved to a queue a Python worker consumes (it runs
// there), and one is purged by task name (REVOKED too) (issue #22 item 1).
func TestQueueOps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const q = "qops"
	a := pySend(t, e.URL, "tasks.add", "--args", "[1, 2]", "--queue", q)
	b := pySend(t, e.URL, "tasks.mul", "--args", "[3, 4]", "--queue", q, "--countdown", "300")
	c := pySend(t, e.URL, "tasks.add", "--args", "[5, 6]", "--queue", q, "--priority", "9")

	var page struct {
		Messages []celery.PendingMessage `json:"messages"`
		Next     *string                 `json:"next_cursor"`
	}
	queuesCLI(t, e.URL, &page, "messages", q, "--limit", "2")
	if len(page.Messages) != 2 || page.Next == nil || page.Messages[0].TaskID != a || page.Messages[1].TaskID != b {
		t.Fatalf("first page: %+v", page)
	}
	if m := page.Messages[0]; m.Task != "tasks.add" || m.Args != "[1, 2]" || m.ETA != nil { // Python's argsrepr of a list
		t.Errorf("first message: %+v", m)
	}
	if m := page.Messages[1]; m.ETA == nil || time.Until(*m.ETA) < time.Minute {
		t.Errorf("ETA message: %+v", m)
	}
	next := *page.Next
	page.Messages, page.Next = nil, nil
	queuesCLI(t, e.URL, &page, "messages", q, "--limit", "2", "--cursor", next)
	if len(page.Messages) != 1 || page.Next != nil || page.Messages[0].TaskID != c || page.Messages[0].Priority != 9 {
		t.Fatalf("second page: %+v", page)
	}

	// A Python client waits for a; removing it ends the wait.
	got := make(chan pyResult, 1)
	go func() {
		var r pyResult
		stdout, _, err := pypeer.Cmd{BrokerURL: e.URL}.Output(t, "client.py", "get", a, "--timeout", "60")
		if err == nil {
			json.Unmarshal(stdout, &r)
		}
		got <- r
	}()
	time.Sleep(2 * time.Second) // the client subscribes
	var removed struct {
		Removed celery.PendingMessage `json:"removed"`
	}
	queuesCLI(t, e.URL, &removed, "remove", q, a)
	if removed.Removed.TaskID != a {
		t.Errorf("removed %+v", removed)
	}
	select {
	case r := <-got:
		if r.State != "REVOKED" {
			t.Errorf("Python's get() of the removed task: %+v, want REVOKED", r)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("Python's get() did not return after the removal")
	}

	// Move c to a queue a Python worker consumes: it runs there.
	var moved struct{ Moved int }
	queuesCLI(t, e.URL, &moved, "move", q, "qops.py", "--task", "tasks.add")
	if moved.Moved != 1 {
		t.Fatalf("moved %d, want 1", moved.Moved)
	}
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues("qops.py"))
	if r := pyGet(t, e.URL, c); r.State != "SUCCESS" || r.Result != float64(11) {
		t.Errorf("moved task: %+v", r)
	}

	// Purge by name: b goes, REVOKED.
	var purged struct{ Purged int }
	queuesCLI(t, e.URL, &purged, "purge", q, "--task", "tasks.mul")
	if purged.Purged != 1 {
		t.Errorf("purged %d, want 1", purged.Purged)
	}
	if r := pyGet(t, e.URL, b); r.State != "REVOKED" {
		t.Errorf("purged task: %+v", r)
	}
	if n := wkInt(t, e, "LLEN", q); n != 0 {
		t.Errorf("%s holds %d", q, n)
	}
	text, code := runBinary(t, 30*time.Second, "queues", "remove", q, a, "-b", e.URL)
	if code != 1 || !strings.Contains(text, "no such message") {
		t.Errorf("second removal: exit %d %s", code, text)
	}
}
