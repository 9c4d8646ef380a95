package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/worker"
)

// TestArchiveBounds: a failed task and malformed messages go to the
// archive, a large malformed one without its message; with a count bound
// of 2 the oldest goes; WithArchive(0, 0) archives nothing.
func TestArchiveBounds(t *testing.T) {
	f := start(t, nil, worker.WithArchive(2, time.Hour))
	arch := f.client.Publisher().(celery.Archiver)
	if m := wait(t, f, "tasks.fail", celery.Args("boom")); m.Status != celery.StateFailure {
		t.Fatalf("tasks.fail: %+v", m)
	}
	// The failure is archived after its result is stored: wait for it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		page, err := arch.ArchivedMessages(ctx(t), "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Messages) == 1 && page.Messages[0].Reason == celery.ArchiveFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failed task not archived: %+v", page.Messages)
		}
	}
	f.srv.Do(t, "LPUSH", "celery", "not json")
	f.srv.Do(t, "LPUSH", "celery", `{"big": "`+strings.Repeat("x", 100<<10)+`"}`)
	var page *celery.ArchivePage
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if page, err = arch.ArchivedMessages(ctx(t), "", 10); err != nil {
			t.Fatal(err)
		}
		if n := len(page.Messages); n == 2 && page.Messages[0].Size > 100<<10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(page.Messages) != 2 {
		t.Fatalf("archive: %+v, want the two malformed messages (count bound 2)", page.Messages)
	}
	big, small := page.Messages[0], page.Messages[1]
	if big.Reason != celery.ArchiveMalformed || big.Requeueable || small.Reason != celery.ArchiveMalformed || !small.Requeueable || small.Size != len("not json") {
		t.Errorf("archive entries: %+v", page.Messages)
	}
}

// TestArchiveOff: WithArchive(0, 0) keeps nothing.
func TestArchiveOff(t *testing.T) {
	f := start(t, nil, worker.WithArchive(0, 0))
	if m := wait(t, f, "tasks.fail", celery.Args("boom")); m.Status != celery.StateFailure {
		t.Fatalf("tasks.fail: %+v", m)
	}
	page, err := f.client.Publisher().(celery.Archiver).ArchivedMessages(ctx(t), "", 10)
	if err != nil || len(page.Messages) != 0 {
		t.Errorf("archive with archiving off: %+v %v", page, err)
	}
}
