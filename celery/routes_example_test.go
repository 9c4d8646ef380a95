package celery_test

import (
	"fmt"

	"github.com/celeriac/celeriac/celery"
)

// Routes built in Go, as Celery's task_routes and task_queues: exact
// names first, then the patterns in order.
func ExampleRoutes() {
	r := celery.NewRoutes()
	_ = r.DeclareQueue(celery.QueueSpec{Name: "feed_tasks", Exchange: "feeds", ExchangeType: celery.ExchangeTopic, RoutingKey: "feed.#"})
	_ = r.Add("feeds.*", celery.TaskRoute{Queue: "feed_tasks", RoutingKey: "feed.import"})
	_ = r.Add(`re:^video\.`, celery.TaskRoute{Queue: "video"})
	_ = r.Add("feeds.urgent", celery.TaskRoute{Queue: "urgent"})
	client := celery.NewClient(nil, nil, celery.WithRouter(r))
	for _, task := range []string{"feeds.fetch", "feeds.urgent", "video.encode", "tasks.add"} {
		_, pub := client.BuildMessage(task)
		fmt.Printf("%s: queue=%q exchange=%q type=%q key=%q\n", task, pub.Queue, pub.Exchange, pub.ExchangeType, pub.RoutingKey)
	}
	// Output:
	// feeds.fetch: queue="" exchange="feeds" type="topic" key="feed.import"
	// feeds.urgent: queue="urgent" exchange="" type="" key=""
	// video.encode: queue="video" exchange="" type="" key=""
	// tasks.add: queue="celery" exchange="" type="" key=""
}
