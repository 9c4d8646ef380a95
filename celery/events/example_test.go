package events_test

import (
	"context"
	"fmt"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/events"
)

// Print every event of every worker, as `celery events --dump` does.
func ExampleReceiver_Run() {
	broker, _ := celery.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	ctx := context.Background()
	r := events.NewReceiver(broker, events.WithPattern("*"))
	_ = r.Run(ctx, func(e events.Event) {
		fmt.Println(e.Hostname(), e.Type(), e.UUID())
	})
}

// Send a task event as a worker would.
func ExampleDispatcher_Send() {
	broker, _ := celery.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	d := events.NewDispatcher(broker, "go1@example")
	defer d.Close()
	d.Send(events.TaskSucceeded, map[string]any{"uuid": "a1b2", "result": "4", "runtime": 0.01})
}

func ExampleRoutingKey() {
	fmt.Println(events.RoutingKey(events.TaskSucceeded))
	// Output: task.succeeded
}
