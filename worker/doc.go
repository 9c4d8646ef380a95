// Package worker is a Celery worker in Go: it consumes task messages that
// Python Celery clients (delay, apply_async, send_task) or the Go client
// publish, runs them with registered handlers and stores results where
// Python's AsyncResult.get() finds them.
//
// # Handlers
//
// A Handler is like net/http's: ProcessTask(ctx, *Task) (any, error). Func
// binds a plain function, decoding positional and keyword arguments into
// its parameters once per call, without per-message reflection beyond the
// call itself:
//
//	mux := worker.NewServeMux()
//	mux.Handle("tasks.add", worker.Func(func(ctx context.Context, x, y int) (int, error) {
//		return x + y, nil
//	}, "x", "y"))
//	w := worker.New(broker, backend, mux, worker.WithConcurrency(8))
//	err := w.Run(ctx) // until ctx ends, then a warm shutdown
//
// A handler retries by returning Retry(err, In(d)), reports progress with
// UpdateState, and sees its soft time limit as its context's deadline. A
// PyError gives an error a Python exception type; a panic becomes a
// FAILURE with the Go stack as traceback, never a crash. Celery's other
// task predicates are errors a handler returns too: Reject(reason,
// requeue), Ignore() and Replace(sig) (Task.replace).
//
// Celery's task attributes are TaskOptions given at registration
// (AcksLate, IgnoreResult, StoreErrorsEvenIfIgnored, TrackStarted,
// RateLimit, TimeLimits, MaxRetries, AutoRetryFor, RetryBackoff,
// AcksOnFailureOrTimeout, RejectOnWorkerLost); worker options set the
// defaults. Results carry the children a Python worker records, and the
// extended fields only with WithResultExtended, as in Celery.
//
// # Middleware and hooks
//
// ServeMux.Use wraps every handler (task_prerun/task_postrun style
// instrumentation); WithHooks adds callbacks for what middleware cannot
// see, Celery's signals: worker ready and shutdown, task prerun, postrun
// (with the state the task came to), success, failure, retry and revoked.
// Client-side, celery.WithBeforePublish and celery.WithSentHook are
// before_task_publish and after_task_publish.
//
// # Delivery guarantees
//
// By default a message is acknowledged just before its task runs (at most
// once); with acks_late after it ran (at least once: a crash leaves the
// message in Redis' unacked hash, and the visibility sweep of any worker,
// Python or Go, restores it). A warm shutdown puts every held message (in
// the prefetch window, waiting for its ETA or rate limit) back on its queue.
//
// # Malformed and hostile messages
//
// A message the worker cannot run (an undecodable body, a content type
// not in WithAcceptContent (JSON only by default; pickle never), wrongly
// typed headers, over the WithMaxMessageSize limit, 32 MiB by default,
// before or after decompression) is logged in one line and acknowledged;
// when its task id can be found a FAILURE is stored under it (kombu's
// ContentDisallowed, DecodeError, LimitExceeded, or celery's
// InvalidTaskError), so a client's get() raises instead of waiting.
//
// # Hard time limits
//
// Go cannot kill a goroutine. When a hard limit passes, the task's context
// is cancelled, FAILURE TimeLimitExceeded is stored and the pool slot is
// freed at once; the abandoned goroutine ends when the handler returns.
// revoke with terminate=True does the same with cause TaskRevokedError
// ('terminated') and stores REVOKED; the signal is not delivered.
//
// # Events and remote control
//
// The worker sends worker-online, a worker-heartbeat every 2 s and
// worker-offline, and with WithEvents(true) (or after the enable_events
// command) the task-* events Flower shows. Its pidbox node answers
// Celery's remote-control commands (celery inspect/control, Flower's
// buttons): inspect methods, revoke, revoke_by_stamped_headers,
// rate_limit, time_limit, pool_grow and pool_shrink (which change the
// goroutine count and prefetch window), autoscale (with WithAutoscale),
// add_consumer and cancel_consumer, enable/disable_events, heartbeat and
// shutdown. WithPidbox(false) turns it off.
package worker
