package celery

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// Content types (kombu serialization.py; docs/wire.md#serializers).
const (
	ContentTypeJSON   = codec.JSON
	ContentTypePickle = codec.Pickle
	ContentTypeYAML   = codec.YAML
	ContentTypeMsgpk  = codec.Msgpack
)

// ErrMalformedMessage wraps every reason a message cannot be decoded. A
// consumer that sees it must reject the message (never retry it).
var ErrMalformedMessage = errors.New("celery: malformed message")

// ErrContentType is returned for a message whose content type is not
// accepted (pickle always; msgpack and yaml unless DecodeOptions.Accept
// lists them). It wraps ErrMalformedMessage.
var ErrContentType = fmt.Errorf("%w: content type not accepted", ErrMalformedMessage)

// ErrDecode is returned for a message body that cannot be decompressed or
// deserialized. It wraps ErrMalformedMessage.
var ErrDecode = fmt.Errorf("%w: cannot decode body", ErrMalformedMessage)

// maxReprLen is Celery's limit for argsrepr/kwargsrepr (app/amqp.py).
const maxReprLen = 1024

// TimeLimit holds the per-message time limits; zero means none.
type TimeLimit struct {
	Hard time.Duration
	Soft time.Duration
}

// Embed is the third element of a protocol-v2 body: the canvas that
// follows the task (docs/wire.md#task-body, docs/wire.md#canvas).
type Embed struct {
	Callbacks []Signature
	Errbacks  []Signature
	// Chain holds the remaining steps in reverse order; the next one is last.
	Chain []Signature
	Chord *Signature
}

// Message is one task message, in the protocol-v2 view whether it arrived
// as v1 or v2 (docs/wire.md#task-message).
type Message struct {
	ID       string
	Task     string
	Lang     string
	Shadow   string
	ETA      time.Time // zero: run now
	Expires  time.Time // zero: never
	Group    string
	GroupIdx *int
	Retries  int
	TimeLimit
	RootID              string
	ParentID            string
	ArgsRepr            string
	KwargsRepr          string
	Origin              string
	IgnoreResult        bool
	ReplacedTaskNesting int
	StampedHeaders      []string
	Stamps              map[string]any
	// Headers holds custom headers (any key Celery does not define); they
	// are resent on retry.
	Headers map[string]any

	Args   []any
	Kwargs map[string]any
	Embed  Embed

	ContentType string
	Compression string
	// Signer, when set, signs the body (Celery's "auth" serializer); the
	// message is then sent as application/data. See package
	// celery/security. Not set on decoded messages.
	Signer BodySigner
	// WasSigned is set on a decoded message that arrived signed and
	// verified; ContentType is then its inner content type.
	WasSigned  bool
	Properties Properties
	// Protocol is 1 or 2: how the message arrived.
	Protocol int
	// Redelivered is true after a kombu restore.
	Redelivered bool
}

// Name returns the display name: the shadow name if set, else the task.
func (m *Message) Name() string {
	if m.Shadow != "" {
		return m.Shadow
	}
	return m.Task
}

// knownHeaders are the protocol-v2 headers Celery defines (app/amqp.py
// `as_task_v2`); everything else is a custom header.
var knownHeaders = map[string]bool{
	"lang": true, "task": true, "id": true, "shadow": true, "eta": true, "expires": true,
	"group": true, "group_index": true, "retries": true, "timelimit": true, "root_id": true,
	"parent_id": true, "argsrepr": true, "kwargsrepr": true, "origin": true,
	"ignore_result": true, "replaced_task_nesting": true, "stamped_headers": true,
	"stamps": true, "meth": true, "compression": true, "redelivered": true,
}

// EncodeMessage serializes m into a kombu envelope as a Python Celery 5.x
// client would (base64 body encoding; the body in m.ContentType, JSON when
// empty, for protocol m.Protocol, 2 when not 1; compressed with
// m.Compression). Empty fields are filled:
// Lang "py", RootID = ID, repr strings from the arguments, correlation id =
// ID. Properties.DeliveryTag must be set by the caller (the broker does).
func EncodeMessage(m *Message) ([]byte, error) {
	return AppendMessage(nil, m)
}

// AppendMessage is EncodeMessage appending to dst.
func AppendMessage(dst []byte, m *Message) ([]byte, error) {
	if m.ID == "" || m.Task == "" {
		return nil, fmt.Errorf("celery: encode message: task name and id are required")
	}
	ct := m.ContentType
	if ct == "" {
		ct = ContentTypeJSON
	}
	var body []byte
	var err error
	if ct == ContentTypeJSON && m.Protocol != 1 {
		body, err = appendBody(make([]byte, 0, 128), m)
	} else {
		body, err = encodeBody(m)
	}
	if err != nil {
		return nil, err
	}
	if m.Signer != nil {
		if body, err = m.Signer.Sign(body, ct, codec.ContentEncoding(ct)); err != nil {
			return nil, fmt.Errorf("celery: encode message: %w", err)
		}
		ct = codec.Auth
	}
	compression := ""
	if m.Compression != "" {
		var ok bool
		if compression, ok = kombu.CompressionType(m.Compression); !ok {
			compression = m.Compression
		}
		if body, err = kombu.Compress(compression, body); err != nil {
			return nil, fmt.Errorf("celery: encode message: %w", err)
		}
	}
	var headers []byte
	if m.Protocol == 1 {
		headers, err = appendHeadersV1(make([]byte, 0, 64), m, compression)
	} else {
		headers, err = appendHeaders(make([]byte, 0, 512), m, compression)
	}
	if err != nil {
		return nil, err
	}
	env := kombu.Envelope{
		Body:            body,
		ContentType:     ct,
		ContentEncoding: codec.ContentEncoding(ct),
		RawHeaders:      headers,
		Properties:      m.Properties.envelopeProperties(),
	}
	if env.Properties.CorrelationID == "" {
		env.Properties.CorrelationID = m.ID
	}
	if env.Properties.DeliveryMode == 0 {
		env.Properties.DeliveryMode = 2
	}
	return env.Append(dst)
}

func appendBody(dst []byte, m *Message) ([]byte, error) {
	var err error
	dst = append(dst, '[')
	if m.Args == nil {
		dst = append(dst, "[]"...)
	} else if dst, err = pyjson.AppendEncode(dst, m.Args); err != nil {
		return nil, fmt.Errorf("celery: encode args: %w", err)
	}
	dst = append(dst, ", "...)
	if m.Kwargs == nil {
		dst = append(dst, "{}"...)
	} else if dst, err = pyjson.AppendEncode(dst, m.Kwargs); err != nil {
		return nil, fmt.Errorf("celery: encode kwargs: %w", err)
	}
	dst = append(dst, `, {"callbacks": `...)
	if dst, err = appendSigs(dst, m.Embed.Callbacks); err != nil {
		return nil, err
	}
	dst = append(dst, `, "errbacks": `...)
	if dst, err = appendSigs(dst, m.Embed.Errbacks); err != nil {
		return nil, err
	}
	dst = append(dst, `, "chain": `...)
	if dst, err = appendSigs(dst, m.Embed.Chain); err != nil {
		return nil, err
	}
	dst = append(dst, `, "chord": `...)
	if m.Embed.Chord == nil {
		dst = append(dst, "null"...)
	} else if dst, err = pyjson.AppendEncode(dst, m.Embed.Chord.Map()); err != nil {
		return nil, fmt.Errorf("celery: encode chord: %w", err)
	}
	return append(dst, "}]"...), nil
}

func appendSigs(dst []byte, sigs []Signature) ([]byte, error) {
	if sigs == nil {
		return append(dst, "null"...), nil
	}
	list := make([]any, len(sigs))
	for i := range sigs {
		list[i] = sigs[i].Map()
	}
	out, err := pyjson.AppendEncode(dst, list)
	if err != nil {
		return nil, fmt.Errorf("celery: encode signatures: %w", err)
	}
	return out, nil
}

func appendHeaders(dst []byte, m *Message, compression string) ([]byte, error) {
	str := func(key, val string) {
		dst = append(dst, `"`+key+`": `...)
		dst = kombu.AppendString(dst, val)
		dst = append(dst, ", "...)
	}
	strOrNull := func(key, val string) {
		if val == "" {
			dst = append(dst, `"`+key+`": null, `...)
			return
		}
		str(key, val)
	}
	timeOrNull := func(key string, t time.Time) {
		if t.IsZero() {
			dst = append(dst, `"`+key+`": null, `...)
			return
		}
		str(key, FormatTime(t))
	}
	dst = append(dst, '{')
	lang := m.Lang
	if lang == "" {
		lang = "py"
	}
	str("lang", lang)
	str("task", m.Task)
	str("id", m.ID)
	strOrNull("shadow", m.Shadow)
	timeOrNull("eta", m.ETA)
	timeOrNull("expires", m.Expires)
	strOrNull("group", m.Group)
	if m.GroupIdx == nil {
		dst = append(dst, `"group_index": null, `...)
	} else {
		dst = append(dst, `"group_index": `...)
		dst = strconv.AppendInt(dst, int64(*m.GroupIdx), 10)
		dst = append(dst, ", "...)
	}
	dst = append(dst, `"retries": `...)
	dst = strconv.AppendInt(dst, int64(m.Retries), 10)
	dst = append(dst, `, "timelimit": [`...)
	dst = appendLimit(dst, m.Hard)
	dst = append(dst, ", "...)
	dst = appendLimit(dst, m.Soft)
	dst = append(dst, "], "...)
	root := m.RootID
	if root == "" {
		root = m.ID
	}
	str("root_id", root)
	strOrNull("parent_id", m.ParentID)
	argsRepr, kwargsRepr := m.ArgsRepr, m.KwargsRepr
	if argsRepr == "" {
		argsRepr = pyjson.Truncate(pyjson.ArgsRepr(m.Args), maxReprLen)
	}
	if kwargsRepr == "" {
		kwargsRepr = pyjson.Truncate(pyjson.KwargsRepr(m.Kwargs), maxReprLen)
	}
	str("argsrepr", argsRepr)
	str("kwargsrepr", kwargsRepr)
	str("origin", m.Origin)
	if m.IgnoreResult {
		dst = append(dst, `"ignore_result": true, `...)
	} else {
		// null, as Python's send_task sends by default: the worker then
		// uses the task's own ignore_result. false would override a task
		// declared with ignore_result=True.
		dst = append(dst, `"ignore_result": null, `...)
	}
	dst = append(dst, `"replaced_task_nesting": `...)
	dst = strconv.AppendInt(dst, int64(m.ReplacedTaskNesting), 10)
	dst = append(dst, `, "stamped_headers": `...)
	var err error
	if m.StampedHeaders == nil {
		dst = append(dst, "null"...)
	} else if dst, err = pyjson.AppendEncode(dst, m.StampedHeaders); err != nil {
		return nil, err
	}
	dst = append(dst, `, "stamps": `...)
	if m.Stamps == nil {
		dst = append(dst, "{}"...)
	} else if dst, err = pyjson.AppendEncode(dst, m.Stamps); err != nil {
		return nil, fmt.Errorf("celery: encode stamps: %w", err)
	}
	if compression != "" {
		dst = append(dst, `, "compression": `...)
		dst = kombu.AppendString(dst, compression)
	}
	for k, v := range m.Headers {
		if knownHeaders[k] {
			continue
		}
		dst = append(dst, ", "...)
		dst = kombu.AppendString(dst, k)
		dst = append(dst, ": "...)
		if dst, err = pyjson.AppendEncode(dst, v); err != nil {
			return nil, fmt.Errorf("celery: encode header %q: %w", k, err)
		}
	}
	return append(dst, '}'), nil
}

func appendLimit(dst []byte, d time.Duration) []byte {
	if d <= 0 {
		return append(dst, "null"...)
	}
	s := d.Seconds()
	if s == math.Trunc(s) {
		return strconv.AppendInt(dst, int64(s), 10)
	}
	return strconv.AppendFloat(dst, s, 'f', -1, 64)
}

// FormatTime formats t as Python's datetime.isoformat() of an aware UTC
// datetime: 2024-05-01T12:00:03.118000+00:00 (microseconds omitted when 0).
func FormatTime(t time.Time) string {
	var buf [40]byte
	return string(appendTime(buf[:0], t))
}

// appendTime appends FormatTime's text to dst.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.AppendFormat(dst, "2006-01-02T15:04:05+00:00")
	}
	return t.AppendFormat(dst, "2006-01-02T15:04:05.000000+00:00")
}

// ParseTime parses the ISO-8601 forms Celery and its ports send: with or
// without offset ("Z", "+00:00", "+0000"), with or without fractional
// seconds, 'T' or space separated. A naive time is UTC (docs/wire.md#times).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	layouts := [...]string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04:05.999999999Z0700",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02",
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("celery: invalid ISO-8601 time %q", s)
}

// DecodeMessage decodes a raw envelope (as popped from a queue) into a
// Message, accepting protocol v2 and v1/hybrid bodies (docs/wire.md#protocol-v1), base64
// or plain body encoding, and every kombu compression. Every failure wraps
// ErrMalformedMessage; content types other than JSON wrap ErrContentType
// and are never parsed (see Delivery.DecodeWith to accept msgpack or YAML).
func DecodeMessage(raw []byte) (*Message, error) {
	env, err := kombu.ParseEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedMessage, err)
	}
	return decodeEnvelope(env, DecodeOptions{})
}

// decodeEnvelope decodes a parsed envelope into a Message (see
// DecodeMessage) for a consumer that accepts the content types in
// opts.Accept (JSON when empty; msgpack, YAML) and bounds the body after
// decompression to opts.MaxSize. A content type not accepted wraps
// ErrContentType; a body inflating past the bound wraps ErrMessageTooLarge.
func decodeEnvelope(env *kombu.Envelope, opts DecodeOptions) (*Message, error) {
	m := &Message{ContentType: env.ContentType, Properties: propertiesOf(&env.Properties)}
	decoded, err := decodeBody(env, m, opts)
	if err != nil {
		return nil, err
	}
	h := env.Headers
	if _, v2 := h["task"]; v2 {
		m.Protocol = 2
		if err := m.decodeV2Body(decoded); err != nil {
			return nil, err
		}
	} else {
		m.Protocol = 1
		obj, ok := decoded.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: no task header and body is not a protocol-v1 object", ErrMalformedMessage)
		}
		if err := m.decodeV1Body(obj); err != nil {
			return nil, err
		}
		// Hybrid messages: message headers overlay the body's fields.
		merged := make(map[string]any, len(obj)+len(h))
		for _, k := range [...]string{"lang", "task", "id", "root_id", "parent_id", "group", "group_index", "shadow", "eta", "expires", "retries", "timelimit", "argsrepr", "kwargsrepr", "origin"} {
			if v, ok := obj[k]; ok {
				merged[k] = v
			}
		}
		if g, ok := obj["taskset"]; ok && merged["group"] == nil {
			merged["group"] = g
		}
		for k, v := range h {
			merged[k] = v
		}
		h = merged
	}
	if err := m.decodeHeaders(h); err != nil {
		return nil, err
	}
	if m.Properties.CorrelationID == "" {
		m.Properties.CorrelationID = m.ID
	}
	return m, nil
}

func (m *Message) decodeV2Body(decoded any) error {
	arr, ok := decoded.([]any)
	if !ok || len(arr) != 3 {
		return fmt.Errorf("%w: protocol-v2 body must be [args, kwargs, embed]", ErrMalformedMessage)
	}
	if err := m.setArgs(arr[0], arr[1]); err != nil {
		return err
	}
	switch e := arr[2].(type) {
	case nil:
	case map[string]any:
		return m.Embed.decode(e)
	default:
		return fmt.Errorf("%w: embed must be an object or null", ErrMalformedMessage)
	}
	return nil
}

func (m *Message) decodeV1Body(obj map[string]any) error {
	if err := m.setArgs(obj["args"], obj["kwargs"]); err != nil {
		return err
	}
	// v1 bodies carry the canvas at the top level (no chain: chains were
	// nested callbacks then).
	if err := m.Embed.decode(obj); err != nil {
		return err
	}
	// Protocol 1 may carry naive local times (utc: false).
	if utc, ok := obj["utc"].(bool); ok && !utc {
		for _, k := range [...]string{"eta", "expires"} {
			if s, ok := obj[k].(string); ok {
				if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.Local); err == nil {
					obj[k] = FormatTime(t)
				}
			}
		}
	}
	return nil
}

func (m *Message) setArgs(args, kwargs any) error {
	switch a := args.(type) {
	case []any:
		m.Args = a
	case nil:
		m.Args = []any{}
	default:
		return fmt.Errorf("%w: args must be a list", ErrMalformedMessage)
	}
	switch k := kwargs.(type) {
	case map[string]any:
		m.Kwargs = k
	case nil:
		m.Kwargs = map[string]any{}
	default:
		return fmt.Errorf("%w: kwargs must be an object", ErrMalformedMessage)
	}
	return nil
}

// decode reads callbacks, errbacks, chain and chord from an embed object.
func (e *Embed) decode(obj map[string]any) error {
	var err error
	if e.Callbacks, err = sigList(obj["callbacks"]); err != nil {
		return err
	}
	if e.Errbacks, err = sigList(obj["errbacks"]); err != nil {
		return err
	}
	if e.Chain, err = sigList(obj["chain"]); err != nil {
		return err
	}
	if c, ok := obj["chord"].(map[string]any); ok {
		s, err := SignatureFromMap(c)
		if err != nil {
			return fmt.Errorf("%w: chord: %w", ErrMalformedMessage, err)
		}
		e.Chord = &s
	}
	return nil
}

func sigList(v any) ([]Signature, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		s, err := SignatureFromMap(x)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedMessage, err)
		}
		return []Signature{s}, nil
	case []any:
		out := make([]Signature, 0, len(x))
		for _, e := range x {
			mm, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: signature is not an object", ErrMalformedMessage)
			}
			s, err := SignatureFromMap(mm)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrMalformedMessage, err)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: signatures must be a list", ErrMalformedMessage)
	}
}

// decodeHeaders fills m's header fields, rejecting wrongly typed values.
func (m *Message) decodeHeaders(h map[string]any) error {
	bad := func(key string) error {
		return fmt.Errorf("%w: header %q has a wrong type", ErrMalformedMessage, key)
	}
	str := func(key string, dst *string) error {
		switch v := h[key].(type) {
		case string:
			*dst = v
		case nil:
		default:
			return bad(key)
		}
		return nil
	}
	tm := func(key string, dst *time.Time) error {
		switch v := h[key].(type) {
		case string:
			if v == "" { // gocelery and some ports send "" for none
				return nil
			}
			t, err := ParseTime(v)
			if err != nil {
				return fmt.Errorf("%w: header %q: %w", ErrMalformedMessage, key, err)
			}
			*dst = t
		case time.Time:
			*dst = v
		case nil:
		default:
			return bad(key)
		}
		return nil
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"task", &m.Task}, {"id", &m.ID}, {"lang", &m.Lang}, {"shadow", &m.Shadow}, {"group", &m.Group},
		{"root_id", &m.RootID}, {"parent_id", &m.ParentID}, {"argsrepr", &m.ArgsRepr},
		{"kwargsrepr", &m.KwargsRepr}, {"origin", &m.Origin}} {
		if err := str(f.key, f.dst); err != nil {
			return err
		}
	}
	if m.Task == "" {
		return fmt.Errorf("%w: no task name", ErrMalformedMessage)
	}
	if m.ID == "" {
		return fmt.Errorf("%w: no task id", ErrMalformedMessage)
	}
	if err := tm("eta", &m.ETA); err != nil {
		return err
	}
	if err := tm("expires", &m.Expires); err != nil {
		return err
	}
	if v, ok := h["group_index"]; ok && v != nil {
		n, ok := kombu.AsInt(v)
		if !ok {
			return bad("group_index")
		}
		m.GroupIdx = &n
	}
	if v, ok := h["retries"]; ok && v != nil {
		n, ok := kombu.AsInt(v)
		if !ok || n < 0 {
			return bad("retries")
		}
		m.Retries = n
	}
	if v, ok := h["replaced_task_nesting"]; ok && v != nil {
		n, ok := kombu.AsInt(v)
		if !ok {
			return bad("replaced_task_nesting")
		}
		m.ReplacedTaskNesting = n
	}
	switch v := h["timelimit"].(type) {
	case nil:
	case []any:
		if len(v) != 2 {
			return bad("timelimit")
		}
		var err error
		if m.Hard, err = limitValue(v[0]); err != nil {
			return bad("timelimit")
		}
		if m.Soft, err = limitValue(v[1]); err != nil {
			return bad("timelimit")
		}
	default:
		return bad("timelimit")
	}
	switch v := h["ignore_result"].(type) {
	case bool:
		m.IgnoreResult = v
	case nil:
	default:
		return bad("ignore_result")
	}
	switch v := h["stamped_headers"].(type) {
	case []any:
		for _, s := range v {
			str, ok := s.(string)
			if !ok {
				return bad("stamped_headers")
			}
			m.StampedHeaders = append(m.StampedHeaders, str)
		}
	case nil:
	default:
		return bad("stamped_headers")
	}
	switch v := h["stamps"].(type) {
	case map[string]any:
		m.Stamps = v
	case nil:
	default:
		return bad("stamps")
	}
	m.Redelivered, _ = h["redelivered"].(bool)
	if m.Properties.DeliveryInfo.Redelivered {
		m.Redelivered = true
	}
	for k, v := range h {
		if !knownHeaders[k] {
			if m.Headers == nil {
				m.Headers = make(map[string]any)
			}
			m.Headers[k] = v
		}
	}
	return nil
}

// maxLimit bounds time limits so that conversions cannot overflow.
const maxLimit = 100 * 365 * 24 * time.Hour

func limitValue(v any) (time.Duration, error) {
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64:
		f = x
	case interface{ Float64() (float64, error) }:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, err
		}
	default:
		return 0, fmt.Errorf("not a number")
	}
	if math.IsNaN(f) || f < 0 {
		return 0, fmt.Errorf("invalid limit")
	}
	if f > maxLimit.Seconds() {
		return maxLimit, nil
	}
	return time.Duration(f * float64(time.Second)), nil
}
