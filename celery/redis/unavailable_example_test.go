package redis_test

import (
	"context"
	"fmt"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/redis"
)

// celery.IsUnavailable tells a Redis outage (retry later, answer 503) from other
// errors. Nothing listens on port 1 here.
func Example_unavailable() {
	client, _ := redis.NewClient("redis://127.0.0.1:1/0")
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.SendTask(ctx, "tasks.add", celery.Args(2, 3))
	fmt.Println(celery.IsUnavailable(err))
	// Output: true
}
