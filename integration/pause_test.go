//go:build integration

package integration

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/internal/pypeer"
)

// TestQueuePause: pausing a queue stops the Go and the Python worker that
// consume it (messages wait), shows it paused, and a resume makes exactly
// them consume it again: a Go worker that never consumed it is left
// alone (issue #22 item 4).
func TestQueuePause(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const q = "pq"
	startBinary(t, "worker ready", "worker", "-b", e.URL, "-Q", q+",pq.other", "-n", "pq-go@test")
	startBinary(t, "worker ready", "worker", "-b", e.URL, "-Q", "pq.bystander", "-n", "bystander@test")
	py := pypeer.StartWorker(t, e.URL, pypeer.WithQueues(q))

	var paused struct {
		Workers []string `json:"workers"`
	}
	queuesCLI(t, e.URL, &paused, "pause", q, "--timeout", "2")
	want := []string{py.NodeName(), "pq-go@test"}
	slices.Sort(want)
	if !slices.Equal(paused.Workers, want) {
		t.Fatalf("paused on %v, want %v", paused.Workers, want)
	}
	// A Go worker started during the pause leaves the queue alone, and
	// joins the record.
	late := startBinary(t, "worker ready", "worker", "-b", e.URL, "-Q", q, "-n", "late@test")
	if !strings.Contains(late.Log(), "queue is paused fleet-wide") {
		t.Errorf("late worker did not skip the paused queue:\n%s", late.Log())
	}
	want = append(want, "late@test")
	slices.Sort(want)
	var list struct {
		Queues []struct {
			Name   string `json:"name"`
			Paused bool   `json:"paused"`
		} `json:"queues"`
	}
	queuesCLI(t, e.URL, &list, "list", "-Q", q+",pq.other")
	if len(list.Queues) != 2 || !list.Queues[0].Paused || list.Queues[1].Paused {
		t.Errorf("queues list: %+v", list)
	}

	ids := []string{
		pySend(t, e.URL, "tasks.add", "--args", "[1, 2]", "--queue", q),
		pySend(t, e.URL, "tasks.add", "--args", "[3, 4]", "--queue", q),
	}
	other := pySend(t, e.URL, "tasks.add", "--args", "[5, 6]", "--queue", "pq.other")
	if r := pyGet(t, e.URL, other); r.State != "SUCCESS" { // the Go worker's other queue still runs
		t.Fatalf("pq.other task: %+v", r)
	}
	time.Sleep(3 * time.Second)
	if n := wkInt(t, e, "LLEN", q); n != 2 {
		t.Fatalf("paused queue holds %d messages after 3 s, want 2 (nobody consumes it)", n)
	}

	var resumed struct {
		Workers []string `json:"workers"`
	}
	queuesCLI(t, e.URL, &resumed, "resume", q, "--timeout", "2")
	if !slices.Equal(resumed.Workers, want) {
		t.Errorf("resumed on %v, want %v", resumed.Workers, want)
	}
	for _, id := range ids {
		if r := pyGet(t, e.URL, id); r.State != "SUCCESS" {
			t.Errorf("task %s after resume: %+v", id, r)
		}
	}
	// The bystander was not told to consume pq.
	text, code := runBinary(t, 30*time.Second, "inspect", "active_queues", "--json", "-d", "bystander@test", "-b", e.URL)
	var aq map[string][]struct{ Name string }
	if code != 0 || json.Unmarshal([]byte(text), &aq) != nil {
		t.Fatalf("inspect active_queues: exit %d %s", code, text)
	}
	if qs := aq["bystander@test"]; len(qs) != 1 || qs[0].Name != "pq.bystander" {
		t.Errorf("bystander consumes %+v, want only pq.bystander", qs)
	}
	if text, code := runBinary(t, 30*time.Second, "queues", "resume", q, "-b", e.URL); code != 1 {
		t.Errorf("resume of a queue not paused: exit %d %s", code, text)
	}
}
