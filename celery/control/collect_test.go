package control_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/celery/control"
	credis "github.com/celeriac/celeriac/celery/redis"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/redistest"
)

// TestInspectOutlivesReadTimeout: reply collection honours a timeout
// longer than the connection's read timeout (issue 16 item 11: `inspect
// --timeout 40` failed at 30 s with "i/o timeout" and lost the replies
// it had). The connections here time out reads after 200 ms; a node
// replies after 1 s, within the 2 s inspect timeout.
func TestInspectOutlivesReadTimeout(t *testing.T) {
	srv := redistest.Start(t)
	broker, err := credis.NewBroker(srv.URL(0), credis.WithReadTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	// A slow node: it reads the broadcast from the pidbox channel and
	// answers a second later.
	sub := redis.PubSubConn{Conn: srv.Dial(t)}
	defer sub.Close()
	if err := sub.Subscribe(kombu.FanoutChannel(0, kombu.PidboxExchange, "")); err != nil {
		t.Fatal(err)
	}
	if _, ok := sub.ReceiveWithTimeout(5 * time.Second).(redis.Subscription); !ok {
		t.Fatal("no subscription")
	}
	replied := make(chan error, 1)
	go func() {
		m, ok := sub.ReceiveWithTimeout(10 * time.Second).(redis.Message)
		if !ok {
			replied <- nil
			return
		}
		env, err := kombu.ParseEnvelope(m.Data)
		if err != nil {
			replied <- err
			return
		}
		var body struct {
			Ticket  string `json:"ticket"`
			ReplyTo struct {
				RoutingKey string `json:"routing_key"`
			} `json:"reply_to"`
		}
		if err := json.Unmarshal(env.Body, &body); err != nil {
			replied <- err
			return
		}
		time.Sleep(time.Second)
		reply := kombu.Envelope{
			Body: []byte(`{"slow@node": {"ok": "pong"}}`), ContentType: "application/json", ContentEncoding: "utf-8",
			Headers:    map[string]any{"ticket": body.Ticket},
			Properties: kombu.Properties{BodyEncoding: "base64", DeliveryTag: "t"},
		}
		raw, err := reply.Append(nil)
		if err != nil {
			replied <- err
			return
		}
		c := srv.Dial(t)
		_, err = c.Do("LPUSH", kombu.QueueKey(body.ReplyTo.RoutingKey+"."+kombu.ReplyExchange, 0), raw)
		replied <- err
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := control.New(broker).Inspect(ctx, "ping", nil, 2*time.Second)
	if err != nil || got["slow@node"] == nil {
		t.Errorf("Inspect(ping, 2s) over 200 ms reads = %v, %v; want slow@node's reply", got, err)
	}
	if err := <-replied; err != nil {
		t.Fatal(err)
	}
}
