//go:build integration

package integration

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pypeer"
)

// archiveCLI runs `celeriac archive args... --json -b url` and decodes its
// output into out.
func archiveCLI(t *testing.T, url string, out any, args ...string) {
	t.Helper()
	text, code := runBinary(t, 30*time.Second, append(append([]string{"archive"}, args...), "--json", "-b", url)...)
	if code != 0 {
		t.Fatalf("celeriac archive %v: exit %d\n%s", args, code, text)
	}
	if err := json.Unmarshal([]byte(text), out); err != nil {
		t.Fatalf("celeriac archive %v: %v\n%s", args, err, text)
	}
}

// TestArchive: a Go worker copies a task that failed for good, an
// unregistered task (rejected) and a malformed message to the archive;
// the unregistered one, requeued, runs on a Python worker and its Python
// client sees the new SUCCESS, not the old FAILURE; an entry is deleted
// (issue #22 item 2).
func TestArchive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const q = "arch"
	gw := startBinary(t, "worker ready", "worker", "-b", e.URL, "-Q", q, "-n", "arch@go", "--archive-max-count", "100")
	failed := pySend(t, e.URL, "tasks.fail", "--args", `["boom"]`, "--queue", q)
	unregistered := pySend(t, e.URL, "tasks.progress", "--args", "[1]", "--queue", q) // Python's only
	e.Redis.Do(t, "LPUSH", q, "not json")
	wkEventually(t, 30*time.Second, "three archive entries", func() bool { return wkInt(t, e, "ZCARD", "_celeriac.archive") == 3 })

	var page struct {
		Messages []celery.ArchivedMessage `json:"messages"`
	}
	archiveCLI(t, e.URL, &page, "list")
	byID := map[string]celery.ArchivedMessage{}
	malformed := 0
	for _, m := range page.Messages {
		byID[m.ID] = m
		if m.Reason == celery.ArchiveMalformed && m.TaskID == "" && m.Size == len("not json") {
			malformed++
		}
	}
	if m := byID[failed]; m.Reason != celery.ArchiveFailed || m.Task != "tasks.fail" || !strings.Contains(m.Error, "boom") || m.Queue != q || !m.Requeueable {
		t.Errorf("failed task's entry: %+v", m)
	}
	if m := byID[unregistered]; m.Reason != celery.ArchiveRejected || !strings.Contains(m.Error, "NotRegistered") {
		t.Errorf("unregistered task's entry: %+v", m)
	}
	if malformed != 1 {
		t.Errorf("malformed entries %d, want 1: %+v", malformed, page.Messages)
	}
	if r := pyGet(t, e.URL, unregistered); r.State != "FAILURE" {
		t.Fatalf("unregistered task: %+v", r)
	}

	// A Python worker, which knows tasks.progress, takes over the queue.
	gw.Signal(syscall.SIGTERM)
	if !gw.Wait(20 * time.Second) {
		t.Fatal("Go worker did not stop")
	}
	pypeer.StartWorker(t, e.URL, pypeer.WithQueues(q))
	var rq struct{ Requeued celery.ArchivedMessage }
	archiveCLI(t, e.URL, &rq, "requeue", unregistered)
	if rq.Requeued.TaskID != unregistered {
		t.Errorf("requeued %+v", rq)
	}
	if r := pyGet(t, e.URL, unregistered); r.State != "SUCCESS" || r.Result != "done" {
		t.Errorf("requeued task on the Python worker: %+v", r)
	}
	var del struct{ Deleted celery.ArchivedMessage }
	archiveCLI(t, e.URL, &del, "delete", failed)
	if n := wkInt(t, e, "ZCARD", "_celeriac.archive"); n != 1 {
		t.Errorf("archive holds %d entries, want the malformed one", n)
	}
	text, code := runBinary(t, 30*time.Second, "archive", "delete", failed, "-b", e.URL)
	if code != 1 || !strings.Contains(text, "no such message") {
		t.Errorf("second delete: exit %d %s", code, text)
	}
}
