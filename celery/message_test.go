package celery

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/celeriac/celeriac/internal/kombu"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	eta := time.Date(2024, 5, 1, 12, 0, 3, 118000000, time.UTC)
	idx := 2
	in := &Message{
		ID: "id-1", Task: "tasks.add", ETA: eta, Expires: eta.Add(time.Hour), Group: "g", GroupIdx: &idx,
		Retries: 2, TimeLimit: TimeLimit{Hard: 10 * time.Second, Soft: 1500 * time.Millisecond},
		ParentID: "p", Origin: "gen1@h", IgnoreResult: true,
		Headers: map[string]any{"x-custom": "v"},
		Args:    []any{json.Number("2"), "é"}, Kwargs: map[string]any{"k": []any{true, nil}},
		Embed:      Embed{Callbacks: []Signature{NewSignature("tasks.mul", json.Number("3"))}},
		Properties: Properties{DeliveryTag: "tag", Priority: 6, DeliveryInfo: DeliveryInfo{RoutingKey: "celery"}},
	}
	raw, err := EncodeMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeMessage(raw)
	if err != nil {
		t.Fatalf("DecodeMessage(%s): %v", raw, err)
	}
	if out.Protocol != 2 || out.ID != in.ID || out.Task != in.Task || !out.ETA.Equal(eta) || !out.Expires.Equal(in.Expires) ||
		out.Group != "g" || *out.GroupIdx != 2 || out.Retries != 2 || out.TimeLimit != in.TimeLimit || out.RootID != "id-1" ||
		out.ParentID != "p" || !out.IgnoreResult || out.Properties.Priority != 6 || out.Properties.CorrelationID != "id-1" {
		t.Errorf("round trip lost fields: %+v", out)
	}
	if diff := cmp.Diff(in.Args, out.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(in.Kwargs, out.Kwargs); diff != "" {
		t.Errorf("kwargs (-want +got):\n%s", diff)
	}
	if out.Headers["x-custom"] != "v" {
		t.Errorf("custom headers = %v", out.Headers)
	}
	if len(out.Embed.Callbacks) != 1 || out.Embed.Callbacks[0].Task != "tasks.mul" {
		t.Errorf("callbacks = %+v", out.Embed.Callbacks)
	}
	if out.ArgsRepr != "(2, 'é')" {
		t.Errorf("argsrepr = %q", out.ArgsRepr)
	}
}

func TestEncodeRequiredFields(t *testing.T) {
	raw, err := EncodeMessage(&Message{ID: "i", Task: "t", Properties: Properties{DeliveryTag: "d", DeliveryInfo: DeliveryInfo{RoutingKey: "celery"}}})
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"body", "content-encoding", "content-type", "headers", "properties"} {
		if _, ok := env[k]; !ok {
			t.Errorf("envelope lacks %q: %s", k, raw)
		}
	}
	props := env["properties"].(map[string]any)
	di := props["delivery_info"].(map[string]any)
	for _, k := range []string{"exchange", "routing_key"} {
		if _, ok := di[k]; !ok {
			t.Errorf("delivery_info lacks %q", k)
		}
	}
	for _, k := range []string{"delivery_tag", "body_encoding", "priority", "correlation_id", "reply_to", "delivery_mode"} {
		if _, ok := props[k]; !ok {
			t.Errorf("properties lack %q", k)
		}
	}
	headers := env["headers"].(map[string]any)
	for _, k := range []string{"lang", "task", "id", "shadow", "eta", "expires", "group", "group_index", "retries", "timelimit", "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result", "replaced_task_nesting", "stamped_headers", "stamps"} {
		if _, ok := headers[k]; !ok {
			t.Errorf("headers lack %q", k)
		}
	}
	if _, err := EncodeMessage(&Message{Task: "t"}); err == nil {
		t.Error("EncodeMessage without id succeeded")
	}
}

func envelope(headers, body string, props string) []byte {
	if props == "" {
		props = `{"delivery_tag": "t", "body_encoding": "base64", "delivery_info": {"exchange": "", "routing_key": "celery"}}`
	}
	return []byte(`{"body": "` + base64.StdEncoding.EncodeToString([]byte(body)) + `", "content-type": "application/json", "content-encoding": "utf-8", "headers": ` + headers + `, "properties": ` + props + `}`)
}

func TestDecodeV1(t *testing.T) {
	body := `{"task": "tasks.add", "id": "v1id", "args": [1, 2], "kwargs": {}, "retries": 1, "eta": "2024-05-01T12:00:00Z", "expires": null, "utc": true, "callbacks": null, "errbacks": null, "taskset": "g1"}`
	m, err := DecodeMessage(envelope(`{}`, body, ""))
	if err != nil {
		t.Fatal(err)
	}
	if m.Protocol != 1 || m.Task != "tasks.add" || m.ID != "v1id" || m.Retries != 1 || m.Group != "g1" || len(m.Args) != 2 ||
		!m.ETA.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("v1 decoded as %+v", m)
	}
	// gocelery sends v1 with no headers at all and a plain body encoding.
	raw := []byte(`{"body": "` + base64.StdEncoding.EncodeToString([]byte(`{"id":"g","task":"worker.add","args":[1,2],"kwargs":{},"retries":0,"eta":"","expires":null}`)) + `", "content-type": "application/json", "properties": {"body_encoding": "base64", "delivery_tag": "x", "delivery_info": {"routing_key": "celery", "exchange": "celery"}}, "headers": {}}`)
	m, err = DecodeMessage(raw)
	if err != nil || m.Task != "worker.add" || !m.ETA.IsZero() || m.Protocol != 1 {
		t.Errorf("gocelery message: %+v, %v", m, err)
	}
}

func TestDecodeMinimalV2(t *testing.T) {
	m, err := DecodeMessage(envelope(`{"task": "tasks.add", "id": "x"}`, `[[1], {}, null]`, ""))
	if err != nil {
		t.Fatal(err)
	}
	if m.Task != "tasks.add" || m.ID != "x" || m.Protocol != 2 {
		t.Errorf("got %+v", m)
	}
}

func TestDecodeCompressed(t *testing.T) {
	body, err := kombu.Compress("zlib", []byte(`[[1, 2], {}, null]`))
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(`{"body": "` + base64.StdEncoding.EncodeToString(body) + `", "content-type": "application/json", "headers": {"task": "t", "id": "i", "compression": "application/x-gzip"}, "properties": {"body_encoding": "base64", "delivery_tag": "d", "delivery_info": {"exchange": "", "routing_key": "celery"}}}`)
	m, err := DecodeMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Args) != 2 || m.Compression != "application/x-gzip" {
		t.Errorf("got %+v", m)
	}
	// Encoding with compression produces what we decode.
	enc, err := EncodeMessage(&Message{ID: "i", Task: "t", Args: []any{"x"}, Compression: "zlib"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := DecodeMessage(enc); err != nil || m.Args[0] != "x" {
		t.Errorf("DecodeMessage(compressed) = %+v, %v", m, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	ok := `{"task": "t", "id": "i"}`
	for _, tc := range []struct {
		name, headers, body, props string
		ctype                      bool
	}{
		{name: "body not json", headers: ok, body: `[[1], {}`},
		{name: "body not list", headers: ok, body: `{"a": 1}`},
		{name: "body wrong arity", headers: ok, body: `[[], {}]`},
		{name: "args not list", headers: ok, body: `[1, {}, null]`},
		{name: "kwargs not object", headers: ok, body: `[[], [], null]`},
		{name: "embed wrong", headers: ok, body: `[[], {}, 3]`},
		{name: "no task header and body not v1", headers: `{}`, body: `[[], {}, null]`},
		{name: "no id", headers: `{"task": "t"}`, body: `[[], {}, null]`},
		{name: "task not string", headers: `{"task": 5, "id": "i"}`, body: `[[], {}, null]`},
		{name: "bad eta", headers: `{"task": "t", "id": "i", "eta": "tomorrow"}`, body: `[[], {}, null]`},
		{name: "eta wrong type", headers: `{"task": "t", "id": "i", "eta": 5}`, body: `[[], {}, null]`},
		{name: "negative retries", headers: `{"task": "t", "id": "i", "retries": -1}`, body: `[[], {}, null]`},
		{name: "retries string", headers: `{"task": "t", "id": "i", "retries": "x"}`, body: `[[], {}, null]`},
		{name: "timelimit bogus", headers: `{"task": "t", "id": "i", "timelimit": "x"}`, body: `[[], {}, null]`},
		{name: "timelimit negative", headers: `{"task": "t", "id": "i", "timelimit": [-1, null]}`, body: `[[], {}, null]`},
		{name: "unknown compression", headers: `{"task": "t", "id": "i", "compression": "application/x-lzma"}`, body: `[[], {}, null]`},
		{name: "callbacks not sigs", headers: ok, body: `[[], {}, {"callbacks": [1]}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeMessage(envelope(tc.headers, tc.body, tc.props))
			if !errors.Is(err, ErrMalformedMessage) {
				t.Fatalf("DecodeMessage = %v, want ErrMalformedMessage", err)
			}
		})
	}
	pickle := []byte(`{"body": "gAN9cQAu", "content-type": "application/x-python-serialize", "content-encoding": "binary", "headers": {"task": "t", "id": "i"}, "properties": {"body_encoding": "base64", "delivery_tag": "d"}}`)
	if _, err := DecodeMessage(pickle); !errors.Is(err, ErrContentType) {
		t.Errorf("pickle: %v, want ErrContentType", err)
	}
	if _, err := DecodeMessage([]byte("garbage")); !errors.Is(err, ErrMalformedMessage) {
		t.Errorf("garbage: %v", err)
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2024, 5, 1, 12, 0, 3, 118000000, time.UTC)
	for _, s := range []string{
		"2024-05-01T12:00:03.118000+00:00", "2024-05-01T12:00:03.118Z", "2024-05-01T12:00:03.118",
		"2024-05-01 12:00:03.118+00:00", "2024-05-01T14:00:03.118+02:00", "2024-05-01T12:00:03.118+0000",
	} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v, want %v", s, got, err, want)
		}
	}
	if _, err := ParseTime("nope"); err == nil {
		t.Error("ParseTime(nope) succeeded")
	}
	if got := FormatTime(want); got != "2024-05-01T12:00:03.118000+00:00" {
		t.Errorf("FormatTime = %q", got)
	}
	if got := FormatTime(time.Date(2024, 5, 1, 12, 0, 3, 0, time.UTC)); got != "2024-05-01T12:00:03+00:00" {
		t.Errorf("FormatTime = %q", got)
	}
}

func TestResultMetaRoundTrip(t *testing.T) {
	in := &ResultMeta{TaskID: "t1", Status: StateFailure, Result: Exception("ValueError", "builtins", "nope"), Traceback: "tb",
		DateDone: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), Name: "tasks.fail", Args: []any{"nope"}, Worker: "w@h", Retries: 1, Queue: "celery", ParentID: "p"}
	raw, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), `{"status": "FAILURE", "result": `) || !strings.HasSuffix(string(raw), `"task_id": "t1"}`) {
		t.Errorf("meta layout: %s", raw)
	}
	out, err := DecodeResultMeta(raw)
	if err != nil {
		t.Fatal(err)
	}
	var te *TaskError
	if !errors.As(out.Err(), &te) || te.Type != "ValueError" || te.Message() != "nope" || te.Traceback != "tb" || te.Module != "builtins" {
		t.Errorf("Err() = %#v", out.Err())
	}
	if out.Name != "tasks.fail" || out.Worker != "w@h" || out.Retries != 1 || out.ParentID != "p" || !out.DateDone.Equal(in.DateDone) {
		t.Errorf("decoded %+v", out)
	}
	ok := &ResultMeta{TaskID: "t2", Status: StateSuccess, Result: map[string]any{"a": []any{json.Number("1")}}}
	raw, _ = ok.Encode()
	out, _ = DecodeResultMeta(raw)
	var v struct{ A []int }
	if err := out.Decode(&v); err != nil || len(v.A) != 1 || v.A[0] != 1 || out.Err() != nil {
		t.Errorf("Decode = %+v, %v", v, err)
	}
}

func TestSignatureMap(t *testing.T) {
	s := Signature{Task: "tasks.add", Args: []any{json.Number("1")}, Kwargs: map[string]any{}, Immutable: true, Options: map[string]any{"task_id": "x"}}
	back, err := SignatureFromMap(s.Map())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, back); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := SignatureFromMap(map[string]any{"args": []any{}}); err == nil {
		t.Error("signature without task accepted")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(envelope(`{"task": "t", "id": "i"}`, `[[1, "a"], {"k": 1.5}, null]`, ""))
	f.Add(envelope(`{}`, `{"task": "t", "id": "i", "args": [], "kwargs": {}}`, ""))
	f.Add(envelope(`{"task": "t", "id": "i", "eta": "2024-05-01T12:00:03Z", "timelimit": [1, 2.5], "retries": 3}`, `[[], {}, {"chain": [{"task": "x"}]}]`, ""))
	f.Add([]byte(`{"body": "W10=", "properties": {}}`))
	f.Add([]byte(`{"body": "", "headers": {"compression": "zlib"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := DecodeMessage(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformedMessage) {
				t.Fatalf("error does not wrap ErrMalformedMessage: %v", err)
			}
			return
		}
		if m.Task == "" || m.ID == "" {
			t.Fatalf("decoded a message without task or id: %+v", m)
		}
		m.Properties.DeliveryTag = "t"
		if _, err := EncodeMessage(m); err != nil {
			t.Fatalf("re-encoding a decoded message: %v", err)
		}
	})
}

var benchMsg = &Message{ID: "2b6c4d1e-9f0a-4b3c-8d7e-6f5a4b3c2d1e", Task: "tasks.add", Args: []any{json.Number("2"), json.Number("2")},
	Properties: Properties{DeliveryTag: "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", DeliveryInfo: DeliveryInfo{RoutingKey: "celery"}}}

func BenchmarkEncodeMessage(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 2048)
	for b.Loop() {
		var err error
		if buf, err = AppendMessage(buf[:0], benchMsg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	raw, err := EncodeMessage(benchMsg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := DecodeMessage(raw); err != nil {
			b.Fatal(err)
		}
	}
}
