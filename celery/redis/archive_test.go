package redis

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// TestArchive: entries are listed newest first in pages, bounded by count
// and age; one is requeued (its message back on its queue, unchanged) and
// one dropped; a message over the bound is kept without its body.
func TestArchive(t *testing.T) {
	c, _ := newTestClient(t)
	ctx := testCtx(t)
	b := c.Broker()
	now := time.Now().UTC()
	add := func(id string, at time.Time, msg []byte, maxCount int, maxAge time.Duration) {
		t.Helper()
		m := celery.ArchivedMessage{ID: id, TaskID: id, Task: "tasks.add", Queue: "arch", Priority: 3,
			Reason: celery.ArchiveFailed, Error: "ValueError: x", ArchivedAt: at, Message: msg}
		if err := b.Archive(ctx, m, maxCount, maxAge); err != nil {
			t.Fatal(err)
		}
	}
	add("old", now.Add(-2*time.Hour), []byte(`{"a":1}`), 3, time.Hour) // dropped by age at the next add
	for i, id := range []string{"a", "b", "c", "d"} {
		add(id, now.Add(time.Duration(i)*time.Second), []byte(`{"id":"`+id+`"}`), 3, time.Hour)
	}
	var ids []string
	cursor := ""
	for {
		page, err := b.ArchivedMessages(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			ids = append(ids, m.ID)
			if m.Message != nil || !m.Requeueable || m.Size == 0 {
				t.Errorf("listed entry %+v", m)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if strings.Join(ids, ",") != "d,c,b" {
		t.Fatalf("archive lists %v, want d,c,b (newest first, 3 kept, the old one dropped)", ids)
	}
	m, err := c.RequeueArchived(ctx, "c")
	if err != nil || m.Queue != "arch" {
		t.Fatalf("requeue: %+v %v", m, err)
	}
	if l, _ := b.QueueLengths(ctx, "arch"); l[1] != 1 {
		t.Errorf("requeued into buckets %v, want priority 3's", l)
	}
	if _, err := c.RequeueArchived(ctx, "c"); !errors.Is(err, celery.ErrMessageNotFound) {
		t.Errorf("second requeue: %v", err)
	}
	if _, err := c.DeleteArchived(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	add("big", now.Add(time.Minute), make([]byte, ArchiveMaxMessage+1), 10, 0)
	if _, err := c.RequeueArchived(ctx, "big"); !errors.Is(err, celery.ErrNotRequeueable) {
		t.Errorf("requeue of an entry without its message: %v", err)
	}
	page, _ := b.ArchivedMessages(ctx, "", 10)
	if len(page.Messages) != 2 || page.Messages[0].ID != "big" || page.Messages[0].Size != ArchiveMaxMessage+1 {
		t.Errorf("archive now %+v", page.Messages)
	}
}
