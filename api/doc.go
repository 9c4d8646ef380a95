// Package api is celeriac's HTTP API, built on Gin: the original FastAPI
// stack's two endpoints, unchanged, and a v1 API to send, watch and revoke
// Celery tasks. It only talks to a celery.Client (and, for revoke and the
// worker list, to small interfaces over celery/control), never to Redis
// directly, so a Go or a Python Celery worker may run the tasks.
//
// # Routes
//
//	GET    /run-task/?duration=N        send tasks.sample_task(N) → {"task_id", "status": "Task submitted"}
//	GET    /task-status/{task_id}       {"status"} (+ "result" on SUCCESS, "error" on FAILURE)
//	POST   /api/v1/tasks/{name}         send an allowed task (JSON: args, kwargs, countdown, eta,
//	                                    expires, priority, queue, task_id) → 202 + Location
//	GET    /api/v1/tasks/{id}[?wait=5s] state, result, meta, error, traceback, date_done
//	DELETE /api/v1/tasks/{id}[?terminate=true&signal=SIGKILL]   revoke broadcast
//	GET    /api/v1/tasks/{id}/events    Server-Sent Events: the task's states until it is ready
//	GET    /api/v1/queues[?queue=q]     waiting messages per queue and priority
//	GET    /api/v1/queues/{name}/messages[?limit=N&cursor=C]   peek at pending messages
//	DELETE /api/v1/queues/{name}/messages/{task_id}   remove one (REVOKED stored)
//	DELETE /api/v1/queues/{name}/messages?task=NAME    purge by task name
//	POST   /api/v1/queues/{name}/move   move messages to another queue (JSON: to, task, task_id, limit)
//	POST   /api/v1/queues/{name}/pause|resume   stop or restart its consumers fleet-wide
//	GET    /api/v1/archive[?limit=N&cursor=C]   dead letters, newest first
//	POST   /api/v1/archive/{task_id}/requeue    put one back on its queue
//	DELETE /api/v1/archive/{task_id}            drop one
//	GET    /api/v1/workers              workers seen through remote control
//	GET    /healthz, /readyz, /metrics, /openapi.json, /docs
//
// /openapi.json (OpenAPI 3.1) documents every route, and /docs is a
// self-contained page (embedded, no network) that calls them.
//
// # Walk-through
//
//	client, _ := redis.NewClient("redis://localhost:6379/0") // celery/redis
//	gin.SetMode(gin.ReleaseMode) // the caller's choice, once
//	h := api.New(api.Deps{Client: client},
//		api.WithAllowedTasks("tasks.add"),
//		api.WithToken(os.Getenv("CELERIAC_API_TOKEN")))
//	srv := &http.Server{Addr: ":8000", Handler: h, ReadHeaderTimeout: 10 * time.Second}
//	go srv.ListenAndServe()
//	// ... on SIGTERM: srv.Shutdown(ctx)
//
// Waiting (GET ?wait= and the event stream) subscribes to the task's
// result channel before reading its key, as Python's AsyncResult does, so
// it never polls.
//
// # Security
//
// With WithToken, every route but /healthz, /readyz, /docs and
// /openapi.json needs "Authorization: Bearer <token>". The generic
// endpoint sends only the names given to WithAllowedTasks (none by
// default). Request bodies must be JSON and are limited in size
// (WithMaxBodyBytes); unknown fields are refused. WithRateLimit gives
// every client IP a token bucket (429 with Retry-After beyond it); the
// client is the TCP peer unless WithTrustedProxies names the proxies
// whose X-Forwarded-For counts.
//
// # Errors
//
// Every 4xx and 5xx has a JSON body in FastAPI's shape: {"detail": "text"},
// or for 422 {"detail": [{"type", "loc", "msg", "input", "ctx"}]} as
// pydantic writes it. One function (statusOf) maps errors to statuses:
// bad input 422, auth 401, unknown route or task name 404, body too large
// 413, non-JSON body 415, rate limit 429, feature not configured 501,
// broker unreachable 503. A 5xx body never carries the cause.
//
// # Concurrency
//
// The handler returned by New is safe for concurrent use. It keeps its
// Prometheus metrics on a registry of its own, so several may coexist in
// one process. It does not set gin's mode or any other global state.
package api
