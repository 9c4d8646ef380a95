package control_test

import (
	"context"
	"fmt"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
)

// Ping every worker, Go or Python, and print who answered.
func ExampleControl_Ping() {
	broker, _ := celery.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	c := control.New(broker)
	replies, err := c.Ping(context.Background(), time.Second)
	if err != nil {
		return
	}
	for node, reply := range replies {
		fmt.Println(node, reply)
	}
}

// Ask one node for its stats.
func ExampleControl_Inspect() {
	broker, _ := celery.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	c := control.New(broker)
	stats, _ := c.Inspect(context.Background(), "stats", nil, time.Second, "celery@host")
	fmt.Println(stats["celery@host"])
}

// Revoke a task and stop it if it is running.
func ExampleControl_Revoke() {
	broker, _ := celery.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	_ = control.New(broker).Revoke(context.Background(), []string{"d9078da5-9915-40a0-bfa1-392c7bde42ed"}, true, "SIGTERM")
}
