package worker_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/worker"
)

// Expose the worker's metrics, among them
// celeriac_worker_abandoned_handlers: handlers abandoned at their hard
// time limit that ignore their context and still run.
func ExampleWithRegisterer() {
	broker, _ := credis.NewBroker("redis://localhost:6379/0")
	defer broker.Close()
	reg := prometheus.NewRegistry()
	w := worker.New(broker, credis.NewBackendOn(broker), worker.NewServeMux(),
		worker.WithRegisterer(reg), worker.WithHostname("celery@example"))
	fmt.Println(w.Abandoned())
	// Output: 0
}
