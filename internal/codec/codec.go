// Package codec serializes message bodies and results in the formats
// kombu registers (kombu/serialization.py): JSON (through pyjson), msgpack
// and YAML. Pickle is never read or written.
//
// Every decoder returns the value model of pyjson.Decode: map[string]any,
// []any, string, bool, nil, json.Number for integers, float64 for
// msgpack/YAML floats, []byte for binary data and time.Time for YAML
// timestamps, so callers need not care which format a body came in.
//
// msgpack follows kombu's registration: packb(use_bin_type=True) and
// unpackb(raw=False), so text is a msgpack str, bytes are bin, and there
// is no type marker for datetime (a time.Time is written as its ISO 8601
// text, as Celery itself formats eta/expires/date_done). YAML is read as
// PyYAML's safe_load reads it: a tag that would construct an object
// (!!python/object, any local tag) is refused.
//
// The package has no mutable global state; all functions are safe for
// concurrent use.
package codec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/celeriac/celeriac/internal/pyjson"
)

// Content types kombu registers.
const (
	JSON    = "application/json"
	Msgpack = "application/x-msgpack"
	YAML    = "application/x-yaml"
	Pickle  = "application/x-python-serialize"
	// Auth is Celery's signed body (celery.security, "auth"); package
	// celery/security unpacks it, Decode does not.
	Auth = "application/data"
)

// MaxDepth bounds the nesting of a decoded msgpack or YAML value, as
// pyjson.MaxDepth does for JSON.
const MaxDepth = pyjson.MaxDepth

// ErrUnknown is returned for a content type or serializer name no codec
// handles (pickle included).
var ErrUnknown = errors.New("codec: unknown serializer")

// ErrSyntax wraps every failure to decode a body.
var ErrSyntax = errors.New("codec: cannot decode")

var names = map[string]string{
	"json": JSON, JSON: JSON,
	"msgpack": Msgpack, Msgpack: Msgpack,
	"yaml": YAML, YAML: YAML,
	"pickle": Pickle, Pickle: Pickle,
	"auth": Auth, Auth: Auth,
}

// ContentType returns the content type for a serializer name ("json",
// "msgpack", "yaml", "pickle") or content type, as kombu's
// prepare_accept_content does; ok is false for an unknown one.
func ContentType(name string) (string, bool) {
	ct, ok := names[strings.ToLower(strings.TrimSpace(name))]
	return ct, ok
}

// ContentEncoding returns the content-encoding kombu sets for a content
// type: "binary" for msgpack, "utf-8" for text formats.
func ContentEncoding(contentType string) string {
	if contentType == Msgpack {
		return "binary"
	}
	return "utf-8"
}

// Encode serializes v in the given content type.
func Encode(contentType string, v any) ([]byte, error) {
	switch contentType {
	case JSON, "":
		return pyjson.Encode(v)
	case Msgpack:
		return encodeMsgpack(v)
	case YAML:
		return encodeYAML(v)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknown, contentType)
}

// Decode parses data of the given content type (an empty one is JSON).
func Decode(contentType string, data []byte) (any, error) {
	switch contentType {
	case JSON, "":
		return pyjson.Decode(data)
	case Msgpack:
		return decodeMsgpack(data)
	case YAML:
		return decodeYAML(data)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknown, contentType)
}

// Sniff guesses the serializer of a stored value that carries no content
// type (a result in the backend): a msgpack map starts with a byte in
// 0x80-0x8f or 0xde-0xdf, JSON with '{' or '[' (after spaces), and
// anything else is read as YAML (a YAML flow mapping may also start with
// '{': DecodeSniffed falls back to YAML when JSON fails).
func Sniff(data []byte) string {
	if len(data) == 0 {
		return JSON
	}
	switch c := data[0]; {
	case c >= 0x80 && c <= 0x8f, c == 0xde, c == 0xdf:
		return Msgpack
	}
	s := strings.TrimLeft(string(data[:min(len(data), 64)]), " \t\r\n")
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return JSON
	}
	return YAML
}

// DecodeSniffed decodes data in the format Sniff finds.
func DecodeSniffed(data []byte) (any, error) {
	ct := Sniff(data)
	v, err := Decode(ct, data)
	if err != nil && ct == JSON {
		if y, yerr := Decode(YAML, data); yerr == nil {
			return y, nil
		}
	}
	return v, err
}

// Accept is a set of accepted content types (Celery's accept_content).
// The zero value accepts JSON only, Celery's default.
type Accept struct {
	types map[string]bool
}

// ParseAccept builds an Accept from serializer names or content types.
// pickle is refused: celeriac never deserializes it.
func ParseAccept(list []string) (Accept, error) {
	a := Accept{types: map[string]bool{}}
	for _, n := range list {
		if strings.TrimSpace(n) == "" {
			continue
		}
		ct, ok := ContentType(n)
		if !ok {
			return Accept{}, fmt.Errorf("%w: %q (known: json, msgpack, yaml, auth)", ErrUnknown, n)
		}
		if ct == Pickle {
			return Accept{}, fmt.Errorf("codec: pickle is never accepted")
		}
		a.types[ct] = true
	}
	if len(a.types) == 0 {
		return Accept{}, fmt.Errorf("codec: accept list is empty")
	}
	return a, nil
}

// Allows reports whether content type ct is accepted. An empty content
// type is JSON.
func (a Accept) Allows(ct string) bool {
	if ct == "" {
		ct = JSON
	}
	if a.types == nil {
		return ct == JSON
	}
	return a.types[ct]
}

// Names lists the accepted content types.
func (a Accept) Names() []string {
	if a.types == nil {
		return []string{JSON}
	}
	out := make([]string, 0, len(a.types))
	for _, ct := range []string{JSON, Msgpack, YAML, Auth} {
		if a.types[ct] {
			out = append(out, ct)
		}
	}
	return out
}
