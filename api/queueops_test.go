package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/redistest"
)

// TestQueueMessagesAPI pages through a queue, removes a message (its
// task then reads REVOKED), moves and purges by name.
func TestQueueMessagesAPI(t *testing.T) {
	f := newFixture(t, Deps{})
	ctx := testCtx(t)
	var ids []string
	for i := range 5 {
		name := "tasks.add"
		if i%2 == 1 {
			name = "tasks.mul"
		}
		r, err := f.client.SendTask(ctx, name, celery.Queue("peek"), celery.Args(i, 1))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	var got []string
	cursor := ""
	for range 5 {
		w := f.do("GET", "/api/v1/queues/peek/messages?limit=2&cursor="+cursor, "")
		if w.Code != http.StatusOK {
			t.Fatalf("list: %d %s", w.Code, w.Body)
		}
		var page struct {
			Messages []celery.PendingMessage `json:"messages"`
			Next     *string                 `json:"next_cursor"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			got = append(got, m.TaskID)
		}
		if page.Next == nil {
			break
		}
		cursor = *page.Next
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("listed %v, want %v (oldest first)", got, ids)
	}
	if w := f.do("DELETE", "/api/v1/queues/peek/messages/"+ids[0], ""); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"task":"tasks.add"`) {
		t.Fatalf("remove: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "/api/v1/tasks/"+ids[0], ""); !strings.Contains(w.Body.String(), "REVOKED") {
		t.Errorf("removed task: %d %s, want REVOKED", w.Code, w.Body)
	}
	if w := f.do("POST", "/api/v1/queues/peek/move", `{"to": "peek.b", "task": "tasks.mul"}`); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"moved":2`) {
		t.Fatalf("move: %d %s", w.Code, w.Body)
	}
	if w := f.do("DELETE", "/api/v1/queues/peek/messages?task=tasks.add", ""); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"purged":2`) {
		t.Fatalf("purge: %d %s", w.Code, w.Body)
	}
	for q, want := range map[string]int{"peek": 0, "peek.b": 2} {
		if n, _ := f.client.Publisher().(*credis.Broker).QueueLength(ctx, q); n != want {
			t.Errorf("%s holds %d, want %d", q, n, want)
		}
	}
}

// publishOnly is a transport that cannot inspect queues.
type publishOnly struct{ celery.Publisher }

func (publishOnly) PublishOne(context.Context, celery.Publishing) error     { return nil }
func (publishOnly) PublishBatch(context.Context, []celery.Publishing) error { return nil }

// TestQueueOpsUnsupported: on a transport that is no QueueInspector the
// queue operations answer 501 with a reason.
func TestQueueOpsUnsupported(t *testing.T) {
	srv := redistest.Start(t)
	b, err := credis.NewBroker(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := celery.NewClient(publishOnly{}, nil)
	e := newEngine(Deps{Client: c, Broker: b}, WithLogger(quiet))
	f := &fixture{t: t, engine: e}
	for _, r := range [][2]string{{"GET", "/api/v1/queues/q/messages"}, {"DELETE", "/api/v1/queues/q/messages/x"}, {"DELETE", "/api/v1/queues/q/messages?task=t"}} {
		if w := f.do(r[0], r[1], ""); w.Code != http.StatusNotImplemented || !strings.Contains(w.Body.String(), "detail") {
			t.Errorf("%s %s: %d %s, want 501", r[0], r[1], w.Code, w.Body)
		}
	}
}

// fakePauser records pauses in memory.
type fakePauser struct {
	mu     sync.Mutex
	paused map[string]bool
}

func (f *fakePauser) PauseQueue(_ context.Context, q string) (*celery.PausedQueue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.paused == nil {
		f.paused = map[string]bool{}
	}
	f.paused[q] = true
	return &celery.PausedQueue{Queue: q, Workers: []string{"celery@a"}}, nil
}

func (f *fakePauser) ResumeQueue(_ context.Context, q string) (*celery.PausedQueue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.paused[q] {
		return nil, celery.ErrNotPaused
	}
	delete(f.paused, q)
	return &celery.PausedQueue{Queue: q, Workers: []string{"celery@a"}}, nil
}

func (f *fakePauser) PausedQueues(context.Context) ([]celery.PausedQueue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []celery.PausedQueue
	for q := range f.paused {
		out = append(out, celery.PausedQueue{Queue: q})
	}
	return out, nil
}
