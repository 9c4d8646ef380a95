package redis

import (
	"strconv"

	"github.com/celeriac/celeriac/celery"
)

var (
	_ celery.Transport     = (*Broker)(nil)
	_ celery.ResultBackend = (*Backend)(nil)
)

// Consume returns a consumer of queues (Transport; NewConsumer returns
// the concrete type).
func (b *Broker) Consume(queues ...string) celery.Receiver { return b.NewConsumer(queues...) }

// VirtualHost returns the database number, kombu's virtual host on Redis.
func (b *Broker) VirtualHost() string { return strconv.Itoa(b.db) }

// ValidateQueue is celery.ValidateQueue for this broker: the name must
// also be valid once prefixed with the broker's global key prefix
// (WithKeyPrefix).
func (b *Broker) ValidateQueue(name string) error {
	return celery.ValidatePrefixedQueue(b.o.prefix, name)
}
