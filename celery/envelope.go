package celery

import "github.com/celeriac/celeriac/internal/kombu"

// DeliveryInfo is where a message was published (exchange, routing key) and
// whether it was redelivered.
type DeliveryInfo = kombu.DeliveryInfo

// Properties are a message's envelope properties.
type Properties = kombu.Properties
