package kombu

import (
	"fmt"

	"github.com/celeriac/celeriac/internal/pyjson"
)

// AppendUnackedEntry appends the value kombu stores in the unacked hash for
// a delivered message: the JSON array [envelope, exchange, routing_key]
// (redis.py `QoS.append`). raw must be the envelope JSON as popped.
func AppendUnackedEntry(dst, raw []byte, exchange, routingKey string) []byte {
	dst = append(dst, '[')
	dst = append(dst, raw...)
	dst = append(dst, ", "...)
	dst = AppendString(dst, exchange)
	dst = append(dst, ", "...)
	dst = AppendString(dst, routingKey)
	return append(dst, ']')
}

// UnackedEntry is a decoded unacked hash value.
type UnackedEntry struct {
	Envelope   map[string]any
	Exchange   string
	RoutingKey string
}

// ParseUnackedEntry decodes an unacked hash value.
func ParseUnackedEntry(raw []byte) (*UnackedEntry, error) {
	v, err := pyjson.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: unacked entry: %w", ErrMalformed, err)
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 3 {
		return nil, fmt.Errorf("%w: unacked entry is not a 3-element array", ErrMalformed)
	}
	env, ok1 := arr[0].(map[string]any)
	ex, ok2 := arr[1].(string)
	rk, ok3 := arr[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("%w: unacked entry has wrong element types", ErrMalformed)
	}
	return &UnackedEntry{Envelope: env, Exchange: ex, RoutingKey: rk}, nil
}

// Priority returns the envelope's priority property (0 when absent or not
// an integer, as kombu).
func (u *UnackedEntry) Priority() int {
	if p, ok := u.Envelope["properties"].(map[string]any); ok {
		return optInt(p["priority"])
	}
	return 0
}

// Redelivered returns the envelope JSON with headers.redelivered and
// properties.delivery_info.redelivered set to true, as kombu does before
// putting a message back (redis.py `_do_restore_message`).
func (u *UnackedEntry) Redelivered() ([]byte, error) {
	if h, ok := u.Envelope["headers"].(map[string]any); ok {
		h["redelivered"] = true
	}
	if p, ok := u.Envelope["properties"].(map[string]any); ok {
		if di, ok := p["delivery_info"].(map[string]any); ok {
			di["redelivered"] = true
		}
	}
	out, err := pyjson.Encode(u.Envelope)
	if err != nil {
		return nil, fmt.Errorf("kombu: encode restored envelope: %w", err)
	}
	return out, nil
}
