package pyjson

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// decodeMarker converts the __value__ of a kombu marker object the way
// kombu's registered decoders do. valueLossy reports that a string value
// had lone surrogates, which Python cannot encode to UTF-8 bytes.
func decodeMarker(typ, val any, valueLossy bool) (any, error) {
	t, ok := typ.(string)
	if !ok {
		return nil, fmt.Errorf("%w: __type__ is %s, not a string", ErrUnknownMarker, describe(typ))
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadMarker, t, fmt.Sprintf(format, args...))
	}
	switch t {
	case "datetime", "date":
		s, ok := val.(string)
		if !ok {
			return nil, bad("__value__ is %s, not a string", describe(val))
		}
		dt, err := parseISODateTime(s)
		if err != nil {
			return nil, bad("%q: %v", s, err)
		}
		if t == "date" {
			return Date{Year: dt.year, Month: time.Month(dt.month), Day: dt.day}, nil
		}
		return dt.time(), nil
	case "time":
		s, ok := val.(string)
		if !ok {
			return nil, bad("__value__ is %s, not a string", describe(val))
		}
		v, err := parseISOTime(s)
		if err != nil {
			return nil, bad("%q: %v", s, err)
		}
		return v, nil
	case "decimal":
		p, err := decimalFromValue(val)
		if err != nil {
			return nil, bad("%v", err)
		}
		return Decimal(p.String()), nil
	case "uuid":
		u, err := uuidFromKwargs(val)
		if err != nil {
			return nil, bad("%v", err)
		}
		return u, nil
	case "bytes", "base64":
		s, ok := val.(string)
		if !ok {
			return nil, bad("__value__ is %s, not a string", describe(val))
		}
		if valueLossy {
			return nil, bad("string with a lone surrogate cannot be encoded as UTF-8")
		}
		if t == "bytes" {
			return []byte(s), nil
		}
		b, err := pyBase64Decode(s)
		if err != nil {
			return nil, bad("%v", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownMarker, t)
}

// describe names the Python type of a decoded value, for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "a bool"
	case json.Number:
		if isIntegerText(string(v)) {
			return "an int"
		}
		return "a float"
	case float64:
		return "a float"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "a dict"
	case time.Time:
		return "a datetime"
	case Date:
		return "a date"
	case TimeOfDay:
		return "a time"
	case Decimal:
		return "a Decimal"
	case uuid.UUID:
		return "a UUID"
	case []byte:
		return "bytes"
	}
	return fmt.Sprintf("a %T", v)
}

// decimalFromValue is Python's Decimal(v) for a decoded JSON value.
func decimalFromValue(v any) (decimalParts, error) {
	switch v := v.(type) {
	case string:
		return parseDecimal(v)
	case json.Number:
		return decimalFromNumber(string(v))
	case float64:
		return decimalFromFloat(v), nil
	case bool:
		if v {
			return decimalParts{coef: "1"}, nil
		}
		return decimalParts{coef: "0"}, nil
	}
	return decimalParts{}, fmt.Errorf("cannot convert %s to Decimal", describe(v))
}

// uuidFromKwargs is Python's uuid.UUID(**v). Of UUID's keyword arguments
// only hex (what kombu sends) and int are supported.
func uuidFromKwargs(v any) (uuid.UUID, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return uuid.UUID{}, fmt.Errorf("__value__ is %s, not a dict", describe(v))
	}
	if len(m) != 1 {
		return uuid.UUID{}, errors.New(`expected exactly one of "hex" or "int"`)
	}
	if h, ok := m["hex"]; ok {
		s, ok := h.(string)
		if !ok {
			return uuid.UUID{}, fmt.Errorf("hex is %s, not a string", describe(h))
		}
		return parsePyUUIDHex(s)
	}
	if n, ok := m["int"]; ok {
		num, ok := n.(json.Number)
		if !ok || !isIntegerText(string(num)) {
			return uuid.UUID{}, fmt.Errorf("int is %s, not an int", describe(n))
		}
		i, ok := new(big.Int).SetString(string(num), 10)
		if !ok || i.Sign() < 0 || i.BitLen() > 128 {
			return uuid.UUID{}, errors.New("int is out of range (need a 128-bit integer)")
		}
		var u uuid.UUID
		i.FillBytes(u[:])
		return u, nil
	}
	return uuid.UUID{}, errors.New(`expected "hex" or "int"`)
}

// parsePyUUIDHex is uuid.UUID(hex=s): "urn:" and "uuid:" are removed
// anywhere, braces at either end and all hyphens dropped, and the remaining
// 32 characters parsed as int(s, 16).
func parsePyUUIDHex(s string) (uuid.UUID, error) {
	var u uuid.UUID
	if len(s) == 32 {
		// The form kombu sends: 32 hex digits.
		if _, err := hex.Decode(u[:], []byte(s)); err == nil {
			return u, nil
		}
	}
	orig := s
	s = strings.ReplaceAll(s, "urn:", "")
	s = strings.ReplaceAll(s, "uuid:", "")
	s = strings.Trim(s, "{}")
	s = strings.ReplaceAll(s, "-", "")
	if utf8.RuneCountInString(s) != 32 {
		return uuid.UUID{}, fmt.Errorf("badly formed hexadecimal UUID string %q", orig)
	}
	if err := parsePyHexInt(s, u[:]); err != nil {
		return uuid.UUID{}, fmt.Errorf("badly formed hexadecimal UUID string %q: %v", orig, err)
	}
	return u, nil
}

// parsePyHexInt parses s like Python's int(s, 16) (surrounding whitespace,
// a sign, a 0x prefix and single underscores between digits are allowed)
// into the big-endian bytes of dst. Negative or too-large values fail.
func parsePyHexInt(s string, dst []byte) error {
	s = strings.TrimFunc(s, unicode.IsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	underscoreOK := false // an underscore may follow a digit or the prefix
	if len(s) >= 2 && s[0] == '0' && s[1]|0x20 == 'x' {
		s = s[2:]
		underscoreOK = true
	}
	if s == "" {
		return errors.New("no digits")
	}
	clear(dst)
	nonzero := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case c == '_':
			if !underscoreOK || i == len(s)-1 {
				return errors.New("misplaced underscore")
			}
			underscoreOK = false
			continue
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c|0x20 && c|0x20 <= 'f':
			v = c | 0x20 - 'a' + 10
		default:
			return fmt.Errorf("invalid hex digit %q", c)
		}
		underscoreOK = true
		if dst[0]>>4 != 0 {
			return errors.New("value out of range")
		}
		for j := 0; j < len(dst)-1; j++ {
			dst[j] = dst[j]<<4 | dst[j+1]>>4
		}
		dst[len(dst)-1] = dst[len(dst)-1]<<4 | v
		nonzero = nonzero || v != 0
	}
	if neg && nonzero {
		return errors.New("int is out of range (negative)")
	}
	return nil
}

// pyBase64Decode is Python's base64.b64decode(s.encode()) with its default
// validate=False: characters outside the base64 alphabet are skipped, and
// decoding stops at the first complete padding sequence.
func pyBase64Decode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s)*3/4)
	quad, pads := 0, 0
	var left byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return out, nil
				}
			}
			continue
		}
		var v byte
		switch {
		case 'A' <= c && c <= 'Z':
			v = c - 'A'
		case 'a' <= c && c <= 'z':
			v = c - 'a' + 26
		case '0' <= c && c <= '9':
			v = c - '0' + 52
		case c == '+':
			v = 62
		case c == '/':
			v = 63
		default:
			continue
		}
		pads = 0
		switch quad {
		case 0:
			left = v
			quad = 1
		case 1:
			out = append(out, left<<2|v>>4)
			left = v & 0x0f
			quad = 2
		case 2:
			out = append(out, left<<4|v>>2)
			left = v & 0x03
			quad = 3
		case 3:
			out = append(out, left<<6|v)
			quad = 0
		}
	}
	switch quad {
	case 0:
		return out, nil
	case 1:
		return nil, errors.New("invalid base64: number of data characters cannot be 1 more than a multiple of 4")
	}
	return nil, errors.New("invalid base64: incorrect padding")
}
