package api_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/celeriac/celeriac/api"
	credis "github.com/celeriac/celeriac/celery/redis"
)

// New needs only a celery.Client; nothing connects until a request needs
// the broker, so /healthz answers here without a Redis.
func ExampleNew() {
	client, err := credis.NewClient("redis://localhost:6379/0")
	if err != nil {
		panic(err)
	}
	defer client.Close()
	h := api.New(api.Deps{Client: client},
		api.WithLogger(slog.New(slog.DiscardHandler)),
		api.WithAllowedTasks("tasks.add"),
		api.WithMaxDuration(60))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	fmt.Println(w.Code, w.Body.String())
	// Output: 200 {"status":"ok"}
}

// Serve the API with timeouts and shut it down gracefully, as
// `celeriac serve` does.
func ExampleNew_server() {
	client, _ := credis.NewClient("redis://localhost:6379/0")
	defer client.Close()
	srv := &http.Server{
		Addr: ":8000",
		Handler: api.New(api.Deps{Client: client}, api.WithToken("s3cret"),
			// 5 requests per second per client IP, bursts of 20.
			api.WithRateLimit(5, 20)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second,
	}
	_ = srv // srv.ListenAndServe(); on SIGTERM: srv.Shutdown(ctx)
}
