package worker

import (
	"github.com/celeriac/celeriac/celery"
)

// WithAcceptContent sets accept_content: the content types (or serializer
// names: "json", "msgpack", "yaml") of task messages the worker takes.
// Others are rejected with kombu's ContentDisallowed, as a Python worker
// does. Default JSON only, Celery's default. pickle is never accepted;
// see celery.ParseAccept, which the caller uses to check a list first
// (an invalid list leaves the default).
func WithAcceptContent(names ...string) Option {
	return func(o *options) {
		if a, err := celery.ParseAccept(names); err == nil {
			o.accept = a
		}
	}
}

// decodeOptions is what the worker accepts of a task message body.
func (w *Worker) decodeOptions() celery.DecodeOptions {
	return celery.DecodeOptions{Accept: w.o.accept, MaxSize: w.o.maxMessageSize}
}
