package celery

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/celeriac/celeriac/internal/kombu"
)

// Delivery is one message taken from a queue and not yet acknowledged.
type Delivery struct {
	// Queue is the queue it was taken from (priority suffix stripped).
	Queue string
	// Raw is the envelope JSON as popped; nil when the transport hands
	// the envelope parsed (SetEnvelope).
	Raw []byte
	// Err is set when the envelope could not be parsed. Such a delivery
	// may still be recorded in unacked (Tracked): ack it to drop it.
	Err error
	// Tag is the delivery tag (the unacked hash field).
	Tag string
	// Exchange and RoutingKey are the delivery info used to restore it.
	Exchange   string
	RoutingKey string
	// Priority is the message priority.
	Priority int
	// Tracked reports whether the delivery was recorded in unacked. For
	// a record sent ahead it is set before Redis answered: Settle tells
	// whether Redis took it.
	Tracked bool
	// Size is the message's length in bytes as it was popped. For a
	// message over the consumer's size limit Raw is nil, Err wraps
	// ErrMessageTooLarge and TaskID may hold the id found in it.
	Size int
	// TaskID is the task id a cheap textual search found in a message
	// over the size limit ("" when none was found); see DeliveryTaskID.
	TaskID string
	// Hook is the transport's settle state for this delivery (nil when
	// the delivery is settled from the start); Settle consults it. The
	// transport that made the delivery sets it.
	Hook SettleHook
	// env is the parsed envelope, nil until Parse succeeded.
	env *kombu.Envelope
}

// SettleHook is a transport's per-delivery settle state: Redis sends a
// delivery's record in unacked ahead of reading its reply.
type SettleHook interface {
	// Settle returns once the transport's record of the delivery is
	// confirmed (nil) or has failed (an error wrapping ErrNotRecorded).
	// It is safe for concurrent use and cheap once settled.
	Settle() error
}

// ErrNotRecorded is Settle's error for a delivery whose record in unacked
// Redis refused (a Redis at maxmemory, a key of the wrong type): the
// consumer puts the message back at the front of its queue, so the caller
// must not run it, acknowledge it or restore it, only forget it.
var ErrNotRecorded = errors.New("celery: delivery not recorded in unacked; given back to its queue")

// Settle returns once the delivery's record in unacked is confirmed by
// Redis, or has failed (which the consumer logs): then it returns an error
// wrapping ErrNotRecorded. A consumer sends the record of a message its
// blocking pop took without waiting for the reply, so that the message
// is parsed and handed on while the record travels. The task must not
// start before Settle returned nil (a refused record is given back to the
// queue, and must not run), and an ack must not be sent before that reply
// is read, or it could reach Redis first and leave the record behind (the
// message would run again after the visibility timeout). Ack, Reject and
// Requeue call Settle themselves: a caller calls it only to learn whether
// it may run the delivery (and before the by-tag calls AckTags, Restore
// and RestoreTags, which know no delivery). It is safe for concurrent
// use, and cheap once settled.
func (d *Delivery) Settle() error {
	if d.Hook == nil {
		return nil
	}
	return d.Hook.Settle()
}

// ErrMessageTooLarge is a delivery's Err when the message was longer than
// the consumer's size limit (Receiver.SetMaxMessageSize). It wraps
// ErrMalformedMessage.
var ErrMessageTooLarge = fmt.Errorf("%w: message too large", ErrMalformedMessage)

// Parse parses Raw's envelope and fills the delivery's routing fields
// (Tag, Exchange, RoutingKey, Priority) from its properties; it reports
// false for a malformed envelope, with Err set. A transport calls it
// once, when it takes the message.
func (d *Delivery) Parse() bool {
	env, err := kombu.ParseEnvelope(d.Raw)
	if err != nil {
		d.Err = err
		return false
	}
	d.SetEnvelope(env)
	return true
}

// SetEnvelope is Parse for a transport whose messages arrive in parts
// rather than as envelope JSON (AMQP: the body, a header table and the
// basic properties): it takes env as parsed, leaving Raw nil.
func (d *Delivery) SetEnvelope(env *kombu.Envelope) {
	d.env = env
	p := &env.Properties
	d.Tag = p.DeliveryTag
	d.Exchange = p.DeliveryInfo.Exchange
	d.RoutingKey = p.DeliveryInfo.RoutingKey
	if d.Exchange == "" && d.RoutingKey == "" {
		d.RoutingKey = d.Queue
	}
	d.Priority = p.Priority
}

// Parsed reports whether the delivery's envelope was parsed.
func (d *Delivery) Parsed() bool { return d.env != nil }

// Decode decodes the delivery's task message (see DecodeMessage); a
// delivery whose envelope was not parsed is an ErrMalformedMessage.
func (d *Delivery) Decode() (*Message, error) { return d.DecodeWith(DecodeOptions{}) }

// DecodeWith is Decode for a consumer that accepts what opts allows
// (content types, the size after decompression, signatures).
func (d *Delivery) DecodeWith(opts DecodeOptions) (*Message, error) {
	if d.env == nil {
		if d.Err != nil {
			return nil, d.Err
		}
		return nil, fmt.Errorf("%w: envelope not parsed", ErrMalformedMessage)
	}
	return decodeEnvelope(d.env, opts)
}

// Content returns the start of the delivery's message, for a log line:
// at most 256 bytes, then its total length.
func (d *Delivery) Content() string { return TruncatedContent(d.Raw) }

// TruncatedContent is the start of a message for a log line: at most 256
// bytes, then its total length.
func TruncatedContent(raw []byte) string {
	const n = 256
	if len(raw) <= n {
		return string(raw)
	}
	return string(raw[:n]) + "... (" + strconv.Itoa(len(raw)) + " bytes)"
}

// ReplyTo returns the message's reply_to and correlation_id properties
// ("" when the envelope could not be parsed), for a result backend that
// sends results to the task's sender (see WithReplyTo).
func (d *Delivery) ReplyTo() (replyTo, correlationID string) {
	if d.env == nil {
		return "", ""
	}
	return d.env.Properties.ReplyTo, d.env.Properties.CorrelationID
}
