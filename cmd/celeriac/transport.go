package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	credis "github.com/celeriac/celeriac/celery/redis"
)

// This file picks the transport and the result backend by URL scheme:
// an explicit switch, no registry. Redis (celery/redis) is the only one
// so far; another transport adds its schemes here.

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
	}
	return "", scheme
}

// errScheme is the error for a URL no transport speaks. (A URL without a
// scheme is left to the transport's parser, which says what is wrong.)
func errScheme(what, url string) error {
	_, scheme := transportOf(url)
	return fmt.Errorf("%s %q: unsupported scheme %q (want redis://, rediss://, unix:// or sentinel://)", what, redactURL(url), scheme)
}

// newBroker opens the broker at url.
func newBroker(url string, opts ...credis.Option) (*credis.Broker, error) {
	if t, scheme := transportOf(url); t == "" && scheme != "" {
		return nil, errScheme("broker", url)
	}
	return credis.NewBroker(url, opts...)
}

// newBackend opens the result backend at url.
func newBackend(url string, opts ...credis.Option) (*credis.Backend, error) {
	if t, scheme := transportOf(url); t == "" && scheme != "" {
		return nil, errScheme("result backend", url)
	}
	return credis.NewBackend(url, opts...)
}

// dialURLs opens the broker at brokerURL and the result backend at
// backendURL (on the broker's connections when the URLs are the same).
func dialURLs(brokerURL, backendURL string, log *slog.Logger, brokerOpts []credis.Option, backendOpts []credis.Option) (*credis.Broker, *credis.Backend, error) {
	br, err := newBroker(brokerURL, append([]credis.Option{credis.WithLogger(log)}, brokerOpts...)...)
	if err != nil {
		return nil, nil, err
	}
	backendOpts = append([]credis.Option{credis.WithLogger(log)}, backendOpts...)
	if backendURL == "" || backendURL == brokerURL {
		return br, credis.NewBackendOn(br, backendOpts...), nil
	}
	be, err := newBackend(backendURL, backendOpts...)
	if err != nil {
		br.Close()
		return nil, nil, err
	}
	return br, be, nil
}

// isAuthError reports whether err is a broker's refusal of our
// credentials, which retrying does not cure.
func isAuthError(err error) bool { return credis.IsAuthError(err) }

// probeTLS checks that a TLS broker accepts our client certificate before
// anything is sent (see credis.ProbeTLS); nil for other brokers.
func probeTLS(ctx context.Context, url string, wait time.Duration) error {
	if t, _ := transportOf(url); t != "redis" {
		return nil
	}
	return credis.ProbeTLS(ctx, url, wait)
}
