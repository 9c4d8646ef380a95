package api_test

import (
	"log/slog"

	"github.com/celeriac/celeriac/api"
	credis "github.com/celeriac/celeriac/celery/redis"
)

// Shed load: with 256 requests in flight, the next one is answered 503
// with Retry-After at once instead of queueing.
func ExampleWithMaxInFlight() {
	client, _ := credis.NewClient("redis://localhost:6379/0")
	defer client.Close()
	h := api.New(api.Deps{Client: client},
		api.WithLogger(slog.New(slog.DiscardHandler)),
		api.WithMaxInFlight(256))
	_ = h // http.Server{Handler: h, ...}
}
