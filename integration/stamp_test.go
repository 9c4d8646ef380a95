//go:build integration

package integration

// Stamping (Celery 5.3+, docs/wire.md#stamping): stamps set by a Python
// StampingVisitor travel through a chain run by Go workers, stamps set by
// the Go client reach Python workers, and revoke_by_stamped_headers from
// a Python client is answered by a Go worker for queued and running tasks.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

const stampGoNode = "go-stamp@celeriac"

// stampTasks registers tasks.stamps, the Go twin of pyapp's: it returns
// the stamps its message carries.
func stampTasks(mux *worker.ServeMux) {
	mux.HandleFunc("tasks.stamps", func(_ context.Context, t *worker.Task) (any, error) {
		out := map[string]any{}
		for _, h := range t.Message.StampedHeaders {
			out[h] = t.Message.Stamps[h]
		}
		return out, nil
	})
}

// stampPyChain runs stamp.py chain, chord and link: Python-stamped
// canvases whose task applied last (the last chain step, the chord body,
// the callback) returns the stamps it saw.
func stampPyChain(t *testing.T, e *env) {
	t.Helper()
	for _, canvas := range []string{"chain", "chord", "link"} {
		var o struct {
			Result map[string]any `json:"result"`
		}
		pypeer.RunJSON(t, e.URL, &o, "stamp.py", canvas, "v1")
		if o.Result["mystamp"] != "v1" || len(o.Result) != 1 {
			t.Errorf("%s: stamps seen by the task applied last: %v, want {mystamp: v1}", canvas, o.Result)
		}
	}
}

// stampGoChain applies a chain stamped by the Go client; the last step
// returns the stamps it saw.
func stampGoChain(t *testing.T, e *env) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	sig := celery.Chain(celery.S("tasks.add", 1, 1), celery.S("tasks.add", 2), celery.S("tasks.stamps")).
		Stamp(map[string]any{"mystamp": "go", "batch": []any{"a", "b"}})
	r, err := e.Client.ApplyCanvas(ctx, sig, celery.ApplyInfo{})
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := r.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	wkEqual(t, "stamps seen by the last chain step", wkNorm(t, got), wkNorm(t, map[string]any{"mystamp": "go", "batch": []any{"a", "b"}}))
}

func TestStampsOnGoWorker(t *testing.T) {
	e := newEnv(t)
	startGoWorker(t, e.URL, stampTasks, worker.WithHostname(stampGoNode), wkLogger(t), worker.WithConcurrency(4))
	t.Run("python-chain", func(t *testing.T) { stampPyChain(t, e) })
	t.Run("go-chain", func(t *testing.T) { stampGoChain(t, e) })
}

func TestStampsOnPythonWorker(t *testing.T) {
	e := newEnv(t)
	pypeer.StartWorker(t, e.URL, pypeer.WithConcurrency(4), pypeer.WithPool("threads"))
	t.Run("python-chain", func(t *testing.T) { stampPyChain(t, e) })
	t.Run("go-chain", func(t *testing.T) { stampGoChain(t, e) })
}

// TestRevokeByStampedHeadersGoWorker: a Python client revokes by stamp a
// queued (ETA) task and, with terminate, a running one on a Go worker;
// both end REVOKED, and an unstamped task runs.
func TestRevokeByStampedHeadersGoWorker(t *testing.T) {
	e := newEnv(t)
	startGoWorker(t, e.URL, stampTasks, worker.WithHostname(stampGoNode), wkLogger(t), worker.WithConcurrency(2))
	ctl := control.New(e.Broker)
	waitGoNode(t, ctl, stampGoNode)
	ctx := ctxFor(t, 60*time.Second)
	send := func(args ...string) string {
		var o struct {
			ID string `json:"id"`
		}
		pypeer.RunJSON(t, e.URL, &o, "stamp.py", append([]string{"send"}, args...)...)
		return o.ID
	}
	running := send("tasks.sleep", "[30]", `{"batch": "b2"}`)
	queued := send("tasks.add", "[1, 2]", `{"batch": "b1", "other": "x"}`, "4")
	waitFor(t, "tasks held", 15*time.Second, func() bool {
		act, err1 := ctl.Inspect(ctx, "active", nil, time.Second, stampGoNode)
		sch, err2 := ctl.Inspect(ctx, "scheduled", nil, time.Second, stampGoNode)
		a, _ := act[stampGoNode].([]any)
		s, _ := sch[stampGoNode].([]any)
		return err1 == nil && err2 == nil && len(a) == 1 && len(s) == 1
	})

	var replies []map[string]map[string]any
	pypeer.RunJSON(t, e.URL, &replies, "stamp.py", "revoke", `{"batch": "b1"}`)
	if len(replies) != 1 || !strings.Contains(replies[0][stampGoNode]["ok"].(string), "flagged as revoked, but not terminated") {
		t.Errorf("revoke_by_stamped_headers replies: %v", replies)
	}
	pypeer.RunJSON(t, e.URL, &replies, "stamp.py", "revoke", `{"batch": ["b2", "b9"]}`, "--terminate")
	if len(replies) != 1 || replies[0][stampGoNode]["ok"] != "headers {'batch': {'b2'}} revoked" {
		t.Errorf("revoke_by_stamped_headers terminate replies: %v", replies)
	}
	for _, tc := range []struct{ id, reason string }{{running, "terminated"}, {queued, "revoked"}} {
		m, err := e.Client.AsyncResult(tc.id).Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		te, _ := m.Err().(*celery.TaskError)
		if m.Status != celery.StateRevoked || te == nil || te.Type != "TaskRevokedError" || !strings.Contains(te.Message(), tc.reason) {
			t.Errorf("%s: %s %v, want REVOKED (%s)", tc.id, m.Status, m.Result, tc.reason)
		}
	}
	// The Go control client and `celeriac control` send the command too.
	viaGo := send("tasks.add", "[1, 1]", `{"batch": "b4"}`, "8")
	viaCLI := send("tasks.add", "[1, 1]", `{"batch": "b5"}`, "8")
	waitFor(t, "two tasks scheduled", 15*time.Second, func() bool {
		sch, err := ctl.Inspect(ctx, "scheduled", nil, time.Second, stampGoNode)
		s, _ := sch[stampGoNode].([]any)
		return err == nil && len(s) == 2
	})
	st, err := ctl.RevokeByStampedHeaders(ctx, map[string]any{"batch": "b4"}, false, "", 2*time.Second, stampGoNode)
	if err != nil || !strings.Contains(st[stampGoNode].OK, "flagged as revoked") {
		t.Errorf("RevokeByStampedHeaders = %+v, %v", st, err)
	}
	if out, code := runBinary(t, 30*time.Second, "control", "revoke_by_stamped_headers", "batch=b5", "--broker", e.URL, "-d", stampGoNode); code != 0 || !strings.Contains(out, "flagged as revoked") {
		t.Errorf("celeriac control revoke_by_stamped_headers: exit %d\n%s", code, out)
	}
	// Both are discarded when they come due.
	wkEventually(t, 30*time.Second, "both stamped tasks discarded when due", func() bool {
		n := 0
		for _, id := range []string{viaGo, viaCLI} {
			if m, err := e.Client.AsyncResult(id).Info(ctx); err == nil && m.Status == celery.StateRevoked {
				n++
			}
		}
		return n == 2
	})

	// A task without the stamp, or with another value, runs.
	other := send("tasks.add", "[2, 3]", `{"batch": "b3"}`)
	var v any
	if err := e.Client.AsyncResult(other).Get(ctx, &v); err != nil {
		t.Fatal(err)
	}
	wkEqual(t, "unrevoked stamp", wkNorm(t, v), wkNorm(t, 5))
}
