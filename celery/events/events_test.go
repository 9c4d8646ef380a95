package events_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUTCOffset(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  int // seconds east
		want float64
	}{
		{"UTC", 0, 0},
		{"UTC+2", 2 * 3600, -2},
		{"UTC-5", -5 * 3600, 5},
		{"UTC+5:30", 5*3600 + 1800, -5.5},
		{"UTC-3:30", -(3*3600 + 1800), 3.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.FixedZone(tc.name, tc.off))
			if got := events.UTCOffset(at); got != tc.want {
				t.Errorf("UTCOffset = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClock(t *testing.T) {
	var c events.Clock
	for _, tc := range []struct {
		op   string
		arg  int64
		want int64
	}{
		{"forward", 0, 1},
		{"adjust", 10, 11},
		{"adjust", 3, 12},
		{"forward", 0, 13},
	} {
		var got int64
		if tc.op == "forward" {
			got = c.Forward()
		} else {
			got = c.Adjust(tc.arg)
		}
		if got != tc.want {
			t.Errorf("%s(%d) = %d, want %d", tc.op, tc.arg, got, tc.want)
		}
	}
}

func TestDispatchReceive(t *testing.T) {
	srv := redistest.Start(t)
	broker, err := credis.NewBroker(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var mu sync.Mutex
	var got []events.Event
	var typed []events.Typed
	ready := make(chan struct{})
	var once sync.Once
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	r := events.NewReceiver(broker, events.WithOnReady(func(context.Context) { once.Do(func() { close(ready) }) }))
	go func() {
		done <- r.Run(rctx, func(e events.Typed) {
			mu.Lock()
			got = append(got, e.EventHeader().Raw)
			typed = append(typed, e)
			mu.Unlock()
		})
	}()
	<-ready

	d := events.NewDispatcher(broker, "w@test", events.WithTaskEvents(false))
	d.Send(events.TaskStarted, map[string]any{"uuid": "dropped"}) // task events off
	d.SetTaskEvents(true)
	d.Send(events.WorkerHeartbeat, map[string]any{"freq": 2.0})
	for _, id := range []string{"a", "b"} {
		d.Send(events.TaskSucceeded, map[string]any{"uuid": id, "result": "4", "runtime": 0.1})
	}
	d.Emit(&events.TaskSucceededEvent{UUID: "c", Result: "4", Runtime: 0.1})
	d.Emit(&events.Unknown{Header: events.Header{Type: "custom-thing"}})
	// A list body, as a buffering Python worker sends on task.multi.
	if err := d.Publish(ctx, "task.multi", []events.Event{d.Build(events.TaskReceived, map[string]any{"uuid": "x"}), d.Build(events.TaskStarted, map[string]any{"uuid": "x"})}); err != nil {
		t.Fatal(err)
	}
	// A client with the dispatcher as its sent hook: task_send_sent_event.
	backend := credis.NewBackendOn(broker)
	defer backend.Close()
	client := celery.NewClient(broker, backend, celery.WithSentHook(d.TaskSent))
	sent, err := client.SendTask(ctx, "tasks.add", celery.Args(2, 2), celery.Queue("q1"))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	deadline := time.After(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 8 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("received %d events, want 8: %v", n, got)
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, e := range got {
		types[e.Type()]++
		if e.Hostname() != "w@test" || e["local_received"] == nil || e["utcoffset"] == nil || e["pid"] == nil {
			t.Errorf("event lacks standard fields: %v", e)
		}
		if e.UUID() == "dropped" {
			t.Errorf("task event sent while off: %v", e)
		}
	}
	if types[events.WorkerHeartbeat] != 1 || types[events.TaskSucceeded] != 3 || types[events.TaskReceived] != 1 || types[events.TaskSent] != 1 || types["custom-thing"] != 1 {
		t.Errorf("event types = %v", types)
	}
	for _, e := range got {
		if e.Type() == events.TaskSent && (e.UUID() != sent.ID || e["name"] != "tasks.add" || e["queue"] != "q1" || e["args"] != "(2, 2)") {
			t.Errorf("task-sent event = %v", e)
		}
	}
	for _, e := range got {
		if e.Type() == events.WorkerHeartbeat {
			if f, _ := e.Float("freq"); f != 2.0 {
				t.Errorf("freq = %v", e["freq"])
			}
		}
	}
	// The same events, typed: sent as maps or typed, they decode alike.
	for _, ev := range typed {
		h := ev.EventHeader()
		if h.Hostname != "w@test" || h.LocalReceived == 0 || h.Clock == 0 || h.PID == 0 || h.Type != ev.EventType() {
			t.Errorf("typed header = %+v", h)
		}
		switch e := ev.(type) {
		case *events.TaskSucceededEvent:
			if e.Result != "4" || e.Runtime != 0.1 {
				t.Errorf("task-succeeded = %+v", e)
			}
		case *events.TaskSentEvent:
			if e.UUID != sent.ID || e.Name != "tasks.add" || e.Queue != "q1" || e.Args != "(2, 2)" || e.RootID == nil || *e.RootID != sent.ID || e.ParentID != nil {
				t.Errorf("task-sent = %+v", e)
			}
		case *events.WorkerHeartbeatEvent:
			if e.Freq != 2.0 || e.Active != nil {
				t.Errorf("worker-heartbeat = %+v", e)
			}
		case *events.Unknown:
			if e.Type != "custom-thing" {
				t.Errorf("unknown = %+v", e)
			}
		}
	}
}

// TestParse: an event decoded from the wire becomes its typed form with
// the map kept; one of unexpected JSON types becomes Unknown with an
// error.
func TestParse(t *testing.T) {
	raw := []byte(`{"body": "W3sidHlwZSI6ICJ0YXNrLWZhaWxlZCIsICJob3N0bmFtZSI6ICJweUBoIiwgInRpbWVzdGFtcCI6IDEuNSwgInV0Y29mZnNldCI6IDAsICJwaWQiOiA3LCAiY2xvY2siOiAzLCAidXVpZCI6ICJ1MSIsICJleGNlcHRpb24iOiAiVmFsdWVFcnJvcignbm8nKSIsICJ0cmFjZWJhY2siOiAiVHJhY2ViYWNrIiwgImV4dHJhIjogMX0sIHsidHlwZSI6ICJ3b3JrZXItb25saW5lIiwgImhvc3RuYW1lIjogInB5QGgiLCAiY2xvY2siOiAieCJ9XQ==", "content-encoding": "utf-8", "content-type": "application/json", "headers": {}, "properties": {"body_encoding": "base64", "delivery_info": {"exchange": "celeryev", "routing_key": "task.multi"}, "delivery_mode": 1, "delivery_tag": "t"}}`)
	evs, err := events.Decode(raw)
	if err != nil || len(evs) != 2 {
		t.Fatalf("Decode = %v, %v", evs, err)
	}
	ev, err := events.Parse(evs[0])
	f, ok := ev.(*events.TaskFailedEvent)
	if err != nil || !ok || f.UUID != "u1" || f.Exception != "ValueError('no')" || f.Traceback != "Traceback" || f.PID != 7 || f.Clock != 3 || f.Time().Unix() != 1 {
		t.Fatalf("Parse(task-failed) = %+v, %v", ev, err)
	}
	if f.Raw["extra"] == nil {
		t.Errorf("raw map lost a field: %v", f.Raw)
	}
	ev, err = events.Parse(evs[1])
	if u, ok := ev.(*events.Unknown); err == nil || !ok || u.Type != events.WorkerOnline || u.Hostname != "py@h" || u.Raw == nil {
		t.Errorf("Parse(bad clock) = %+v, %v", ev, err)
	}
}
