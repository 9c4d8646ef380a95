package redis

import (
	"log/slog"
	"time"

	"github.com/celeriac/celeriac/celery"
)

// options configure the broker, the result backend and the client of
// this package: one Option type for all, so that a name means one thing
// (WithLogger sets the logger of both). An option of the broker is
// ignored by NewBackend, and the other way round.
type options struct {
	broker     brokerOptions
	backend    backendOptions
	backendURL string
	client     []celery.ClientOption
}

// Option configures NewBroker, NewBackend, NewBackendOn, Dial and
// NewClient.
type Option func(*options)

func buildOptions(opts []Option) options {
	o := options{
		broker:  defaultBrokerOptions(),
		backend: backendOptions{expires: 24 * time.Hour, logger: slog.Default()},
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithResultBackend sets the result backend URL of Dial and NewClient.
// Default: the broker URL.
func WithResultBackend(url string) Option {
	return func(o *options) { o.backendURL = url }
}

// WithClientOptions passes options to the celery.Client of NewClient.
func WithClientOptions(opts ...celery.ClientOption) Option {
	return func(o *options) { o.client = append(o.client, opts...) }
}
