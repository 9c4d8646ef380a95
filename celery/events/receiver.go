package events

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// Receiver consumes events from every node (celery/events/receiver.py
// EventReceiver): PSUBSCRIBE /{db}.celeryev/<pattern>, single and list
// bodies, local_received added, Lamport clock merged.
type Receiver struct {
	broker  celery.Broadcaster
	pattern string
	clock   *Clock
	logger  *slog.Logger
	onReady func(context.Context)
	backoff reconnect.Backoff
}

// WithPattern sets a receiver's routing-key pattern: "*" (default,
// every event) or e.g. "worker.*" or "task.*".
func WithPattern(p string) Option { return func(o *options) { o.pattern = p } }

// WithOnReady makes a receiver call f after every (re)subscription, e.g.
// to broadcast the heartbeat control command so workers announce
// themselves at once, as Celery's receiver does ("wakeup").
func WithOnReady(f func(context.Context)) Option { return func(o *options) { o.onReady = f } }

// NewReceiver returns a receiver on broker (owned by the caller).
func NewReceiver(broker celery.Broadcaster, opts ...Option) *Receiver {
	o := buildOptions(opts)
	return &Receiver{broker: broker, pattern: o.pattern, logger: o.logger, clock: o.clock, onReady: o.onReady}
}

// Channel returns the PSUBSCRIBE pattern.
func (r *Receiver) Channel() string {
	if b, ok := r.broker.(interface {
		BroadcastChannel(exchange, routingKey string) string
	}); ok {
		return b.BroadcastChannel(Exchange, r.pattern)
	}
	return ""
}

// Run delivers events to handle until ctx ends; it returns nil then.
// Each event is typed (a *TaskSucceededEvent, ..., or *Unknown for other
// types) with the map as decoded from the wire in EventHeader().Raw. An
// event whose fields have unexpected JSON types is logged and handed out
// as *Unknown. handle runs on Run's goroutine: keep it short. Lost
// connections are retried with backoff and the subscription renewed.
func (r *Receiver) Run(ctx context.Context, handle func(Typed)) error {
	fails := 0
	down := false
	for {
		err := r.session(ctx, handle, func() {
			if down {
				r.logger.Info("event stream restored")
			}
			fails, down = 0, false
		})
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, celery.ErrClosed) {
			return err
		}
		if !down {
			r.logger.Warn("event stream lost; resubscribing", "error", err)
			down = true
		}
		t := time.NewTimer(r.backoff.Delay(fails))
		fails++
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (r *Receiver) session(ctx context.Context, handle func(Typed), up func()) error {
	return r.broker.Subscribe(ctx, Exchange, r.pattern, func() {
		up()
		if r.onReady != nil {
			r.onReady(ctx)
		}
	}, func(body []byte) {
		evs, err := Decode(body)
		if err != nil {
			r.logger.Warn("undecodable event", "error", err)
			return
		}
		now := float64(time.Now().UnixMicro()) / 1e6
		for _, e := range evs {
			if e.Type() == TaskSent {
				// A number as the decoder gives them, so Parse takes it.
				e["clock"] = json.Number(strconv.FormatInt(r.clock.Forward(), 10))
			} else if c, ok := e.Int("clock"); ok {
				r.clock.Adjust(c)
			}
			e["local_received"] = now
			t, err := Parse(e)
			if err != nil {
				r.logger.Warn("malformed event", "type", e.Type(), "hostname", e.Hostname(), "error", err)
			}
			handle(t)
		}
	})
}

// Decode parses an event message (a kombu envelope whose body is one
// event object or a list of them).
func Decode(raw []byte) ([]Event, error) {
	env, err := kombu.ParseEnvelope(raw)
	if err != nil {
		return nil, err
	}
	body := env.Body
	if c, ok := env.Headers["compression"].(string); ok && c != "" {
		if body, err = kombu.Decompress(c, body); err != nil {
			return nil, err
		}
	}
	// Any safe serializer (event_serializer): JSON, msgpack or YAML.
	v, err := codec.Decode(env.ContentType, body)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case map[string]any:
		return []Event{x}, nil
	case []any:
		out := make([]Event, 0, len(x))
		for _, item := range x {
			if m, ok := item.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out, nil
	}
	return nil, errors.New("events: body is neither an object nor a list")
}
