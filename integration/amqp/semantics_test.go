//go:build integration

package amqp

// Task semantics over AMQP, both ways: expires, retries, revoke of a
// queued task and of a running one (terminate).

import (
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/pypeer"
)

// TestSemanticsPythonClientGoWorker: a Python client's expired task is
// not run (REVOKED stored), a retrying task retries with its countdown
// until it succeeds (self.retry, and autoretry_for), a queued task revoked through remote control is not
// run, and a running one revoked with terminate stops; each REVOKED.
func TestSemanticsPythonClientGoWorker(t *testing.T) {
	e := newEnv(t)
	w := e.startWorker(t, "-c", "1", "--prefetch-multiplier", "1", "-n", "gosem@%h")

	expired := e.pySend(t, "tasks.add", "--args", "[1, 1]", "--expires", time.Now().UTC().Add(-time.Minute).Format("2006-01-02T15:04:05.000000+00:00"))
	if r := e.pyGet(t, expired); r.State != "REVOKED" {
		t.Errorf("expired task: %+v, want REVOKED", r)
	}
	for _, task := range []string{"tasks.flaky", "tasks.autoretry"} {
		id := e.pySend(t, task, "--args", `["py-go", 2]`)
		if r := e.pyGet(t, id); r.State != "SUCCESS" || r.Result != float64(3) {
			t.Errorf("%s: %+v, want SUCCESS 3 (two retries)", task, r)
		}
	}

	running := e.pySend(t, "tasks.sleep", "--args", "[20]")
	w.WaitLog(t, "tasks.sleep["+running+"] received", 30*time.Second)
	queued := e.pySend(t, "tasks.add", "--args", "[2, 2]")
	var ok map[string]any
	e.py().RunJSON(t, &ok, "control.py", "revoke", queued)
	e.py().RunJSON(t, &ok, "control.py", "revoke", running, "--terminate")
	for name, id := range map[string]string{"queued": queued, "running": running} {
		if r := e.pyGet(t, id); r.State != "REVOKED" {
			t.Errorf("%s task revoked: %+v, want REVOKED", name, r)
		}
	}
	after := e.pySend(t, "tasks.add", "--args", "[3, 4]")
	if r := e.pyGet(t, after); r.State != "SUCCESS" || r.Result != float64(7) {
		t.Errorf("task after the revokes: %+v", r)
	}
	if strings.Contains(w.Log(), "tasks.add["+queued+"] succeeded") {
		t.Errorf("the revoked queued task ran:\n%s", w.Log())
	}
}

// TestSemanticsGoClientPythonWorker: the same from a Go client to a
// Python worker (prefork, so that terminate works): expires, retries
// (self.retry and autoretry_for), and revoke through `celeriac control revoke`.
func TestSemanticsGoClientPythonWorker(t *testing.T) {
	e := newEnv(t)
	py := pypeer.StartWorker(t, e.URL, pypeer.WithResultBackend(e.Results), pypeer.WithPool("prefork"), pypeer.WithConcurrency(1),
		pypeer.WithPrefetchMultiplier(1), pypeer.WithNodeName("pysem@%h"))
	ctx := ctxFor(t, 2*time.Minute)
	wait := func(r *celery.AsyncResult) *celery.ResultMeta {
		t.Helper()
		m, err := r.Wait(ctx)
		if err != nil {
			t.Fatalf("%s: %v", r.ID, err)
		}
		return m
	}

	r, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(1, 1), celery.Expires(time.Now().Add(-time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if m := wait(r); m.Status != celery.StateRevoked {
		t.Errorf("expired task: %s %v, want REVOKED", m.Status, m.Result)
	}
	for _, task := range []string{"tasks.flaky", "tasks.autoretry"} {
		r, err = e.Client.SendTask(ctx, task, celery.Args("go-py", 2))
		if err != nil {
			t.Fatal(err)
		}
		if m := wait(r); m.Status != celery.StateSuccess || m.Retries != 2 {
			t.Errorf("%s: %s %v after %d retries, want SUCCESS after 2", task, m.Status, m.Result, m.Retries)
		}
	}

	running, err := e.Client.SendTask(ctx, "tasks.sleep", celery.Args(20))
	if err != nil {
		t.Fatal(err)
	}
	py.WaitLog(t, "Task tasks.sleep["+running.ID+"] received", 30*time.Second)
	queued, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{queued.ID}, {running.ID, "--terminate"}} {
		if out, code := celeriac(t, append([]string{"control", "revoke", "-b", e.URL}, args...)...); code != 0 {
			t.Fatalf("celeriac control revoke %v: exit %d\n%s", args, code, out)
		}
	}
	for name, r := range map[string]*celery.AsyncResult{"queued": queued, "running": running} {
		if m := wait(r); m.Status != celery.StateRevoked {
			t.Errorf("%s task revoked: %s %v, want REVOKED", name, m.Status, m.Result)
		}
	}
	r, err = e.Client.SendTask(ctx, "tasks.add", celery.Args(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	if m := wait(r); m.Status != celery.StateSuccess {
		t.Errorf("task after the revokes: %s %v", m.Status, m.Result)
	}
}
