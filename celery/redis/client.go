package redis

import "github.com/celeriac/celeriac/celery"

// Dial returns the Redis transport at brokerURL and a result backend on
// the broker's Redis, or at the URL of WithResultBackend. The caller
// closes both. No connection is made until first use.
func Dial(brokerURL string, opts ...Option) (*Broker, *Backend, error) {
	backendURL := buildOptions(opts).backendURL
	br, err := NewBroker(brokerURL, opts...)
	if err != nil {
		return nil, nil, err
	}
	if backendURL == "" || backendURL == brokerURL {
		// The broker URL serves as the backend's too, global_keyprefix
		// parameter included.
		return br, NewBackendOn(br, opts...), nil
	}
	be, err := NewBackend(backendURL, opts...)
	if err != nil {
		br.Close()
		return nil, nil, err
	}
	return br, be, nil
}

// NewClient returns a celery.Client over Dial's broker and backend; its
// Close closes both. No connection is made until first use.
func NewClient(brokerURL string, opts ...Option) (*celery.Client, error) {
	br, be, err := Dial(brokerURL, opts...)
	if err != nil {
		return nil, err
	}
	return celery.NewClient(br, be, append([]celery.ClientOption{celery.WithOwnership()}, buildOptions(opts).client...)...), nil
}
