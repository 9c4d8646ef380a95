package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/celeriac/celeriac/celery"
	camqp "github.com/celeriac/celeriac/celery/amqp"
	credis "github.com/celeriac/celeriac/celery/redis"
)

// This file picks the transport and the result backend by URL scheme:
// an explicit switch, no registry. Redis (celery/redis) and AMQP
// (celery/amqp, RabbitMQ) so far; another transport adds its schemes
// here.

// transportOf names the transport that speaks url, or returns "" with
// the URL's scheme when none does.
func transportOf(url string) (transport, scheme string) {
	scheme, _, ok := strings.Cut(url, "://")
	if !ok {
		return "", ""
	}
	switch scheme {
	case "redis", "rediss", "unix", "redis+socket", "socket", "sentinel":
		return "redis", scheme
	case "amqp", "pyamqp", "amqps":
		return "amqp", scheme
	}
	return "", scheme
}

// errScheme is the error for a URL no transport speaks. (A URL without a
// scheme is left to the transport's parser, which says what is wrong.)
func errScheme(what, url string) error {
	_, scheme := transportOf(url)
	want := "redis://, rediss://, unix://, sentinel://, amqp://, pyamqp:// or amqps://"
	if what == "result backend" {
		want = "redis://, rediss://, unix://, sentinel:// or rpc://"
	}
	return fmt.Errorf("%s %q: unsupported scheme %q (want %s)", what, redactURL(url), scheme, want)
}

// newBroker opens the Redis broker at url (the commands that need Redis
// itself: beat's schedule store).
func newBroker(url string, opts ...credis.Option) (*credis.Broker, error) {
	switch t, scheme := transportOf(url); {
	case t == "amqp":
		return nil, fmt.Errorf("broker %q: this command needs a Redis broker (redis://); AMQP is not supported here yet", redactURL(url))
	case t == "" && scheme != "":
		return nil, errScheme("broker", url)
	}
	return credis.NewBroker(url, opts...)
}

// transportConfig is what opening a transport may need beyond its URL.
type transportConfig struct {
	log       *slog.Logger
	redisOpts []credis.Option
	prefetch  int // AMQP basic.qos (0: no limit)
	queues    camqp.QueueDefaults
}

// newTransport opens the broker at url, of whichever transport speaks it.
func newTransport(url string, cfg transportConfig) (celery.Transport, error) {
	switch t, scheme := transportOf(url); {
	case cfg.queues.MaxPriority > 255:
		return nil, usagef("--queue-max-priority: want 1 to 255, got %d", cfg.queues.MaxPriority)
	case t == "amqp":
		b, err := camqp.NewBroker(url, camqp.WithLogger(cfg.log), camqp.WithPrefetch(cfg.prefetch), camqp.WithQueueDefaults(cfg.queues))
		if errors.Is(err, camqp.ErrBadURL) {
			// A URL that cannot work is a usage error (exit 2).
			return nil, &usageError{err}
		}
		return b, err
	case t == "" && scheme != "":
		return nil, errScheme("broker", url)
	}
	return credis.NewBroker(url, append([]credis.Option{credis.WithLogger(cfg.log)}, cfg.redisOpts...)...)
}

// newBackend opens the result backend at url.
func newBackend(url string, opts ...credis.Option) (*credis.Backend, error) {
	if t, scheme := transportOf(url); t != "redis" && scheme != "" {
		if t == "amqp" {
			return nil, fmt.Errorf("result backend %q: an AMQP broker is not a result backend; use rpc:// (results sent back to the client over the AMQP broker) or redis://", redactURL(url))
		}
		return nil, errScheme("result backend", url)
	}
	return credis.NewBackend(url, opts...)
}

// openBackend opens the result backend at backendURL for broker (opened
// from brokerURL): on the broker's Redis connections when the URLs are
// the same; for an AMQP broker without a result backend of its own, none
// (celery.DisabledBackend, as Celery's: results are not stored, and
// asking for one says so), with a warning.
//
// rpc:// (or "rpc") is Celery's rpc result backend on an AMQP broker's
// connection, with rpcOpts; with a Redis broker it is refused.
func openBackend(broker celery.Transport, brokerURL, backendURL string, log *slog.Logger, opts []credis.Option, rpcOpts ...camqp.RPCOption) (celery.ResultBackend, error) {
	if isRPC(backendURL) {
		ab, ok := broker.(*camqp.Broker)
		if !ok {
			return nil, fmt.Errorf("result backend %q: rpc:// needs an AMQP broker (amqp://); with broker %q use a redis:// result backend", backendURL, redactURL(brokerURL))
		}
		return camqp.NewRPCBackend(ab, rpcOpts...)
	}
	opts = append([]credis.Option{credis.WithLogger(log)}, opts...)
	if backendURL == "" || backendURL == brokerURL {
		if rb, ok := broker.(*credis.Broker); ok {
			return credis.NewBackendOn(rb, opts...), nil
		}
		log.Warn("no result backend: results are disabled (set --result-backend rpc:// or redis://... to keep them)", "broker", redactURL(brokerURL))
		return celery.DisabledBackend{}, nil
	}
	return newBackend(backendURL, opts...)
}

// isRPC reports whether url names Celery's rpc result backend: "rpc://"
// (anything after it is ignored, as Celery does) or "rpc".
func isRPC(url string) bool {
	return strings.EqualFold(url, "rpc") || len(url) >= 6 && strings.EqualFold(url[:6], "rpc://")
}

// dialURLs opens the broker at brokerURL and the result backend at
// backendURL (on the broker's connections when the URLs are the same).
func dialURLs(brokerURL, backendURL string, log *slog.Logger, queues camqp.QueueDefaults, brokerOpts []credis.Option, backendOpts []credis.Option) (celery.Transport, celery.ResultBackend, error) {
	br, err := newTransport(brokerURL, transportConfig{log: log, redisOpts: brokerOpts, queues: queues})
	if err != nil {
		return nil, nil, err
	}
	be, err := openBackend(br, brokerURL, backendURL, log, backendOpts)
	if err != nil {
		br.Close()
		return nil, nil, err
	}
	return br, be, nil
}

// isAuthError reports whether err is a broker refusing the credentials
// (Redis or RabbitMQ): retrying cannot help.
func isAuthError(err error) bool { return credis.IsAuthError(err) || camqp.IsAuthError(err) }

// probeTLS checks that a TLS broker accepts our client certificate before
// anything is sent (see credis.ProbeTLS); nil for other brokers.
func probeTLS(ctx context.Context, url string, wait time.Duration) error {
	if t, _ := transportOf(url); t != "redis" {
		return nil
	}
	return credis.ProbeTLS(ctx, url, wait)
}
