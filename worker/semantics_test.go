package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/worker"
)

// The RETRY meta lists the retry message in its children, as Python's
// Task.retry applies it from inside the task; the next attempt's result
// has none.
func TestRetryChildren(t *testing.T) {
	f := start(t, func(mux *worker.ServeMux) {
		mux.HandleFunc("test.retry_once", func(ctx context.Context, t *worker.Task) (any, error) {
			if t.Retries == 0 {
				return nil, worker.Retry(nil, worker.In(time.Second))
			}
			return "ok", nil
		})
	})
	r, err := f.client.SendTask(ctx(t), "test.retry_once")
	if err != nil {
		t.Fatal(err)
	}
	be := f.client.Results().(*credis.Backend)
	for {
		m, err := be.Get(ctx(t), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status == celery.StateRetry {
			want := []any{[]any{[]any{r.ID, nil}, nil}}
			if jsonOf(t, m.Children) != jsonOf(t, want) {
				t.Errorf("RETRY children %s, want %s", jsonOf(t, m.Children), jsonOf(t, want))
			}
			break
		}
		if m.Status.Ready() {
			t.Fatalf("no RETRY state seen: %s", m.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	m, err := r.Wait(ctx(t))
	if err != nil || m.Status != celery.StateSuccess || len(m.Children) != 0 {
		t.Fatalf("after retry: %+v, %v", m, err)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Ignore stores nothing, Reject without requeue stores FAILURE Reject,
// Replace hands the task id to the replacement; TaskPostrun reports the
// state each came to.
func TestHandlerOutcomes(t *testing.T) {
	post := make(chan string, 8)
	f := start(t, func(mux *worker.ServeMux) {
		mux.HandleFunc("t.ignore", func(context.Context, *worker.Task) (any, error) { return nil, worker.Ignore() })
		mux.HandleFunc("t.reject", func(context.Context, *worker.Task) (any, error) {
			return nil, worker.Reject(errors.New("no"), false)
		})
		mux.HandleFunc("t.replace", func(context.Context, *worker.Task) (any, error) {
			return nil, worker.Replace(celery.S("tasks.add", 1, 2))
		})
	}, worker.WithHooks(worker.Hooks{TaskPostrun: func(_ context.Context, t *worker.Task, state celery.State, _ any) {
		post <- t.Task + ":" + string(state)
	}}))
	be := f.client.Results().(*credis.Backend)
	send := func(name string) string {
		r, err := f.client.SendTask(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	next := func() string { // the next postrun, but the replacement's
		for {
			select {
			case s := <-post:
				if !strings.HasPrefix(s, "tasks.add:") {
					return s
				}
			case <-ctx(t).Done():
				t.Fatal("no postrun")
				return ""
			}
		}
	}
	id := send("t.ignore")
	if s := next(); s != "t.ignore:IGNORED" {
		t.Errorf("postrun %s", s)
	}
	if m, err := be.Get(ctx(t), id); err != nil || m.Status != celery.StatePending {
		t.Errorf("ignored task: %+v, %v", m, err)
	}
	id = send("t.reject")
	if s := next(); s != "t.reject:REJECTED" {
		t.Errorf("postrun %s", s)
	}
	if m, err := be.Get(ctx(t), id); err != nil || m.Status != celery.StateFailure || jsonOf(t, m.Result) != `{"exc_message":["no",false],"exc_module":"celery.exceptions","exc_type":"Reject"}` {
		t.Errorf("rejected task: %+v, %v", m, err)
	}
	id = send("t.replace")
	if s := next(); s != "t.replace:IGNORED" {
		t.Errorf("postrun %s", s)
	}
	m, err := f.client.AsyncResult(id).Wait(ctx(t))
	if err != nil || m.Status != celery.StateSuccess || jsonOf(t, m.Result) != "3" || m.ParentID != id {
		t.Errorf("replaced task: %+v, %v", m, err)
	}
}
