package amqp

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/celeriac/celeriac/internal/kombu"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEnvelopeRoundTrip: an envelope published and delivered back is the
// same message: body unencoded on the wire, headers as a table,
// properties as AMQP properties; the delivery's tag and redelivered flag
// reach the envelope.
func TestEnvelopeRoundTrip(t *testing.T) {
	env := kombu.Envelope{
		Body: []byte(`[[2, 3], {}, {}]`), ContentType: "application/json", ContentEncoding: "utf-8",
		Headers: map[string]any{"id": "t1", "task": "tasks.add", "retries": 3, "eta": nil,
			"timelimit": []any{nil, 1.5}, "stamps": map[string]any{"k": true}},
		Properties: kombu.Properties{CorrelationID: "t1", ReplyTo: "r", DeliveryMode: 2, Priority: 5,
			BodyEncoding: "base64", DeliveryTag: "x"},
	}
	raw, err := env.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := toPublishing(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(pub.Body) != `[[2, 3], {}, {}]` || pub.CorrelationId != "t1" || pub.ReplyTo != "r" ||
		pub.Priority != 5 || pub.DeliveryMode != amqp.Persistent || pub.ContentType != "application/json" {
		t.Fatalf("publishing %+v", pub)
	}
	if v, ok := pub.Headers["retries"].(int64); !ok || v != 3 {
		t.Errorf("retries header %#v, want int64 3", pub.Headers["retries"])
	}
	if err := pub.Headers.Validate(); err != nil {
		t.Errorf("header table: %v", err)
	}
	d := amqp.Delivery{Body: pub.Body, ContentType: pub.ContentType, ContentEncoding: pub.ContentEncoding,
		Headers: pub.Headers, CorrelationId: pub.CorrelationId, ReplyTo: pub.ReplyTo, DeliveryMode: pub.DeliveryMode,
		Priority: pub.Priority, DeliveryTag: 7, Redelivered: true, Exchange: "", RoutingKey: "celery"}
	back, err := envelopeJSON(&d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := kombu.ParseEnvelope(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != string(env.Body) || got.Properties.DeliveryTag != "7" || !got.Properties.DeliveryInfo.Redelivered ||
		got.Properties.DeliveryInfo.RoutingKey != "celery" || got.Properties.Priority != 5 || got.Headers["task"] != "tasks.add" {
		t.Errorf("delivered envelope %+v", got)
	}
	if n, ok := kombu.AsInt(got.Headers["retries"]); !ok || n != 3 {
		t.Errorf("retries %v", got.Headers["retries"])
	}
	if s, _ := got.Headers["stamps"].(map[string]any); s["k"] != true {
		t.Errorf("stamps %v", got.Headers["stamps"])
	}
}

// TestTransientMode: delivery_mode 1 (remote control, events) stays
// transient; anything else is persistent.
func TestTransientMode(t *testing.T) {
	env := kombu.Envelope{Body: []byte("{}"), ContentType: "application/json", Properties: kombu.Properties{DeliveryMode: 1}}
	raw, _ := env.Append(nil)
	pub, err := toPublishing(raw, 0)
	if err != nil || pub.DeliveryMode != amqp.Transient {
		t.Fatalf("%+v, %v", pub, err)
	}
	if _, err := toPublishing([]byte("not json"), 0); err == nil {
		t.Error("a malformed envelope was converted")
	}
}

// TestEnvelopeDirect: the envelope the receiver builds from a delivery is
// the one the worker would parse from that delivery's envelope JSON, for
// every type an AMQP field table can hold.
func TestEnvelopeDirect(t *testing.T) {
	delivery := func() amqp.Delivery {
		return amqp.Delivery{Body: []byte(`[[1, 2], {}, {}]`), ContentType: "application/json", ContentEncoding: "utf-8",
			Headers: amqp.Table{
				"id": "t1", "task": "tasks.add", "retries": int64(3), "eta": nil, "ignore_result": false,
				"timelimit": []any{nil, 1.5}, "soft": float32(2), "big": float64(1e100), "whole": 2.0,
				"i8": int8(-8), "i16": int16(16), "i32": int32(-32), "u8": uint8(8), "u16": uint16(16), "u32": uint32(32),
				"bytes": []byte("raw"), "when": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				"dec":    amqp.Decimal{Scale: 2, Value: 12345},
				"stamps": amqp.Table{"k": true, "n": int64(1), "l": []any{int32(1), "s", amqp.Table{"x": 0.25}}},
			},
			CorrelationId: "t1", ReplyTo: "r", DeliveryMode: 2, Priority: 3, Expiration: "1000",
			DeliveryTag: 42, Redelivered: true, Exchange: "ex", RoutingKey: "rk"}
	}
	d := delivery()
	raw, err := envelopeJSON(&d)
	if err != nil {
		t.Fatal(err)
	}
	want, err := kombu.ParseEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	fresh := delivery()
	if diff := cmp.Diff(want, envelopeOf(&fresh)); diff != "" {
		t.Errorf("direct envelope (-parsed, +direct):\n%s", diff)
	}
	// The table is converted in place; converting it again changes nothing.
	if diff := cmp.Diff(want, envelopeOf(&d)); diff != "" {
		t.Errorf("converted twice (-parsed, +direct):\n%s", diff)
	}
	// NaN and infinities come back as float64, as pyjson decodes them.
	for _, f := range []float64{math.Inf(1), math.Inf(-1)} {
		d := amqp.Delivery{Headers: amqp.Table{"f": f}}
		raw, err := envelopeJSON(&d)
		if err != nil {
			t.Fatal(err)
		}
		want, err := kombu.ParseEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := envelopeOf(&d).Headers["f"]; got != want.Headers["f"] {
			t.Errorf("%v: direct %#v, parsed %#v", f, got, want.Headers["f"])
		}
	}
	// No headers: an empty map, as a parsed envelope has.
	if h := envelopeOf(&amqp.Delivery{}).Headers; h == nil || len(h) != 0 {
		t.Errorf("headers of a delivery without a table: %#v", h)
	}
}
