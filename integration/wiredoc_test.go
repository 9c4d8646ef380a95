//go:build integration

package integration

// Facts of docs/wire.md where Celery 5.7 does what older descriptions of
// its protocol do not say (docs/wire.md#where-celery-differs), checked
// against a real Python worker and client, so that the page goes stale
// loudly when Celery changes.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/celeriac/celeriac/internal/pypeer"
)

func TestWireDocCeleryDiffers(t *testing.T) {
	e := newEnv(t)
	// Subscribe before the worker starts, so that its first heartbeat is
	// not missed (pub/sub keeps nothing).
	psc := redis.PubSubConn{Conn: e.Redis.Dial(t)}
	t.Cleanup(func() { psc.Close() })
	if err := psc.PSubscribe("/0.celeryev/worker.*"); err != nil {
		t.Fatal(err)
	}
	py := pypeer.StartWorker(t, e.URL)

	// docs/wire.md#event-fields: utcoffset is a float (Celery 5.7 divides
	// exactly), e.g. 0.0 in UTC, not an integer.
	var offset json.Number
	deadline := time.Now().Add(20 * time.Second)
	for offset == "" && time.Now().Before(deadline) {
		m, ok := psc.ReceiveWithTimeout(5 * time.Second).(redis.Message)
		if !ok {
			continue
		}
		var env struct{ Body string }
		if err := json.Unmarshal(m.Data, &env); err != nil {
			t.Fatalf("event envelope on %s: %v", m.Channel, err)
		}
		body, err := base64.StdEncoding.DecodeString(env.Body)
		if err != nil {
			t.Fatalf("event body on %s: %v", m.Channel, err)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("event on %s: %v", m.Channel, err)
		}
		if ev["hostname"] == py.NodeName() {
			offset, _ = ev["utcoffset"].(json.Number)
		}
	}
	if offset == "" {
		t.Fatal("no worker event with a utcoffset from the Python worker")
	}
	if !strings.ContainsAny(string(offset), ".eE") {
		t.Errorf("Python utcoffset = %s, want a float (docs/wire.md#event-fields)", offset)
	}

	// docs/wire.md#pidbox-node: an unknown method gets an error reply. A
	// Python worker subscribes to the pidbox after it logs "ready.": wait
	// until it answers.
	waitFor(t, "the Python worker answers ping", 30*time.Second, func() bool {
		var pong []map[string]any
		pyControl(t, e.URL, &pong, "ping", "--destination", py.NodeName())
		return len(pong) == 1
	})
	var unknown []map[string]any
	pyControl(t, e.URL, &unknown, "call", "no_such_command", "--destination", py.NodeName(), "--timeout", "3")
	if len(unknown) != 1 {
		t.Fatalf("replies to no_such_command = %v, want one", unknown)
	}
	if r, _ := unknown[0][py.NodeName()].(map[string]any); r["error"] != "KeyError('no_such_command')" {
		t.Errorf("Python reply to no_such_command = %v, want {error: KeyError('no_such_command')}", unknown[0])
	}

	// docs/wire.md#binding-tables: a Python client binds its reply queue
	// with a deadline of at least an hour and no permanent entry, so a
	// sweep may delete the reply binding table later.
	score, err := redis.Int64(e.Redis.Do(t, "ZSCORE", "_kombu.binding_deadlines", "reply.celery.pidbox"), nil)
	if err != nil {
		t.Fatalf("ZSCORE _kombu.binding_deadlines reply.celery.pidbox: %v", err)
	}
	if atLeast := time.Now().Add(50 * time.Minute).UnixMilli(); score < atLeast {
		t.Errorf("reply.celery.pidbox binding deadline %d ms, want at least %d (an hour from the Python call)", score, atLeast)
	}
	if n := e.Redis.Do(t, "EXISTS", "_kombu.binding_permanent.reply.celery.pidbox"); n != int64(0) {
		t.Errorf("_kombu.binding_permanent.reply.celery.pidbox exists (%v): the reply table would never be swept", n)
	}
}
