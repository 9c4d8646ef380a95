// Package celery speaks Celery's wire protocol: task messages (protocol
// v2 for sending, v1 and v2 for receiving), the interfaces of a transport
// (Transport and the small ones it is made of) and of a result backend
// (ResultBackend), and a client over them that Python Celery workers
// cannot tell from a Python client. Package celery/redis implements the
// interfaces on Redis (kombu's Redis transport with ack emulation,
// Celery's Redis result backend).
//
// # Sending tasks
//
//	c, err := redis.NewClient("redis://localhost:6379/0") // celery/redis
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
// # Concurrency
//
// A Client is safe for concurrent use, and so are the transports and
// result backends it runs on. A Receiver is owned by one goroutine.
//
// # Errors
//
// Decoding failures wrap ErrMalformedMessage (ErrContentType for pickle and
// other refused serializers): such messages must be rejected, not retried.
// Operations on closed values return ErrClosed.
package celery
