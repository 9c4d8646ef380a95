package events_test

import (
	"context"
	"fmt"

	"github.com/celeriac/celeriac/celery/events"
	credis "github.com/celeriac/celeriac/celery/redis"
)

// Print every event of every worker, as `celery events --dump` does.
func ExampleReceiver_Run() {
	broker, _ := credis.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	ctx := context.Background()
	r := events.NewReceiver(broker, events.WithPattern("*"))
	_ = r.Run(ctx, func(ev events.Typed) {
		switch e := ev.(type) {
		case *events.TaskSucceededEvent:
			fmt.Println(e.Hostname, "succeeded", e.UUID, e.Result, e.Runtime)
		case *events.TaskFailedEvent:
			fmt.Println(e.Hostname, "failed", e.UUID, e.Exception)
		default:
			// Any type, with every field as received.
			fmt.Println(ev.EventType(), ev.EventHeader().Raw)
		}
	})
}

// Send a task event as a worker would.
func ExampleDispatcher_Emit() {
	broker, _ := credis.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	d := events.NewDispatcher(broker, "go1@example")
	defer d.Close()
	d.Emit(&events.TaskSucceededEvent{UUID: "a1b2", Result: "4", Runtime: 0.01})
}

// Send an event of a type of one's own, fields as a map.
func ExampleDispatcher_Send() {
	broker, _ := credis.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	d := events.NewDispatcher(broker, "go1@example")
	defer d.Close()
	d.Send("task-progress", map[string]any{"uuid": "a1b2", "done": 3, "total": 10})
}

func ExampleRoutingKey() {
	fmt.Println(events.RoutingKey(events.TaskSucceeded))
	// Output: task.succeeded
}
