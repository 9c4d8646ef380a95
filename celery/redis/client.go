package redis

import (
	"log/slog"

	"github.com/celeriac/celeriac/celery"
)

type clientOptions struct {
	backendURL  string
	brokerOpts  []BrokerOption
	backendOpts []BackendOption
	clientOpts  []celery.ClientOption
	logger      *slog.Logger
}

// ClientOption configures NewClient and Dial.
type ClientOption func(*clientOptions)

// WithResultBackend sets the result backend URL. Default: the broker URL.
func WithResultBackend(url string) ClientOption {
	return func(o *clientOptions) { o.backendURL = url }
}

// WithBrokerOptions passes options to the Broker.
func WithBrokerOptions(opts ...BrokerOption) ClientOption {
	return func(o *clientOptions) { o.brokerOpts = append(o.brokerOpts, opts...) }
}

// WithBackendOptions passes options to the Backend.
func WithBackendOptions(opts ...BackendOption) ClientOption {
	return func(o *clientOptions) { o.backendOpts = append(o.backendOpts, opts...) }
}

// WithClientOptions passes options to the celery.Client (NewClient).
func WithClientOptions(opts ...celery.ClientOption) ClientOption {
	return func(o *clientOptions) { o.clientOpts = append(o.clientOpts, opts...) }
}

// WithClientLogger sets the logger of the broker and the backend.
func WithClientLogger(l *slog.Logger) ClientOption { return func(o *clientOptions) { o.logger = l } }

// Dial returns the Redis transport at brokerURL and a result backend on
// the broker's Redis, or at the URL of WithResultBackend. The caller
// closes both. No connection is made until first use.
func Dial(brokerURL string, opts ...ClientOption) (*Broker, *Backend, error) {
	var o clientOptions
	for _, opt := range opts {
		opt(&o)
	}
	return dial(brokerURL, &o)
}

func dial(brokerURL string, o *clientOptions) (*Broker, *Backend, error) {
	if o.logger != nil {
		o.brokerOpts = append([]BrokerOption{WithLogger(o.logger)}, o.brokerOpts...)
		o.backendOpts = append([]BackendOption{WithBackendLogger(o.logger)}, o.backendOpts...)
	}
	br, err := NewBroker(brokerURL, o.brokerOpts...)
	if err != nil {
		return nil, nil, err
	}
	if o.backendURL == "" || o.backendURL == brokerURL {
		// The broker URL serves as the backend's too, global_keyprefix
		// parameter included.
		return br, NewBackendOn(br, o.backendOpts...), nil
	}
	be, err := NewBackend(o.backendURL, o.backendOpts...)
	if err != nil {
		br.Close()
		return nil, nil, err
	}
	return br, be, nil
}

// NewClient returns a celery.Client over Dial's broker and backend; its
// Close closes both. No connection is made until first use.
func NewClient(brokerURL string, opts ...ClientOption) (*celery.Client, error) {
	var o clientOptions
	for _, opt := range opts {
		opt(&o)
	}
	br, be, err := dial(brokerURL, &o)
	if err != nil {
		return nil, err
	}
	return celery.NewClient(br, be, append([]celery.ClientOption{celery.WithOwnership()}, o.clientOpts...)...), nil
}
