package control_test

import (
	"context"
	"fmt"
	"time"

	"github.com/celeriac/celeriac/celery/control"
	credis "github.com/celeriac/celeriac/celery/redis"
)

// Ping every worker, Go or Python, and print who answered.
func ExampleControl_Ping() {
	broker, _ := credis.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	c := control.New(broker)
	replies, err := c.Ping(context.Background(), time.Second)
	if err != nil {
		return
	}
	for node, reply := range replies {
		fmt.Println(node, reply.OK) // "pong"
	}
}

// Ask one node for its stats.
func ExampleControl_Stats() {
	broker, _ := credis.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	c := control.New(broker)
	stats, err := c.Stats(context.Background(), time.Second, "celery@host")
	if err != nil {
		fmt.Println(err) // the broadcast failed, or a node answered an error
	}
	if s, ok := stats["celery@host"]; ok {
		fmt.Println(s.Pool.MaxConcurrency, s.Total)
	}
}

// Run a command the typed methods do not cover and get the replies as
// they came.
func ExampleControl_Inspect() {
	broker, _ := credis.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	c := control.New(broker)
	replies, _ := c.Inspect(context.Background(), "memsample", nil, time.Second)
	for node, v := range replies {
		fmt.Println(node, v)
	}
}

// Revoke a task and stop it if it is running.
func ExampleControl_Revoke() {
	broker, _ := credis.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	_ = control.New(broker).Revoke(context.Background(), []string{"d9078da5-9915-40a0-bfa1-392c7bde42ed"}, true, "SIGTERM")
}
