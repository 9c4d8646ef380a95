package kombu

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/celeriac/celeriac/internal/pyjson"
)

// ErrMalformed marks an envelope that is not kombu's message shape. Callers
// branch on it (errors.Is) to reject rather than retry.
var ErrMalformed = errors.New("kombu: malformed envelope")

// Envelope is kombu's virtual message as it sits on a Redis list or a
// pub/sub channel (kombu virtual/base.py `Channel.prepare_message`;
// docs/wire.md#envelope).
type Envelope struct {
	// Body is the serialized (and possibly compressed) payload, after the
	// body_encoding (base64) has been removed.
	Body            []byte
	ContentType     string
	ContentEncoding string
	// Headers holds the decoded headers of a parsed envelope.
	Headers map[string]any
	// RawHeaders, when set, is written verbatim as the headers object by
	// Append (it must be a JSON object); Headers is then ignored.
	RawHeaders []byte
	Properties Properties
}

// Properties are the envelope's AMQP-like properties. All of them but
// Expiration are always written, because a Python worker dies on a message
// that lacks them (docs/wire.md#required-fields).
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

// DeliveryInfo is where the message was published to.
type DeliveryInfo struct {
	Exchange    string
	RoutingKey  string
	Redelivered bool
}

// Append writes e as JSON to dst. The body is base64-encoded and
// body_encoding forced to "base64", as kombu's publisher does.
func (e *Envelope) Append(dst []byte) ([]byte, error) {
	dst = append(dst, `{"body": "`...)
	dst = base64.StdEncoding.AppendEncode(dst, e.Body)
	dst = append(dst, `", "content-encoding": `...)
	dst = AppendString(dst, e.ContentEncoding)
	dst = append(dst, `, "content-type": `...)
	dst = AppendString(dst, e.ContentType)
	dst = append(dst, `, "headers": `...)
	switch {
	case e.RawHeaders != nil:
		dst = append(dst, e.RawHeaders...)
	case e.Headers == nil:
		dst = append(dst, "{}"...)
	default:
		var err error
		if dst, err = pyjson.AppendEncode(dst, e.Headers); err != nil {
			return nil, fmt.Errorf("kombu: encode headers: %w", err)
		}
	}
	p := &e.Properties
	dst = append(dst, `, "properties": {"correlation_id": `...)
	dst = AppendString(dst, p.CorrelationID)
	dst = append(dst, `, "reply_to": `...)
	dst = AppendString(dst, p.ReplyTo)
	dst = append(dst, `, "delivery_mode": `...)
	dst = strconv.AppendInt(dst, int64(p.DeliveryMode), 10)
	if p.Expiration != "" {
		dst = append(dst, `, "expiration": `...)
		dst = AppendString(dst, p.Expiration)
	}
	dst = append(dst, `, "delivery_info": {"exchange": `...)
	dst = AppendString(dst, p.DeliveryInfo.Exchange)
	dst = append(dst, `, "routing_key": `...)
	dst = AppendString(dst, p.DeliveryInfo.RoutingKey)
	if p.DeliveryInfo.Redelivered {
		dst = append(dst, `, "redelivered": true`...)
	}
	dst = append(dst, `}, "priority": `...)
	dst = strconv.AppendInt(dst, int64(p.Priority), 10)
	dst = append(dst, `, "body_encoding": "base64", "delivery_tag": `...)
	dst = AppendString(dst, p.DeliveryTag)
	dst = append(dst, "}}"...)
	return dst, nil
}

// AppendString appends s as a JSON string.
func AppendString(dst []byte, s string) []byte {
	// Fast path: nothing to escape.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			out, err := pyjson.AppendEncode(dst, s)
			if err != nil { // cannot happen for a string
				return append(dst, `""`...)
			}
			return out
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// ParseEnvelope decodes a message as popped from a list or received on a
// channel. It is more forgiving than kombu where that loses nothing: a
// missing delivery_info or delivery_tag is left empty for the caller to
// fill in, rather than killing the consumer (docs/wire.md#required-fields).
func ParseEnvelope(raw []byte) (*Envelope, error) {
	v, err := pyjson.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	e := &Envelope{}
	body, ok := obj["body"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: body missing or not a string", ErrMalformed)
	}
	if e.ContentType, err = optString(obj, "content-type"); err != nil {
		return nil, err
	}
	if e.ContentEncoding, err = optString(obj, "content-encoding"); err != nil {
		return nil, err
	}
	switch h := obj["headers"].(type) {
	case map[string]any:
		e.Headers = h
	case nil:
		e.Headers = map[string]any{}
	default:
		return nil, fmt.Errorf("%w: headers is not an object", ErrMalformed)
	}
	var props map[string]any
	switch p := obj["properties"].(type) {
	case map[string]any:
		props = p
	case nil:
	default:
		return nil, fmt.Errorf("%w: properties is not an object", ErrMalformed)
	}
	if err := parseProperties(props, &e.Properties); err != nil {
		return nil, err
	}
	switch e.Properties.BodyEncoding {
	case "base64":
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return nil, fmt.Errorf("%w: body is not base64: %w", ErrMalformed, err)
		}
		e.Body = b
	case "", "utf-8", "utf8":
		e.Body = []byte(body)
	default:
		return nil, fmt.Errorf("%w: unknown body_encoding %q", ErrMalformed, e.Properties.BodyEncoding)
	}
	return e, nil
}

func parseProperties(props map[string]any, p *Properties) error {
	var err error
	str := func(k string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = optString(props, k)
		return s
	}
	p.CorrelationID = str("correlation_id")
	p.ReplyTo = str("reply_to")
	p.BodyEncoding = str("body_encoding")
	p.DeliveryTag = str("delivery_tag")
	if err != nil {
		return err
	}
	switch x := props["expiration"].(type) {
	case string:
		p.Expiration = x
	case nil:
	default:
		p.Expiration = fmt.Sprint(x)
	}
	p.DeliveryMode = optInt(props["delivery_mode"])
	// kombu treats a non-integer priority as 0 (redis.py
	// `_get_message_priority`).
	p.Priority = optInt(props["priority"])
	if di, ok := props["delivery_info"].(map[string]any); ok {
		if p.DeliveryInfo.Exchange, err = optString(di, "exchange"); err != nil {
			return err
		}
		if p.DeliveryInfo.RoutingKey, err = optString(di, "routing_key"); err != nil {
			return err
		}
		p.DeliveryInfo.Redelivered, _ = di["redelivered"].(bool)
	}
	return nil
}

func optString(obj map[string]any, key string) (string, error) {
	switch x := obj[key].(type) {
	case string:
		return x, nil
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("%w: %s is not a string", ErrMalformed, key)
	}
}

// optInt reads an integer-valued JSON number, or 0.
func optInt(v any) int {
	n, ok := AsInt(v)
	if !ok {
		return 0
	}
	return n
}

// AsInt converts a decoded JSON number (json.Number or float64 holding an
// integer) to int.
func AsInt(v any) (int, bool) {
	switch x := v.(type) {
	case interface{ Int64() (int64, error) }:
		n, err := x.Int64()
		if err != nil {
			// "3.0" from Python floats.
			if f, ferr := strconv.ParseFloat(fmt.Sprint(x), 64); ferr == nil && f == float64(int64(f)) {
				return int(f), true
			}
			return 0, false
		}
		return int(n), true
	case float64:
		if x == float64(int64(x)) {
			return int(x), true
		}
	case int:
		return x, true
	}
	return 0, false
}
