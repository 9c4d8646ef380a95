//go:build integration

package integration

// The typed events (celery/events) decode what a real Python Celery
// worker and a Go worker send, into the same types, without losing a
// field either sends.

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/pypeer"
	"github.com/celeriac/celeriac/worker"
)

func TestEventsTypedPythonAndGo(t *testing.T) {
	e := newEnv(t)
	const goNode = "go-ev@celeriac"

	var mu sync.Mutex
	var got []events.Typed
	ready := make(chan struct{})
	var once sync.Once
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	recv := events.NewReceiver(e.Broker, events.WithOnReady(func(context.Context) { once.Do(func() { close(ready) }) }))
	go func() {
		done <- recv.Run(rctx, func(ev events.Typed) {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		})
	}()
	t.Cleanup(func() { stop(); <-done })
	<-ready

	py := pypeer.StartWorker(t, e.URL, pypeer.WithQueues("pyq"), pypeer.WithEvents())
	startGoWorker(t, e.URL, nil, worker.WithHostname(goNode), worker.WithQueues("goq"), worker.WithEvents(true), wkLogger(t))
	nodes := map[string]string{"pyq": py.NodeName(), "goq": goNode}

	// A client that sends task-sent, as task_send_sent_event does.
	disp := events.NewDispatcher(e.Broker, "gen1@celeriac")
	defer disp.Close()
	client := celery.NewClient(e.Broker, e.Backend, celery.WithSentHook(disp.TaskSent))
	ctx := ctxFor(t, 60*time.Second)
	for q := range nodes {
		for _, s := range []struct {
			task string
			args []any
		}{{"tasks.add", []any{2, 3}}, {"tasks.fail", []any{"boom"}}, {"tasks.flaky", []any{q + "-key", 1}}} {
			r, err := client.SendTask(ctx, s.task, celery.Args(s.args...), celery.Queue(q))
			if err != nil {
				t.Fatal(err)
			}
			_ = r.Get(ctx, nil) // fail fails: only waiting here
		}
	}
	want := []string{events.WorkerOnline, events.WorkerHeartbeat, events.TaskReceived, events.TaskStarted,
		events.TaskSucceeded, events.TaskFailed, events.TaskRetried}
	// byNode[node][type] is the first event of that type from node.
	byNode := func() map[string]map[string]events.Typed {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]map[string]events.Typed{}
		for _, ev := range got {
			h := ev.EventHeader()
			if out[h.Hostname] == nil {
				out[h.Hostname] = map[string]events.Typed{}
			}
			if out[h.Hostname][ev.EventType()] == nil {
				out[h.Hostname][ev.EventType()] = ev
			}
		}
		return out
	}
	waitFor(t, "every event type from both workers", 30*time.Second, func() bool {
		b := byNode()
		for _, n := range nodes {
			for _, ty := range want {
				if b[n][ty] == nil {
					return false
				}
			}
		}
		return b["gen1@celeriac"][events.TaskSent] != nil
	})

	b := byNode()
	if s, ok := b["gen1@celeriac"][events.TaskSent].(*events.TaskSentEvent); !ok || s.Name == "" || s.RootID == nil || s.Queue == "" {
		t.Errorf("task-sent = %+v", b["gen1@celeriac"][events.TaskSent])
	}
	for _, ty := range want {
		paths := map[string]map[string]bool{}
		for _, n := range nodes {
			ev := b[n][ty]
			if _, unknown := ev.(*events.Unknown); unknown {
				t.Errorf("%s from %s decoded as Unknown", ty, n)
				continue
			}
			if _, err := events.Parse(ev.EventHeader().Raw); err != nil {
				t.Errorf("%s from %s: %v", ty, n, err)
			}
			sent, back := map[string]bool{}, map[string]bool{}
			keyPaths(map[string]any(ev.EventHeader().Raw), "", nil, sent)
			keyPaths(roundTrip(t, ev), "", nil, back)
			back["local_received"] = true // set by the receiver, omitted when zero
			for p := range sent {
				if !back[p] {
					t.Errorf("%s from %s: %q sent but not in the typed event", ty, n, p)
				}
			}
			paths[n] = sent
		}
		if a, g := slices.Sorted(maps.Keys(paths[py.NodeName()])), slices.Sorted(maps.Keys(paths[goNode])); !slices.Equal(a, g) {
			t.Errorf("%s: Python sends keys\n  %s\nGo sends\n  %s", ty, strings.Join(a, " "), strings.Join(g, " "))
		}
	}
	for _, n := range nodes {
		if f, ok := b[n][events.TaskFailed].(*events.TaskFailedEvent); !ok || !strings.Contains(f.Exception, "boom") || f.Traceback == "" {
			t.Errorf("task-failed from %s = %+v", n, b[n][events.TaskFailed])
		}
		if s, ok := b[n][events.TaskSucceeded].(*events.TaskSucceededEvent); !ok || s.Result != "5" || s.PID == 0 || s.Clock == 0 {
			t.Errorf("task-succeeded from %s = %+v", n, b[n][events.TaskSucceeded])
		}
		if h, ok := b[n][events.WorkerHeartbeat].(*events.WorkerHeartbeatEvent); !ok || h.Freq == 0 || h.SWIdent == "" || len(h.Loadavg) != 3 {
			t.Errorf("worker-heartbeat from %s = %+v", n, b[n][events.WorkerHeartbeat])
		}
	}
}
