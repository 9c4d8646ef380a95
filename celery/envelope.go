package celery

import "github.com/celeriac/celeriac/internal/kombu"

// DeliveryInfo is where a message was published (exchange, routing key) and
// whether it was redelivered.
type DeliveryInfo struct {
	Exchange    string
	RoutingKey  string
	Redelivered bool
}

// Properties are a message's envelope properties.
type Properties struct {
	CorrelationID string
	ReplyTo       string
	DeliveryMode  int
	// Expiration is milliseconds as a decimal string; empty = absent.
	Expiration   string
	DeliveryInfo DeliveryInfo
	Priority     int
	BodyEncoding string
	DeliveryTag  string
}

// envelopeProperties returns p as the envelope codec's properties.
func (p *Properties) envelopeProperties() kombu.Properties {
	return kombu.Properties{
		CorrelationID: p.CorrelationID, ReplyTo: p.ReplyTo, DeliveryMode: p.DeliveryMode,
		Expiration: p.Expiration, Priority: p.Priority, BodyEncoding: p.BodyEncoding, DeliveryTag: p.DeliveryTag,
		DeliveryInfo: kombu.DeliveryInfo(p.DeliveryInfo),
	}
}

// propertiesOf returns the envelope codec's properties as Properties.
func propertiesOf(p *kombu.Properties) Properties {
	return Properties{
		CorrelationID: p.CorrelationID, ReplyTo: p.ReplyTo, DeliveryMode: p.DeliveryMode,
		Expiration: p.Expiration, Priority: p.Priority, BodyEncoding: p.BodyEncoding, DeliveryTag: p.DeliveryTag,
		DeliveryInfo: DeliveryInfo(p.DeliveryInfo),
	}
}
