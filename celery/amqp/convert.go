package amqp

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/internal/kombu"
)

// This file converts between kombu's JSON envelope, which the rest of
// celeriac reads and writes, and AMQP messages. On AMQP the envelope's
// parts are the message's own: the body travels as is (no base64), the
// headers as the header table, and correlation_id, reply_to,
// delivery_mode, priority and expiration as basic properties
// (kombu/transport/pyamqp.py `Channel.prepare_message`;
// docs/wire.md#amqp-messages).

// toPublishing converts an envelope to an AMQP message. priority, when
// not 0, overrides the envelope's.
func toPublishing(raw []byte, priority int) (amqp.Publishing, error) {
	env, err := kombu.ParseEnvelope(raw)
	if err != nil {
		return amqp.Publishing{}, err
	}
	p := &env.Properties
	if priority == 0 {
		priority = p.Priority
	}
	mode := uint8(amqp.Persistent)
	if p.DeliveryMode == 1 {
		mode = amqp.Transient
	}
	return amqp.Publishing{
		Headers:         toTable(env.Headers),
		ContentType:     env.ContentType,
		ContentEncoding: env.ContentEncoding,
		DeliveryMode:    mode,
		Priority:        uint8(max(0, min(priority, 255))),
		CorrelationId:   p.CorrelationID,
		ReplyTo:         p.ReplyTo,
		Expiration:      p.Expiration,
		Body:            env.Body,
	}, nil
}

// toTable converts decoded JSON headers to an AMQP field table: numbers
// become int64 when integral (py-amqp's signed 64-bit 'l'), float64
// otherwise.
func toTable(h map[string]any) amqp.Table {
	if h == nil {
		return nil
	}
	t := make(amqp.Table, len(h))
	for k, v := range h {
		t[k] = toField(v)
	}
	return t
}

func toField(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return toTable(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toField(e)
		}
		return out
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case interface{ Int64() (int64, error) }: // pyjson's number type
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := strconv.ParseFloat(fmt.Sprint(x), 64)
		return f
	case int:
		return int64(x)
	}
	return v
}

// envelopeOf converts a delivered AMQP message to the envelope JSON the
// rest of celeriac reads, with its delivery tag and routing.
func envelopeOf(d *amqp.Delivery) ([]byte, error) {
	env := kombu.Envelope{
		Body:            d.Body,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		Headers:         fromTable(d.Headers),
		Properties: kombu.Properties{
			CorrelationID: d.CorrelationId,
			ReplyTo:       d.ReplyTo,
			DeliveryMode:  int(d.DeliveryMode),
			Expiration:    d.Expiration,
			Priority:      int(d.Priority),
			BodyEncoding:  "base64",
			DeliveryTag:   strconv.FormatUint(d.DeliveryTag, 10),
			DeliveryInfo: kombu.DeliveryInfo{
				Exchange: d.Exchange, RoutingKey: d.RoutingKey, Redelivered: d.Redelivered,
			},
		},
	}
	if env.Headers == nil {
		env.Headers = map[string]any{}
	}
	return env.Append(nil)
}

// fromTable converts an AMQP field table to JSON values (py-amqp gives
// Celery the same: ints, floats, strings, lists, dicts, booleans, None).
func fromTable(t amqp.Table) map[string]any {
	if t == nil {
		return nil
	}
	m := make(map[string]any, len(t))
	for k, v := range t {
		m[k] = fromField(v)
	}
	return m
}

func fromField(v any) any {
	switch x := v.(type) {
	case amqp.Table:
		return fromTable(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromField(e)
		}
		return out
	case nil, bool, string, int64, float64:
		return x
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case float32:
		return float64(x)
	case []byte:
		return string(x)
	case time.Time:
		// py-amqp gives a datetime; JSON has no such type.
		return x.UTC().Format(time.RFC3339Nano)
	case amqp.Decimal:
		f, _ := strconv.ParseFloat(strconv.Itoa(int(x.Value))+"e-"+strconv.Itoa(int(x.Scale)), 64)
		return f
	}
	return fmt.Sprint(v)
}
