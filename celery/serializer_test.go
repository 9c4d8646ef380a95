package celery

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
)

func sendOpts(t *testing.T, opts ...SendOption) *Message {
	t.Helper()
	var o sendOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	m := o.msg
	m.ID, m.Task = "id-1", "tasks.add"
	return &m
}

// Every serializer, compression and protocol round-trips through
// EncodeMessage and decodeEnvelope.
func TestSerializerRoundTrip(t *testing.T) {
	eta := time.Date(2024, 5, 1, 12, 0, 3, 118000000, time.UTC)
	all, _ := codec.ParseAccept([]string{"json", "msgpack", "yaml"})
	for _, ser := range []string{"json", "msgpack", "yaml"} {
		for _, comp := range []string{"", "zlib", "brotli", "lzma", "zstd"} {
			for _, proto := range []int{1, 2} {
				in := sendOpts(t, Serializer(ser), Protocol(proto), Args(1, "two", 3.5), Kwargs(map[string]any{"k": []any{true, nil}}),
					ETA(eta), Group("g", 2), Retries(3), TimeLimits(10*time.Second, 1500*time.Millisecond))
				if comp != "" {
					in.Compression = comp
				}
				raw, err := EncodeMessage(in)
				if err != nil {
					t.Fatalf("%s/%s/v%d: %v", ser, comp, proto, err)
				}
				env, err := kombu.ParseEnvelope(raw)
				if err != nil {
					t.Fatal(err)
				}
				wantCT, _ := codec.ContentType(ser)
				if env.ContentType != wantCT || env.ContentEncoding != codec.ContentEncoding(wantCT) {
					t.Errorf("%s: content type %q/%q", ser, env.ContentType, env.ContentEncoding)
				}
				if _, v2 := env.Headers["task"]; v2 != (proto == 2) {
					t.Errorf("%s/v%d: headers %v", ser, proto, env.Headers)
				}
				if _, err := decodeEnvelope(env, DecodeOptions{}); (ser == "json") != (err == nil) {
					t.Errorf("%s: JSON-only decode: %v", ser, err)
				}
				m, err := decodeEnvelope(env, DecodeOptions{Accept: all})
				if err != nil {
					t.Fatalf("%s/%s/v%d: %v", ser, comp, proto, err)
				}
				got := pyjson.ArgsRepr(m.Args) + " " + pyjson.KwargsRepr(m.Kwargs)
				if got != "(1, 'two', 3.5) {'k': [True, None]}" || m.Protocol != proto || !m.ETA.Equal(eta) ||
					m.Group != "g" || *m.GroupIdx != 2 || m.Retries != 3 || m.Hard != 10*time.Second || m.Soft != 1500*time.Millisecond {
					t.Errorf("%s/%s/v%d: got %s %+v", ser, comp, proto, got, m)
				}
				if comp != "" {
					if want, _ := kombu.CompressionType(comp); env.Headers["compression"] != want {
						t.Errorf("compression header = %v", env.Headers["compression"])
					}
				}
			}
		}
	}
}

// The protocol-1 body has as_task_v1's keys (celery/app/amqp.py).
func TestProtocol1Body(t *testing.T) {
	raw, err := EncodeMessage(sendOpts(t, Protocol(1), Args(2, 2), Headers(map[string]any{"x-custom": 1})))
	if err != nil {
		t.Fatal(err)
	}
	env, _ := kombu.ParseEnvelope(raw)
	var body map[string]any
	if err := json.Unmarshal(env.Body, &body); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range body {
		keys = append(keys, k)
	}
	want := []string{"args", "callbacks", "chord", "errbacks", "eta", "expires", "group", "group_index", "id", "kwargs", "retries", "task", "taskset", "timelimit", "utc"}
	slices.Sort(keys)
	if d := cmp.Diff(want, keys); d != "" {
		t.Error(d)
	}
	if body["task"] != "tasks.add" || body["utc"] != true || env.Headers["x-custom"] == nil || env.Headers["task"] != nil {
		t.Errorf("body %v headers %v", body, env.Headers)
	}
	if _, err := EncodeMessage(sendOpts(t, Protocol(1), WithMessage(func(m *Message) { m.Embed.Chain = []Signature{{Task: "x"}} }))); err == nil {
		t.Error("protocol 1 with a chain encoded")
	}
}

func TestSendOptionErrors(t *testing.T) {
	for _, opt := range []SendOption{Serializer("pickle"), Serializer("bson"), Protocol(3)} {
		var o sendOptions
		opt(&o)
		if o.err == nil {
			t.Errorf("option accepted: %+v", o.msg)
		}
	}
}

// A body that inflates past MaxSize wraps ErrMessageTooLarge; a refused
// content type wraps ErrContentType.
func TestDecodeLimits(t *testing.T) {
	in := sendOpts(t, Args(strings.Repeat("x", 1<<20)), Compression("zstd"))
	raw, err := EncodeMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := kombu.ParseEnvelope(raw)
	if _, err := decodeEnvelope(env, DecodeOptions{MaxSize: 64 << 10}); !errors.Is(err, ErrMessageTooLarge) || !errors.Is(err, ErrMalformedMessage) {
		t.Errorf("bomb: %v", err)
	}
	if _, err := decodeEnvelope(env, DecodeOptions{MaxSize: 2 << 20}); err != nil {
		t.Errorf("within the limit: %v", err)
	}
	env.ContentType = ContentTypeMsgpk
	if _, err := decodeEnvelope(env, DecodeOptions{}); !errors.Is(err, ErrContentType) {
		t.Errorf("msgpack not accepted: %v", err)
	}
}

// Results written in every serializer, compressed or not (Celery 5.7's
// in-band marker), decode the same.
func TestResultPayloads(t *testing.T) {
	in := &ResultMeta{TaskID: "t1", Status: StateSuccess, Result: map[string]any{"n": json.Number("5"), "b": []byte{0, 1}}, Children: []any{}, Kwargs: map[string]any{},
		DateDone: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), Name: "tasks.x", Args: []any{json.Number("1")}, Worker: "w", Queue: "q"}
	for _, ser := range []string{"json", "msgpack", "yaml"} {
		for _, comp := range []string{"", "zlib", "zstd"} {
			ct, _ := codec.ContentType(ser)
			raw, err := encodeResultPayload(in, ct, comp)
			if err != nil {
				t.Fatal(err)
			}
			out, err := DecodeResultMeta(raw)
			if err != nil {
				t.Fatalf("%s/%s: %v", ser, comp, err)
			}
			if d := cmp.Diff(in, out); d != "" {
				t.Errorf("%s/%s: %s", ser, comp, d)
			}
		}
	}
	// A payload as Celery 5.7's compress_payload writes it.
	body, _ := kombu.Compress("zlib", []byte(`{"status": "SUCCESS", "result": 3, "task_id": "t2"}`))
	raw := append([]byte("\x00celery-compressed\x00application/x-gzip\x00"), body...)
	if m, err := DecodeResultMeta(raw); err != nil || m.TaskID != "t2" || m.Result != json.Number("3") {
		t.Errorf("compressed payload: %+v, %v", m, err)
	}
}
