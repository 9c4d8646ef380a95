package worker_test

import (
	"context"
	"encoding/json"
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
