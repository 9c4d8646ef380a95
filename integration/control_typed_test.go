//go:build integration

package integration

// The typed control replies (celery/control) decode what a real Python
// Celery worker and a Go worker answer, into the same types, without
// losing a field either side sends.

import (
	"encoding/json"
	"maps"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/celeriac/celeriac/api"
	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

// keyPaths lists the object key paths in a decoded reply: "pool.processes",
// "[].delivery_info.priority". Keys of maps whose keys are data (task
// names, settings, task ids) are collapsed to "*" by the caller's dataMaps.
func keyPaths(v any, prefix string, dataMaps map[string]bool, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := prefix + k
			if dataMaps[prefix] {
				p = prefix + "*"
			}
			out[p] = true
			keyPaths(e, p+".", dataMaps, out)
		}
	case []any:
		for _, e := range x {
			keyPaths(e, prefix+"[].", dataMaps, out)
		}
	}
}

// roundTrip encodes a typed reply as the wire would carry it and decodes
// it again.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := pyjson.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	d, err := pyjson.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestControlTypedRepliesPythonAndGo(t *testing.T) {
	e := newEnv(t)
	py := pypeer.StartWorker(t, e.URL, pypeer.WithQueues("pyq"), pypeer.WithPool("prefork"))
	startGoWorker(t, e.URL, nil, worker.WithHostname(ctlGoNode), worker.WithQueues("goq"), worker.WithConcurrency(1), wkLogger(t))
	ctx := ctxFor(t, 90*time.Second)
	ctl := control.New(e.Broker)
	waitGoNode(t, ctl, ctlGoNode)
	waitGoNode(t, ctl, py.NodeName())
	nodes := []string{py.NodeName(), ctlGoNode}

	// Each worker: one task running, one reserved behind it, one waiting
	// for its ETA.
	var running []string
	for _, q := range []string{"pyq", "goq"} {
		r, err := e.Client.SendTask(ctx, "tasks.sleep", celery.Args(20), celery.Queue(q))
		if err != nil {
			t.Fatal(err)
		}
		running = append(running, r.ID)
		if _, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(1, 2), celery.Queue(q)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(3, 4), celery.Queue(q), celery.Countdown(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both workers running, holding and scheduling a task", 30*time.Second, func() bool {
		act, err1 := ctl.Active(ctx, false, time.Second, nodes...)
		sch, err2 := ctl.Scheduled(ctx, time.Second, nodes...)
		res, err3 := ctl.Reserved(ctx, time.Second, nodes...)
		if err1 != nil || err2 != nil || err3 != nil {
			return false
		}
		for _, n := range nodes {
			if len(act[n]) != 1 || len(sch[n]) != 1 || len(res[n]) != 1 {
				return false
			}
		}
		return true
	})

	to := 2 * time.Second
	type check struct {
		method string
		args   map[string]any
		typed  func() (map[string]any, error)
		// dataMaps are the paths of objects keyed by data, not by field.
		dataMaps []string
		// only lists key paths (and their children) one side sends and
		// the other does not (Celery's pools differ; celeriac adds
		// "abandoned").
		only []string
	}
	typedOf := func(m any, err error) (map[string]any, error) {
		out := map[string]any{}
		switch x := m.(type) {
		case map[string]control.Stats:
			for k, v := range x {
				out[k] = v
			}
		case map[string][]control.TaskInfo:
			for k, v := range x {
				out[k] = v
			}
		case map[string][]control.ScheduledTask:
			for k, v := range x {
				out[k] = v
			}
		case map[string][]control.QueueInfo:
			for k, v := range x {
				out[k] = v
			}
		case map[string][]string:
			for k, v := range x {
				out[k] = v
			}
		case map[string]control.Status:
			for k, v := range x {
				out[k] = v
			}
		case map[string]control.ClockValue:
			for k, v := range x {
				out[k] = v
			}
		case map[string]map[string]control.TaskState:
			for k, v := range x {
				out[k] = v
			}
		case map[string]control.Conf:
			for k, v := range x {
				out[k] = v
			}
		}
		return out, err
	}
	checks := []check{
		{"ping", nil, func() (map[string]any, error) { return typedOf(ctl.Ping(ctx, to, nodes...)) }, nil, nil},
		{"stats", nil, func() (map[string]any, error) { return typedOf(ctl.Stats(ctx, to, nodes...)) },
			[]string{"total.", "broker.transport_options.", "pool.writes."},
			[]string{"abandoned", "pool.writes"}},
		{"active", nil, func() (map[string]any, error) { return typedOf(ctl.Active(ctx, false, to, nodes...)) },
			[]string{"[].kwargs."}, nil},
		{"reserved", nil, func() (map[string]any, error) { return typedOf(ctl.Reserved(ctx, to, nodes...)) },
			[]string{"[].kwargs."}, nil},
		{"scheduled", nil, func() (map[string]any, error) { return typedOf(ctl.Scheduled(ctx, to, nodes...)) },
			[]string{"[].request.kwargs."}, nil},
		{"query_task", map[string]any{"ids": running}, func() (map[string]any, error) {
			return typedOf(ctl.QueryTask(ctx, running, to, nodes...))
		}, []string{""}, nil},
		{"registered", nil, func() (map[string]any, error) { return typedOf(ctl.Registered(ctx, to, nodes...)) }, nil, nil},
		{"revoked", nil, func() (map[string]any, error) { return typedOf(ctl.Revoked(ctx, to, nodes...)) }, nil, nil},
		{"active_queues", nil, func() (map[string]any, error) { return typedOf(ctl.ActiveQueues(ctx, to, nodes...)) }, nil, nil},
		{"clock", nil, func() (map[string]any, error) { return typedOf(ctl.Clock(ctx, to, nodes...)) }, nil, nil},
		{"report", nil, func() (map[string]any, error) { return typedOf(ctl.Report(ctx, to, nodes...)) }, nil, nil},
		{"conf", map[string]any{"with_defaults": false}, func() (map[string]any, error) { return typedOf(ctl.Conf(ctx, to, nodes...)) },
			[]string{""}, nil},
	}
	for _, c := range checks {
		t.Run(c.method, func(t *testing.T) {
			typed, err := c.typed()
			if err != nil || len(typed) != 2 {
				t.Fatalf("typed %s = %+v, %v", c.method, typed, err)
			}
			raw, err := ctl.Inspect(ctx, c.method, c.args, to, nodes...)
			if err != nil || len(raw) != 2 {
				t.Fatalf("inspect %s = %v, %v", c.method, raw, err)
			}
			dataMaps := map[string]bool{}
			for _, p := range c.dataMaps {
				dataMaps[p] = true
			}
			paths := map[string]map[string]bool{}
			for _, n := range nodes {
				got, back := map[string]bool{}, map[string]bool{}
				keyPaths(raw[n], "", dataMaps, got)
				keyPaths(roundTrip(t, typed[n]), "", dataMaps, back)
				// Nothing the node sent is lost by the type.
				for p := range got {
					if !back[p] {
						t.Errorf("%s of %s: %q sent but not in the typed reply", c.method, n, p)
					}
				}
				paths[n] = got
			}
			// Python and Go send the same keys, but for the documented
			// differences.
			pyKeys, goKeys := paths[py.NodeName()], paths[ctlGoNode]
			for _, p := range c.only {
				for _, m := range []map[string]bool{pyKeys, goKeys} {
					maps.DeleteFunc(m, func(k string, _ bool) bool { return k == p || strings.HasPrefix(k, p+".") })
				}
			}
			if a, b := slices.Sorted(maps.Keys(pyKeys)), slices.Sorted(maps.Keys(goKeys)); !slices.Equal(a, b) {
				t.Errorf("%s: Python sends keys\n  %s\nGo sends\n  %s", c.method, strings.Join(a, " "), strings.Join(b, " "))
			}
		})
	}
	// The typed values agree where they must.
	act, _ := ctl.Active(ctx, false, to, nodes...)
	for i, n := range nodes {
		if a := act[n]; len(a) != 1 || a[0].ID != running[i] || a[0].TimeStart == nil || a[0].WorkerPID == nil || !a[0].Acknowledged {
			t.Errorf("active of %s = %+v", n, a)
		}
	}
	st, _ := ctl.Stats(ctx, to, nodes...)
	for _, n := range nodes {
		if s := st[n]; s.PID == 0 || s.Pool.MaxConcurrency != 1 || s.PrefetchCount == 0 || s.Rusage.Unavailable {
			t.Errorf("stats of %s = %+v", n, s)
		}
	}
	if st[ctlGoNode].Abandoned == nil || st[py.NodeName()].Abandoned != nil {
		t.Errorf("abandoned: Go %v, Python %v", st[ctlGoNode].Abandoned, st[py.NodeName()].Abandoned)
	}
	// Stop the sleepers so that both workers shut down at once.
	if err := ctl.Revoke(ctx, running, true, "SIGKILL"); err != nil {
		t.Error(err)
	}
}

// TestAPIWorkersPythonAndGo: GET /api/v1/workers, built from the typed
// ping, active and stats replies, lists a Python and a Go worker with
// what they are running and have run.
func TestAPIWorkersPythonAndGo(t *testing.T) {
	e := newEnv(t)
	py := pypeer.StartWorker(t, e.URL, pypeer.WithQueues("pyq"), pypeer.WithPool("prefork"))
	startGoWorker(t, e.URL, nil, worker.WithHostname(ctlGoNode), worker.WithQueues("goq"), wkLogger(t))
	ctl := control.New(e.Broker)
	waitGoNode(t, ctl, ctlGoNode)
	waitGoNode(t, ctl, py.NodeName())
	ctx := ctxFor(t, 60*time.Second)
	var sleepers []string
	for _, q := range []string{"pyq", "goq"} {
		r, err := e.Client.SendTask(ctx, "tasks.add", celery.Args(1, 1), celery.Queue(q))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
		s, err := e.Client.SendTask(ctx, "tasks.sleep", celery.Args(20), celery.Queue(q))
		if err != nil {
			t.Fatal(err)
		}
		sleepers = append(sleepers, s.ID)
	}
	defer func() { _ = ctl.Revoke(ctx, sleepers, true, "SIGKILL") }()

	p := startProc(t, exec.Command(binary, "serve", "--worker=false", "--addr", "127.0.0.1:0", "-b", e.URL), "celeriac serve", 20*time.Second)
	waitFor(t, "celeriac is serving", 30*time.Second, func() bool { return strings.Contains(p.Log(), "celeriac is serving.") })
	apiURL := bannerField(p.Log(), "API:")
	var got []api.WorkerInfo
	waitFor(t, "both workers busy in /api/v1/workers", 20*time.Second, func() bool {
		resp, err := http.Get(apiURL + "/api/v1/workers")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct{ Workers []api.WorkerInfo }
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Workers) != 2 {
			return false
		}
		got = body.Workers
		return got[0].Active == 1 && got[1].Active == 1
	})
	want := []string{ctlGoNode, py.NodeName()}
	slices.Sort(want)
	for i, w := range got {
		if w.Hostname != want[i] || !w.Online || w.Processed < 1 {
			t.Errorf("worker %d = %+v, want %s online with processed >= 1", i, w, want[i])
		}
	}
}
