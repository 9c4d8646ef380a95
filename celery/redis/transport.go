package redis

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/rconn"
)

var (
	_ celery.Transport     = (*Broker)(nil)
	_ celery.ResultBackend = (*Backend)(nil)
)

// Consume returns a consumer of queues (Transport; NewConsumer returns
// the concrete type).
func (b *Broker) Consume(queues ...string) celery.Receiver { return b.NewConsumer(queues...) }

// Info describes the broker's connection; the virtual host is the
// database number, as kombu's Redis transport has it.
func (b *Broker) Info() celery.BrokerInfo {
	info := celery.BrokerInfo{Transport: "redis", Hostname: "localhost", Port: 6379, VirtualHost: strconv.Itoa(b.db)}
	if b.cfg == nil {
		return info
	}
	if b.cfg.Network == "unix" {
		info.Transport = "redis+socket"
	}
	info.Hostname = b.cfg.Addr // a unix socket's path
	if host, port, err := net.SplitHostPort(b.cfg.Addr); err == nil {
		info.Hostname = host
		if p, err := strconv.Atoi(port); err == nil {
			info.Port = p
		}
	}
	info.UserID = b.cfg.Username
	info.SSL = b.cfg.TLS != nil
	return info
}

// IsAuthError reports whether err means Redis refused who we are (a wrong
// password or ACL user, missing permissions, a refused certificate), not
// that it is unreachable: retrying does not help with these.
func IsAuthError(err error) bool { return rconn.IsAuthError(err) }

// ProbeTLS checks, for a rediss:// URL, that the server accepts our
// client certificate, waiting up to wait for its alert before anything
// is sent (see rconn.Config.ProbeTLS). It returns nil for other URLs.
func ProbeTLS(ctx context.Context, url string, wait time.Duration) error {
	cfg, err := rconn.ParseURL(url)
	if err != nil {
		return nil
	}
	return cfg.ProbeTLS(ctx, wait)
}

// ValidateQueue is celery.ValidateQueue for this broker: the name must
// also be valid once prefixed with the broker's global key prefix
// (WithKeyPrefix).
func (b *Broker) ValidateQueue(name string) error {
	return celery.ValidatePrefixedQueue(b.o.prefix, name)
}
