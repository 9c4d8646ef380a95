package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/internal/rconn"
)

// errNoReply is returned by a command that must not be answered
// (shutdown: Celery raises SystemExit before replying).
var errNoReply = errors.New("no reply")

// pidboxLoop is the worker's remote-control node (kombu/pidbox.py Node,
// celery/worker/pidbox.py): it PSUBSCRIBEs /{db}.celery.pidbox, dispatches
// commands addressed to this node and LPUSHes replies to the requester's
// reply queue. ready is closed after the first subscription. A lost
// connection is resubscribed with backoff; there is no polling.
func (w *Worker) pidboxLoop(ctx context.Context, ready chan struct{}) {
	var backoff rconn.Backoff
	conn := &rconn.State{Name: "remote control", Logger: w.o.logger}
	fails := 0
	readyOnce := false
	for {
		err := w.pidboxSession(ctx, func() {
			fails = 0
			conn.Up()
			if !readyOnce {
				readyOnce = true
				close(ready)
			}
		})
		if ctx.Err() != nil {
			return
		}
		conn.Lost(err) // one line per outage, not one per retry
		t := time.NewTimer(backoff.Delay(fails))
		fails++
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// pidboxSession binds the node's queue and listens until ctx ends or the
// connection fails, re-declaring the binding every third of its
// deadline meanwhile, as kombu's consumers do (redis.py
// `Channel.maybe_refresh_binding_expiry`), so that a Python consumer's
// sweep never deletes the table (docs/wire.md#binding-tables).
func (w *Worker) pidboxSession(ctx context.Context, up func()) error {
	// Fanout ignores the binding's routing, but kombu 5.7 keeps
	// _kombu.binding.celery.pidbox only while a consumer refreshes it.
	queue := w.o.hostname + "." + kombu.PidboxExchange
	declare := func(ctx context.Context) error {
		return w.broker.DeclareBinding(ctx, kombu.PidboxExchange, "", queue, kombu.ControlQueueExpires)
	}
	if err := declare(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		refreshBinding(sctx, kombu.BindingTTL(kombu.ControlQueueExpires)/3, declare, w.o.logger)
	}()
	err := w.broker.Subscribe(ctx, kombu.PidboxExchange, "", up, func(body []byte) { w.handleControl(ctx, body) })
	cancel()
	<-refreshed
	return err
}

// refreshBinding calls declare every interval until ctx ends. A failure
// is logged and retried at the next tick (the deadline it refreshes is
// an hour or more away).
func refreshBinding(ctx context.Context, every time.Duration, declare func(context.Context) error, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := declare(ctx); err != nil && ctx.Err() == nil {
				logger.Warn("remote control: refresh binding", "error", err)
			}
		}
	}
}

// controlRequest is a decoded pidbox message.
type controlRequest struct {
	method    string
	args      map[string]any
	ticket    string
	replyTo   map[string]any
	clock     int
	hasClock  bool
	forUs     bool
	replyWant bool
}

func (w *Worker) parseControl(raw []byte) (*controlRequest, error) {
	env, err := kombu.ParseEnvelope(raw)
	if err != nil {
		return nil, err
	}
	v, err := pyjson.Decode(env.Body)
	if err != nil {
		return nil, err
	}
	body, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("body is not an object")
	}
	req := &controlRequest{}
	req.method, _ = body["method"].(string)
	req.args, _ = body["arguments"].(map[string]any)
	if req.args == nil {
		req.args = map[string]any{}
	}
	req.ticket, _ = body["ticket"].(string)
	req.replyTo, _ = body["reply_to"].(map[string]any)
	req.replyWant = req.replyTo != nil
	req.clock, req.hasClock = kombu.AsInt(env.Headers["clock"])
	req.forUs = w.addressed(body)
	return req, nil
}

// addressed applies kombu's Node.handle_message destination rules.
func (w *Worker) addressed(body map[string]any) bool {
	if dest, ok := body["destination"].([]any); ok && len(dest) > 0 {
		return slices.ContainsFunc(dest, func(d any) bool { s, _ := d.(string); return s == w.o.hostname })
	}
	if dest, ok := body["destination"].(string); ok && dest != "" {
		return dest == w.o.hostname
	}
	pattern, _ := body["pattern"].(string)
	matcher, _ := body["matcher"].(string)
	if pattern != "" && matcher != "" {
		switch matcher {
		case "pcre":
			re, err := regexp.Compile(pattern)
			return err == nil && re.FindStringIndex(w.o.hostname) != nil && re.FindStringIndex(w.o.hostname)[0] == 0
		default: // glob (fnmatch)
			ok, _ := path.Match(pattern, w.o.hostname)
			return ok
		}
	}
	return true
}

func (w *Worker) handleControl(ctx context.Context, raw []byte) {
	req, err := w.parseControl(raw)
	if err != nil {
		w.o.logger.Warn("remote control: bad message", "error", err)
		return
	}
	if !req.forUs {
		return
	}
	if req.hasClock {
		w.clock.Adjust(int64(req.clock))
	}
	w.o.logger.Debug("remote control", "method", req.method, "arguments", req.args)
	reply, err := w.dispatchControl(ctx, req.method, req.args)
	if errors.Is(err, errNoReply) {
		return
	}
	if err != nil {
		reply = control.Failed(err.Error())
	}
	if !req.replyWant {
		return
	}
	rk, _ := req.replyTo["routing_key"].(string)
	ex, _ := req.replyTo["exchange"].(string)
	if ex == "" {
		ex = kombu.ReplyExchange
	}
	if err := w.reply(ctx, ex, rk, req.ticket, map[string]any{w.o.hostname: reply}); err != nil {
		w.o.logger.Warn("remote control: reply failed", "method", req.method, "error", err)
	}
}

// reply sends body to the requester through the reply exchange
// (Broker.PublishReply: kombu Node.reply → Mailbox._publish_reply). No
// binding: dropped, as kombu.
func (w *Worker) reply(ctx context.Context, exchange, rk, ticket string, body any) error {
	raw, err := pyjson.Encode(body)
	if err != nil {
		// A value JSON cannot carry: answer with its repr instead.
		raw, err = pyjson.Encode(map[string]any{w.o.hostname: map[string]any{"error": "EncodeError(" + pyjson.PyRepr(err.Error()) + ")"}})
		if err != nil {
			return err
		}
	}
	env := kombu.Envelope{
		Body: raw, ContentType: "application/json", ContentEncoding: "utf-8",
		Headers: map[string]any{"ticket": ticket, "clock": w.clock.Forward()},
		Properties: kombu.Properties{
			DeliveryMode: 1, BodyEncoding: "base64", DeliveryTag: uuid.NewString(),
			DeliveryInfo: kombu.DeliveryInfo{Exchange: exchange, RoutingKey: rk},
		},
	}
	msg, err := env.Append(nil)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return w.broker.PublishReply(cctx, exchange, rk, msg)
}
