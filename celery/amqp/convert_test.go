package amqp

import (
	"testing"

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
	back, err := envelopeOf(&d)
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
