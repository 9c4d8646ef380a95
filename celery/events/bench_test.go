package events

import (
	"testing"
	"time"

	"github.com/celeriac/celeriac/internal/pyjson"
)

// BenchmarkEncodeTaskBatch encodes the task.multi body of a worker's
// events for one task (received, started, succeeded), built from maps
// (Send) and from typed events (Emit).
func BenchmarkEncodeTaskBatch(b *testing.B) {
	d := &Dispatcher{hostname: "w@h", clock: &Clock{}, pid: 1, now: time.Now}
	root := "r1"
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			batch := []queued{
				{TaskReceived, d.Build(TaskReceived, map[string]any{"uuid": "u1", "name": "tasks.add", "args": "(2, 3)", "kwargs": "{}",
					"root_id": root, "parent_id": nil, "retries": 0, "eta": nil, "expires": nil})},
				{TaskStarted, d.Build(TaskStarted, map[string]any{"uuid": "u1"})},
				{TaskSucceeded, d.Build(TaskSucceeded, map[string]any{"uuid": "u1", "result": "5", "runtime": 0.001})},
			}
			if _, err := pyjson.Encode(group(batch)[0].body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("typed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			evs := []Typed{
				&TaskReceivedEvent{UUID: "u1", Name: "tasks.add", Args: "(2, 3)", Kwargs: "{}", RootID: &root},
				&TaskStartedEvent{UUID: "u1"},
				&TaskSucceededEvent{UUID: "u1", Result: "5", Runtime: 0.001},
			}
			batch := make([]queued, len(evs))
			for i, ev := range evs {
				batch[i] = queued{ev.EventType(), d.stamp(ev)}
			}
			if _, err := pyjson.Encode(group(batch)[0].body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
