package amqp

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
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

// envelopeOf converts a delivered AMQP message to its envelope, as the
// rest of celeriac reads it: what kombu.ParseEnvelope would give for the
// envelope JSON of the message (see envelopeJSON), with its delivery tag
// and routing, without writing and parsing that JSON.
func envelopeOf(d *amqp.Delivery) *kombu.Envelope {
	env := &kombu.Envelope{
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
	return env
}

// envelopeJSON converts a delivered AMQP message to the envelope JSON a
// Redis transport would carry.
func envelopeJSON(d *amqp.Delivery) ([]byte, error) { return envelopeOf(d).Append(nil) }

// fromTable converts an AMQP field table to JSON values (py-amqp gives
// Celery the same: ints, floats, strings, lists, dicts, booleans, None),
// typed as pyjson.Decode types them: numbers as json.Number (floats as
// Python writes them), NaN and infinities as float64.
// It converts t in place (the table is the delivery's own), and a
// converted table stays as it is.
func fromTable(t amqp.Table) map[string]any {
	m := map[string]any(t)
	for k, v := range m {
		switch v.(type) {
		case nil, bool, string:
		default:
			m[k] = fromField(v)
		}
	}
	return m
}

func fromField(v any) any {
	switch x := v.(type) {
	case amqp.Table:
		return fromTable(x)
	case map[string]any: // converted already
		return fromTable(amqp.Table(x))
	case json.Number:
		return x
	case []any:
		for i, e := range x {
			x[i] = fromField(e)
		}
		return x
	case nil, bool, string:
		return x
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case int8:
		return json.Number(strconv.FormatInt(int64(x), 10))
	case int16:
		return json.Number(strconv.FormatInt(int64(x), 10))
	case int32:
		return json.Number(strconv.FormatInt(int64(x), 10))
	case uint8:
		return json.Number(strconv.FormatUint(uint64(x), 10))
	case uint16:
		return json.Number(strconv.FormatUint(uint64(x), 10))
	case uint32:
		return json.Number(strconv.FormatUint(uint64(x), 10))
	case float32:
		return jsonFloat(float64(x))
	case float64:
		return jsonFloat(x)
	case []byte:
		return string(x)
	case time.Time:
		// py-amqp gives a datetime; JSON has no such type.
		return x.UTC().Format(time.RFC3339Nano)
	case amqp.Decimal:
		f, _ := strconv.ParseFloat(strconv.Itoa(int(x.Value))+"e-"+strconv.Itoa(int(x.Scale)), 64)
		return jsonFloat(f)
	}
	return fmt.Sprint(v)
}

// jsonFloat is f as pyjson.Decode gives it back from JSON: a json.Number
// with Python's spelling (2.0, 1e+100), a float64 for NaN and infinities.
func jsonFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return f
	}
	b, err := pyjson.Encode(f)
	if err != nil {
		return f
	}
	return json.Number(b)
}
