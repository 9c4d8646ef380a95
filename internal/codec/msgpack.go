package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/celeriac/celeriac/internal/pyjson"
)

// normalize turns v into the pyjson value model, converting any other Go
// value (a struct, a typed map or slice) through pyjson as JSON would
// serialize it, so every format sees the same data.
func normalize(v any) (any, error) {
	switch v.(type) {
	case nil, bool, string, json.Number, float64, float32, int, int64, int32, int16, int8,
		uint, uint64, uint32, uint16, uint8, []byte, time.Time, map[string]any, []any,
		uuid.UUID, pyjson.Decimal, pyjson.Date, pyjson.TimeOfDay:
		return v, nil
	}
	raw, err := pyjson.Encode(v)
	if err != nil {
		return nil, err
	}
	return pyjson.Decode(raw)
}

func encodeMsgpack(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := msgpackValue(enc, v, 0); err != nil {
		return nil, fmt.Errorf("codec: msgpack: %w", err)
	}
	return buf.Bytes(), nil
}

// msgpackValue writes v as Python's msgpack.packb(use_bin_type=True)
// writes the equivalent Python value.
func msgpackValue(enc *msgpack.Encoder, v any, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("more than %d levels", MaxDepth)
	}
	v, err := normalize(v)
	if err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		return enc.EncodeNil()
	case bool:
		return enc.EncodeBool(x)
	case string:
		return enc.EncodeString(x)
	case []byte:
		return enc.EncodeBytes(x)
	case json.Number:
		return msgpackNumber(enc, string(x))
	case float64:
		return enc.EncodeFloat64(x)
	case float32:
		return enc.EncodeFloat64(float64(x))
	case int:
		return msgpackInt(enc, int64(x))
	case int64:
		return msgpackInt(enc, x)
	case int32:
		return msgpackInt(enc, int64(x))
	case int16:
		return msgpackInt(enc, int64(x))
	case int8:
		return msgpackInt(enc, int64(x))
	case uint:
		return enc.EncodeUint(uint64(x))
	case uint64:
		return enc.EncodeUint(x)
	case uint32:
		return enc.EncodeUint(uint64(x))
	case uint16:
		return enc.EncodeUint(uint64(x))
	case uint8:
		return enc.EncodeUint(uint64(x))
	case time.Time:
		// kombu registers no msgpack type for datetime: Celery sends
		// times as isoformat() text.
		return enc.EncodeString(isoformat(x))
	case uuid.UUID:
		return enc.EncodeString(x.String())
	case fmt.Stringer: // Decimal, Date, TimeOfDay
		return enc.EncodeString(x.String())
	case []any:
		if err := enc.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, e := range x {
			if err := msgpackValue(enc, e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if err := enc.EncodeMapLen(len(x)); err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if err := enc.EncodeString(k); err != nil {
				return err
			}
			if err := msgpackValue(enc, x[k], depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("cannot encode %T", v)
}

// msgpackNumber writes a JSON number text: an integer in the smallest
// form, anything else as a float64. msgpack has no integers beyond 64
// bits; Python's packb refuses them too.
func msgpackNumber(enc *msgpack.Encoder, s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return msgpackInt(enc, n)
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return enc.EncodeUint(n)
	}
	if _, ok := new(big.Int).SetString(s, 10); ok {
		return fmt.Errorf("integer %s does not fit msgpack's 64 bits", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("bad number %q", s)
	}
	return enc.EncodeFloat64(f)
}

// msgpackInt writes n as packb does: a non-negative integer in the
// smallest unsigned form, a negative one in the smallest signed form.
func msgpackInt(enc *msgpack.Encoder, n int64) error {
	if n >= 0 {
		return enc.EncodeUint(uint64(n))
	}
	return enc.EncodeInt(n)
}

func decodeMsgpack(data []byte) (any, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(data))
	v, err := msgpackDecode(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: msgpack: %w", ErrSyntax, err)
	}
	if _, err := dec.PeekCode(); err == nil {
		return nil, fmt.Errorf("%w: msgpack: extra data after the value", ErrSyntax)
	}
	return v, nil
}

// msgpackDecode reads one value as unpackb(raw=False) does, into the
// pyjson value model. Lengths are not trusted for allocation: a hostile
// header claiming 2^32 elements costs nothing until the elements are
// actually there.
func msgpackDecode(dec *msgpack.Decoder, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("more than %d levels", MaxDepth)
	}
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, min(n, 1024))
		for range n {
			e, err := msgpackDecode(dec, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, min(n, 1024))
		for range n {
			k, err := msgpackDecode(dec, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := msgpackDecode(dec, depth+1)
			if err != nil {
				return nil, err
			}
			out[keyString(k)] = v
		}
		return out, nil
	case msgpcode.IsFixedNum(c), c >= msgpcode.Uint8 && c <= msgpcode.Int64:
		v, err := dec.DecodeInterfaceLoose()
		if err != nil {
			return nil, err
		}
		switch n := v.(type) {
		case int64:
			return json.Number(strconv.FormatInt(n, 10)), nil
		case uint64:
			return json.Number(strconv.FormatUint(n, 10)), nil
		}
		return nil, fmt.Errorf("unexpected integer %T", v)
	case c == msgpcode.Bin8, c == msgpcode.Bin16, c == msgpcode.Bin32:
		return dec.DecodeBytes()
	case c == msgpcode.Float:
		f, err := dec.DecodeFloat32()
		return float64(f), err
	case c == msgpcode.Double:
		return dec.DecodeFloat64()
	}
	// nil, bool, str, bin and the timestamp extension (-1); any other
	// extension type is an error, as in unpackb without an ext_hook.
	v, err := dec.DecodeInterfaceLoose()
	if err != nil {
		return nil, err
	}
	switch v.(type) {
	case nil, bool, string, []byte, time.Time:
		return v, nil
	}
	return nil, fmt.Errorf("unsupported msgpack type %T", v)
}

// keyString makes a map key of a decoded value the way json.dumps would
// (Python dicts may have int, float, bool or None keys).
func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return string(x)
	}
	return fmt.Sprint(k)
}

// isoformat formats t as Python's datetime.isoformat() of an aware
// datetime (microseconds omitted when zero).
func isoformat(t time.Time) string {
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05-07:00")
	}
	return t.Format("2006-01-02T15:04:05.000000-07:00")
}
