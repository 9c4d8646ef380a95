// Package celery speaks Celery's Redis wire protocol: task messages
// (protocol v2 for sending, v1 and v2 for receiving), kombu's Redis
// transport with ack emulation, the Redis result backend, and a client that
// Python Celery workers cannot tell from a Python client.
//
// # Sending tasks
//
//	c, err := credis.NewClient("redis://localhost:6379/0")
//	res, err := c.SendTask(ctx, "tasks.add", celery.Args(2, 2), celery.Countdown(time.Second))
//	var sum int
//	err = res.Get(ctx, &sum) // waits on the result channel: no polling
//
// A FAILURE result comes back as a *TaskError carrying the Python exception
// type, module, arguments and traceback (errors.As to reach it).
//
// # Values
//
// Arguments and results travel as kombu JSON: Go's time.Time, uuid.UUID,
// []byte and the pyjson Decimal, Date and TimeOfDay types arrive in Python
// as datetime, UUID, bytes, Decimal, date and time, and the other way round.
// Numbers decode as json.Number, so big integers are exact.
//
// # Broker
//
// Broker publishes with LPUSH onto the queue's priority bucket (priority 0
// first, as on Redis), consumes with one blocking BRPOP over all queues and
// buckets, and records deliveries in the unacked hash so that a crashed
// consumer's messages are restored by any worker's visibility sweep,
// Python's included.
//
// # Concurrency
//
// Client, Broker and Backend are safe for concurrent use. A Consumer is
// owned by one goroutine.
//
// # Errors
//
// Decoding failures wrap ErrMalformedMessage (ErrContentType for pickle and
// other refused serializers): such messages must be rejected, not retried.
// Operations on closed values return ErrClosed.
package celery
