package pypeer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/celeriac/celeriac/celery"
)

// RoutesDoc is the routing table the routing tests share, as a Go routes
// file: a plain queue, a topic exchange reached by glob and regular
// expression routes, and a Broadcast queue. RoutingEnv gives the Python
// app (integration/pyapp/tasks.py) the same table.
const RoutesDoc = `
task_routes:
  tasks.add: routed_add
  "tasks.m*": {queue: feed_tasks, routing_key: feed.mul}
  "re:^tasks\\.x": {exchange: feeds, exchange_type: topic, routing_key: feed.xsum.daily}
  tasks.echo: bcast_tasks
task_queues:
  routed_add:
  feed_tasks: {exchange: feeds, exchange_type: topic, routing_key: "feed.#"}
  bcast_tasks: {broadcast: true}
`

const (
	pyRoutes = `{"tasks.add": "routed_add", "tasks.m*": {"queue": "feed_tasks", "routing_key": "feed.mul"},
		"re:^tasks\\.x": {"exchange": "feeds", "exchange_type": "topic", "routing_key": "feed.xsum.daily"},
		"tasks.echo": {"queue": "bcast_tasks"}}`
	pyQueues = `[{"name": "routed_add"}, {"name": "feed_tasks", "exchange": "feeds", "exchange_type": "topic", "routing_key": "feed.#"},
		{"name": "bcast_tasks", "broadcast": true}]`
)

// RoutingEnv is RoutesDoc for the Python app: task_routes and
// task_queues in the environment variables tasks.py reads.
func RoutingEnv() []string {
	return []string{"CELERIAC_TASK_ROUTES=" + pyRoutes, "CELERIAC_TASK_QUEUES=" + pyQueues}
}

// LoadRoutes writes RoutesDoc to a file in the test's temporary directory
// and loads it; it returns the routes and the file's path.
func LoadRoutes(tb testing.TB) (*celery.Routes, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, []byte(RoutesDoc), 0o600); err != nil {
		tb.Fatal(err)
	}
	r, err := celery.LoadRoutes(path)
	if err != nil {
		tb.Fatal(err)
	}
	return r, path
}
