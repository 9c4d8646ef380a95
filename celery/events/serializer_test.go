package events

import (
	"context"
	"sync"
	"testing"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/kombu"
)

// recorder is a Broadcaster that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []celery.BroadcastMessage
}

func (r *recorder) Broadcast(_ context.Context, _ string, msgs ...celery.BroadcastMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func (r *recorder) Subscribe(context.Context, string, string, func(), func([]byte)) error {
	return nil
}

// TestSerializer: event_serializer picks the body's format; Decode reads
// each back.
func TestSerializer(t *testing.T) {
	for name, want := range map[string]string{"": codec.JSON, "json": codec.JSON, "msgpack": codec.Msgpack,
		"yaml": codec.YAML, codec.Msgpack: codec.Msgpack, "pickle": codec.JSON, "nonsense": codec.JSON} {
		rec := &recorder{}
		d := NewDispatcher(rec, "go@test", WithSerializer(name))
		if err := d.EmitNow(context.Background(), &TaskSucceededEvent{UUID: "id-1", Result: "3", Runtime: 0.5}); err != nil {
			t.Fatal(err)
		}
		d.Close()
		if len(rec.msgs) != 1 {
			t.Fatalf("%q: %d messages", name, len(rec.msgs))
		}
		env, err := kombu.ParseEnvelope(rec.msgs[0].Body)
		if err != nil {
			t.Fatal(err)
		}
		if env.ContentType != want || env.ContentEncoding != codec.ContentEncoding(want) {
			t.Errorf("%q: content %s/%s, want %s", name, env.ContentType, env.ContentEncoding, want)
		}
		evs, err := Decode(rec.msgs[0].Body)
		if err != nil || len(evs) != 1 || evs[0]["uuid"] != "id-1" || evs[0]["type"] != "task-succeeded" || evs[0]["hostname"] != "go@test" {
			t.Errorf("%q: decoded %v, %v", name, evs, err)
		}
	}
}
