package kombu

import (
	"bytes"
	"errors"
	"testing"
)

// A task envelope as Python Celery 5.7 publishes it (captured with
// integration/pyapp/client.py lpop-raw; headers trimmed).
const pyEnvelope = `{"body": "W1syLCAyXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"lang": "py", "task": "tasks.add", "id": "5f2b1d1e-0c39-4f0c-9d6c-1a2b3c4d5e6f", "retries": 0}, "properties": {"correlation_id": "5f2b1d1e-0c39-4f0c-9d6c-1a2b3c4d5e6f", "reply_to": "d0c5a0e2-8d43-3a8e-b5f0-7c0d6c1f2e3a", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "celery"}, "priority": 3, "body_encoding": "base64", "delivery_tag": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"}}`

func TestParseEnvelope(t *testing.T) {
	e, err := ParseEnvelope([]byte(pyEnvelope))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(e.Body), `[[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	p := e.Properties
	if p.Priority != 3 || p.DeliveryTag != "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9" || p.DeliveryInfo.RoutingKey != "celery" || p.DeliveryMode != 2 {
		t.Errorf("properties = %+v", p)
	}
	if e.Headers["task"] != "tasks.add" {
		t.Errorf("headers = %v", e.Headers)
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	in := &Envelope{
		Body: []byte(`[[], {}, null]`), ContentType: "application/json", ContentEncoding: "utf-8",
		RawHeaders: []byte(`{"task": "t", "id": "i"}`),
		Properties: Properties{CorrelationID: "i", DeliveryMode: 2, Expiration: "1000", Priority: 9,
			BodyEncoding: "base64", DeliveryTag: "tag", DeliveryInfo: DeliveryInfo{RoutingKey: "q\u00e9", Redelivered: true}},
	}
	raw, err := in.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseEnvelope(raw)
	if err != nil {
		t.Fatalf("ParseEnvelope(%s): %v", raw, err)
	}
	if !bytes.Equal(out.Body, in.Body) || out.Properties != in.Properties || out.Headers["task"] != "t" {
		t.Errorf("round trip: got %+v from %s", out, raw)
	}
}

func TestParseEnvelopeErrors(t *testing.T) {
	for _, tc := range []struct{ name, raw string }{
		{"not json", `{"body": `},
		{"not object", `[1]`},
		{"no body", `{"properties": {}}`},
		{"body not string", `{"body": 1}`},
		{"headers not object", `{"body": "", "headers": 3}`},
		{"bad base64", `{"body": "%%%", "properties": {"body_encoding": "base64"}}`},
		{"unknown encoding", `{"body": "", "properties": {"body_encoding": "rot13"}}`},
		{"content-type not string", `{"body": "", "content-type": 5}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEnvelope([]byte(tc.raw))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseEnvelope(%s) = %v, want ErrMalformed", tc.raw, err)
			}
		})
	}
}

func TestParseEnvelopeLenient(t *testing.T) {
	// Missing properties and plain (non-base64) body: Python would crash;
	// we accept and let the caller fill in delivery info.
	e, err := ParseEnvelope([]byte(`{"body": "[[], {}, null]", "headers": null}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Body) != "[[], {}, null]" || e.Properties.DeliveryTag != "" {
		t.Errorf("got %+v", e)
	}
}

func TestUnackedEntry(t *testing.T) {
	raw := AppendUnackedEntry(nil, []byte(pyEnvelope), "", "celery")
	u, err := ParseUnackedEntry(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Exchange != "" || u.RoutingKey != "celery" || u.Priority() != 3 {
		t.Errorf("entry = %+v", u)
	}
	re, err := u.Redelivered()
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseEnvelope(re)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Properties.DeliveryInfo.Redelivered || e.Headers["redelivered"] != true {
		t.Errorf("redelivered flags not set: %s", re)
	}
	for _, bad := range []string{`[1, 2]`, `[{}, 1, "x"]`, `nope`} {
		if _, err := ParseUnackedEntry([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseUnackedEntry(%s) = %v", bad, err)
		}
	}
}
