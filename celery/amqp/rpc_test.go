package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/celery"
)

// rpcOffline returns an rpc backend whose reply queue counts as declared
// on a connection that is never used, fed by hand through received (no
// broker).
func rpcOffline(t *testing.T) *RPCBackend {
	t.Helper()
	b := &Broker{o: options{logger: slog.Default()}, conn: &amqp.Connection{}, declared: map[string]bool{}}
	r, err := NewRPCBackend(b)
	if err != nil {
		t.Fatal(err)
	}
	r.started = true
	b.setDeclared(r.declaredKey())
	t.Cleanup(func() { r.Close() })
	return r
}

// reply is a worker's state message for task id.
func reply(id string, state celery.State, result string) *amqp.Delivery {
	body := fmt.Sprintf(`{"status": %q, "result": %s, "traceback": null, "children": [], "date_done": null, "task_id": %q}`, state, result, id)
	return &amqp.Delivery{CorrelationId: id, ContentType: "application/json", Body: []byte(body)}
}

// TestRPCStates: an unknown task is PENDING; GetMax gives the last state
// received; WatchMax passes on every state kept, those received before it
// was called included, and returns the final one; a state coming after
// the final one does not hide it.
func TestRPCStates(t *testing.T) {
	r := rpcOffline(t)
	ctx := context.Background()
	if m, err := r.GetMax(ctx, "t1", 0); err != nil || m.Status != celery.StatePending || m.TaskID != "t1" {
		t.Fatalf("unknown task: %+v, %v; want PENDING", m, err)
	}
	r.received(reply("t1", celery.StateStarted, `{"pid": 1}`))
	if m, _ := r.GetMax(ctx, "t1", 0); m.Status != celery.StateStarted {
		t.Errorf("after STARTED: %s", m.Status)
	}
	r.received(reply("t1", "PROGRESS", `{"current": 1}`))
	r.received(reply("t1", celery.StateSuccess, `5`))
	r.received(reply("t1", celery.StateStarted, `null`)) // late: ignored
	var states []celery.State
	m, err := r.WatchMax(ctx, "t1", 0, func(m *celery.ResultMeta) { states = append(states, m.Status) })
	if err != nil || m.Status != celery.StateSuccess || fmt.Sprint(m.Result) != "5" {
		t.Fatalf("WatchMax: %+v, %v", m, err)
	}
	if want := []celery.State{celery.StateStarted, "PROGRESS", celery.StateSuccess}; !slices.Equal(states, want) {
		t.Errorf("states passed on: %v, want %v", states, want)
	}
	if _, err := r.GetMax(ctx, "t1", 10); !errors.As(err, new(*celery.ResultTooLargeError)) {
		t.Errorf("GetMax over the limit: %v, want a ResultTooLargeError", err)
	}
	if err := r.Forget(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if m, _ := r.GetMax(ctx, "t1", 0); m.Status != celery.StatePending {
		t.Errorf("forgotten: %s, want PENDING", m.Status)
	}
}

// TestRPCWatchWaits: WatchMax reports PENDING, then returns when the
// final state arrives; Close ends a wait with ErrClosed.
func TestRPCWatchWaits(t *testing.T) {
	r := rpcOffline(t)
	ctx := context.Background()
	pending := make(chan struct{})
	done := make(chan *celery.ResultMeta)
	go func() {
		m, _ := r.WatchMax(ctx, "t2", 0, func(m *celery.ResultMeta) {
			if m.Status == celery.StatePending {
				close(pending)
			}
		})
		done <- m
	}()
	<-pending
	r.received(reply("other", celery.StateSuccess, `1`))
	r.received(reply("t2", celery.StateFailure, `{"exc_type": "ValueError", "exc_message": ["no"], "exc_module": "builtins"}`))
	m := <-done
	var te *celery.TaskError
	if m == nil || !errors.As(m.Err(), &te) || te.Type != "ValueError" {
		t.Fatalf("WatchMax: %+v, want the FAILURE", m)
	}

	waiting := make(chan struct{})
	errc := make(chan error)
	go func() {
		_, err := r.WatchMax(ctx, "t3", 0, func(*celery.ResultMeta) { close(waiting) })
		errc <- err
	}()
	<-waiting
	r.Close()
	if err := <-errc; !errors.Is(err, celery.ErrClosed) {
		t.Errorf("WatchMax at Close: %v, want ErrClosed", err)
	}
	if err := r.DeclareReplyQueue(ctx); !errors.Is(err, celery.ErrClosed) {
		t.Errorf("DeclareReplyQueue after Close: %v", err)
	}
}

// TestRPCKeepsBounded: states of tasks nobody waits for are dropped
// oldest first beyond rpcKeep; an undecodable message is dropped.
func TestRPCKeepsBounded(t *testing.T) {
	r := rpcOffline(t)
	for i := range rpcKeep + 10 {
		r.received(reply(fmt.Sprint("k", i), celery.StateSuccess, `1`))
	}
	r.received(&amqp.Delivery{CorrelationId: "bad", Body: []byte("{not json")})
	ctx := context.Background()
	if m, _ := r.GetMax(ctx, "k0", 0); m.Status != celery.StatePending {
		t.Errorf("oldest state kept: %s", m.Status)
	}
	if m, _ := r.GetMax(ctx, fmt.Sprint("k", rpcKeep+9), 0); m.Status != celery.StateSuccess {
		t.Errorf("newest state: %s", m.Status)
	}
	if len(r.states) != rpcKeep {
		t.Errorf("%d states kept, want %d", len(r.states), rpcKeep)
	}
}

// TestRPCStoreNeedsReplyTo: a task without reply_to gets no result (as
// Celery's), and nothing is published; chords are refused.
func TestRPCStoreNeedsReplyTo(t *testing.T) {
	r := rpcOffline(t)
	ok, err := r.Store(context.Background(), &celery.ResultMeta{TaskID: "t", Status: celery.StateSuccess, Result: 1})
	if ok || err != nil {
		t.Errorf("Store without reply_to: %v, %v; want false, nil", ok, err)
	}
	if _, err := r.ChordPartReturn(context.Background(), "g", nil, "t", celery.StateSuccess, 1); !errors.Is(err, ErrNoChords) {
		t.Errorf("ChordPartReturn: %v", err)
	}
	if _, err := NewRPCBackend(&Broker{o: options{logger: slog.Default()}}, WithReplySerializer("pickle")); err == nil {
		t.Error("pickle serializer accepted")
	}
}
