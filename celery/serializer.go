package celery

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
)

// Serializer sets the task message's serializer, as apply_async's
// serializer= (Celery's task_serializer): "json" (default), "msgpack" or
// "yaml", or their content types. A worker must accept the content type
// (Celery's accept_content defaults to JSON only). SendTask fails for an
// unknown name; pickle is never sent.
func Serializer(name string) SendOption {
	return func(o *sendOptions) {
		ct, ok := codec.ContentType(name)
		if !ok || ct == codec.Pickle || ct == codec.Auth {
			o.err = fmt.Errorf("celery: unknown or refused serializer %q (json, msgpack, yaml; sign with Signed)", name)
			return
		}
		o.msg.ContentType = ct
	}
}

// Protocol selects the task message protocol: 2 (default, Celery 4+) or
// 1, the Celery 3.x message whose body holds every field
// (celery/app/amqp.py as_task_v1), for workers that read only v1.
func Protocol(n int) SendOption {
	return func(o *sendOptions) {
		if n != 1 && n != 2 {
			o.err = fmt.Errorf("celery: task protocol %d: want 1 or 2", n)
			return
		}
		o.msg.Protocol = n
	}
}

// BodySigner signs a serialized body (security.Signer).
type BodySigner interface {
	Sign(body []byte, contentType, contentEncoding string) ([]byte, error)
}

// BodyVerifier checks and unpacks a signed body (security.Store).
type BodyVerifier interface {
	Verify(packed []byte) (body []byte, contentType, contentEncoding string, err error)
}

// ErrSignature is returned for a signed message whose signature does not
// verify (unknown or expired signer, bad signature); Celery stores
// celery.exceptions.SecurityError. It wraps ErrMalformedMessage.
var ErrSignature = fmt.Errorf("%w: signature refused", ErrMalformedMessage)

// Signed signs the message with s (Celery's task_serializer "auth"): the
// body, serialized as Serializer says, is packed with its signature and
// sent as application/data. The worker must accept "auth" and trust s's
// certificate.
func Signed(s BodySigner) SendOption { return func(o *sendOptions) { o.msg.Signer = s } }

// DecodeOptions tell Delivery.DecodeWith what a consumer accepts.
type DecodeOptions struct {
	// Accept lists the accepted content types (accept_content); the zero
	// value accepts JSON only, as Celery's default does.
	Accept codec.Accept
	// MaxSize bounds the body after decompression, in bytes (0: 512 MiB).
	// A larger one fails with ErrMessageTooLarge, however small the
	// compressed body was.
	MaxSize int
	// Verifier checks signed ("auth", application/data) messages; without
	// one they are refused as a content type not accepted.
	Verifier BodyVerifier
}

// ParseAccept reads an accept_content list (serializer names or content
// types; pickle refused) for DecodeOptions.
func ParseAccept(names []string) (codec.Accept, error) { return codec.ParseAccept(names) }

// decodeBody undoes the compression and the serialization of a task
// message body.
func decodeBody(env *kombu.Envelope, m *Message, opts DecodeOptions) (any, error) {
	if !opts.Accept.Allows(env.ContentType) {
		return nil, fmt.Errorf("%w: %q (accepted: %v)", ErrContentType, env.ContentType, opts.Accept.Names())
	}
	body := env.Body
	switch c := env.Headers["compression"].(type) {
	case nil:
	case string:
		m.Compression = c
		var err error
		if body, err = kombu.DecompressLimit(c, body, opts.MaxSize); err != nil {
			if errors.Is(err, kombu.ErrTooLarge) {
				return nil, fmt.Errorf("%w: %w", ErrMessageTooLarge, err)
			}
			return nil, fmt.Errorf("%w: %w", ErrDecode, err)
		}
	default:
		return nil, fmt.Errorf("%w: header \"compression\" has a wrong type", ErrMalformedMessage)
	}
	ct := env.ContentType
	if ct == codec.Auth {
		if opts.Verifier == nil {
			return nil, fmt.Errorf("%w: %q: no certificate store to verify signed messages", ErrContentType, ct)
		}
		var err error
		if body, ct, _, err = opts.Verifier.Verify(body); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSignature, err)
		}
		m.ContentType, m.WasSigned = ct, true
		// As Celery (loads(..., force=True)): the inner type need not be
		// in accept_content, but pickle is still never read.
	}
	decoded, err := codec.Decode(ct, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return decoded, nil
}

// encodeBody serializes the body of m in m.ContentType for protocol
// m.Protocol, for every case but the JSON v2 fast path (appendBody).
func encodeBody(m *Message) ([]byte, error) {
	var body any
	if m.Protocol == 1 {
		v1, err := bodyV1(m)
		if err != nil {
			return nil, err
		}
		body = v1
	} else {
		body = []any{argsOrEmpty(m.Args), kwargsOrEmpty(m.Kwargs), m.Embed.Map()}
	}
	out, err := codec.Encode(m.ContentType, body)
	if err != nil {
		return nil, fmt.Errorf("celery: encode message body: %w", err)
	}
	return out, nil
}

// bodyV1 is the protocol-1 body (celery/app/amqp.py as_task_v1): every
// field in the body, times as UTC isoformat text with utc true.
func bodyV1(m *Message) (map[string]any, error) {
	if len(m.Embed.Chain) > 0 {
		return nil, fmt.Errorf("celery: protocol 1 cannot carry a chain (send it with protocol 2)")
	}
	var group, groupIdx, eta, expires any
	if m.Group != "" {
		group = m.Group
	}
	if m.GroupIdx != nil {
		groupIdx = *m.GroupIdx
	}
	if !m.ETA.IsZero() {
		eta = FormatTime(m.ETA)
	}
	if !m.Expires.IsZero() {
		expires = FormatTime(m.Expires)
	}
	emb := m.Embed.Map()
	return map[string]any{
		"task":        m.Task,
		"id":          m.ID,
		"args":        argsOrEmpty(m.Args),
		"kwargs":      kwargsOrEmpty(m.Kwargs),
		"group":       group,
		"group_index": groupIdx,
		"retries":     m.Retries,
		"eta":         eta,
		"expires":     expires,
		"utc":         true,
		"callbacks":   emb["callbacks"],
		"errbacks":    emb["errbacks"],
		"timelimit":   []any{limitJSON(m.Hard), limitJSON(m.Soft)},
		"taskset":     group,
		"chord":       emb["chord"],
	}, nil
}

// limitJSON is a time limit as the number Celery sends, or nil.
func limitJSON(d time.Duration) any {
	s := d.Seconds()
	if s <= 0 {
		return nil
	}
	if s == float64(int64(s)) {
		return int64(s)
	}
	return s
}

func argsOrEmpty(a []any) []any {
	if a == nil {
		return []any{}
	}
	return a
}

func kwargsOrEmpty(k map[string]any) map[string]any {
	if k == nil {
		return map[string]any{}
	}
	return k
}

// Map returns the embed object of a protocol-v2 body.
func (e *Embed) Map() map[string]any {
	sigs := func(s []Signature) any {
		if s == nil {
			return nil
		}
		out := make([]any, len(s))
		for i := range s {
			out[i] = s[i].Map()
		}
		return out
	}
	var chord any
	if e.Chord != nil {
		chord = e.Chord.Map()
	}
	return map[string]any{"callbacks": sigs(e.Callbacks), "errbacks": sigs(e.Errbacks), "chain": sigs(e.Chain), "chord": chord}
}

// appendHeadersV1 writes a protocol-1 message's headers: none of Celery's
// own (they are in the body), only the compression and custom headers.
func appendHeadersV1(dst []byte, m *Message, compression string) ([]byte, error) {
	h := map[string]any{}
	for k, v := range m.Headers {
		if !knownHeaders[k] {
			h[k] = v
		}
	}
	if compression != "" {
		h["compression"] = compression
	}
	return pyjson.AppendEncode(dst, h)
}

// compressedResultMagic starts a result payload that Celery 5.7's
// result_compression compressed: magic, content type, NUL, body
// (celery/backends/base.py compress_payload).
var compressedResultMagic = []byte("\x00celery-compressed\x00")

// decodeResultPayload decompresses (when marked) and deserializes a stored
// result: JSON, msgpack or YAML, told apart by their first bytes since the
// backend stores no content type.
func decodeResultPayload(raw []byte) (any, error) {
	if bytes.HasPrefix(raw, compressedResultMagic) {
		rest := raw[len(compressedResultMagic):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return nil, fmt.Errorf("compressed result without a content type")
		}
		var err error
		if raw, err = kombu.Decompress(string(rest[:i]), rest[i+1:]); err != nil {
			return nil, err
		}
	}
	return codec.DecodeSniffed(raw)
}

// encodeResultPayload serializes a result meta in contentType and
// compresses it as Celery's result_compression does when compression is
// set.
func encodeResultPayload(m *ResultMeta, contentType, compression string) ([]byte, error) {
	var raw []byte
	var err error
	if contentType == "" || contentType == codec.JSON {
		raw, err = m.Encode()
	} else {
		raw, err = codec.Encode(contentType, m.Map())
	}
	if err != nil || compression == "" {
		return raw, err
	}
	ct, _ := kombu.CompressionType(compression)
	body, err := kombu.Compress(ct, raw)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(compressedResultMagic)+len(ct)+1+len(body))
	out = append(append(append(append(out, compressedResultMagic...), ct...), 0), body...)
	return out, nil
}

// Map returns the meta as the Python backend builds it before
// serializing (the keys Encode writes).
func (m *ResultMeta) Map() map[string]any {
	children := m.Children
	if children == nil {
		children = []any{}
	}
	out := map[string]any{
		"status": string(m.Status), "result": m.Result, "traceback": nil, "children": children,
		"date_done": nil, "task_id": m.TaskID,
	}
	if m.Traceback != "" {
		out["traceback"] = m.Traceback
	}
	if !m.DateDone.IsZero() {
		out["date_done"] = FormatTime(m.DateDone)
	}
	if m.GroupID != "" {
		out["group_id"] = m.GroupID
	}
	if m.ParentID != "" {
		out["parent_id"] = m.ParentID
	}
	if m.Name != "" {
		out["name"], out["args"], out["kwargs"] = m.Name, argsOrEmpty(m.Args), kwargsOrEmpty(m.Kwargs)
		out["worker"], out["retries"], out["queue"] = m.Worker, m.Retries, m.Queue
	}
	return out
}

// EncodeAs encodes m as a result backend stores it: in contentType
// (JSON, msgpack or YAML), compressed with Celery 5.7's result_compression
// marker when compression (a MIME type) is not "".
func (m *ResultMeta) EncodeAs(contentType, compression string) ([]byte, error) {
	return encodeResultPayload(m, contentType, compression)
}
