package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/celery/control"
	"github.com/celeriac/celeriac/celery/events"
	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/kombu"
	"github.com/celeriac/celeriac/internal/pyjson"
	"github.com/celeriac/celeriac/internal/reconnect"
)

// errNoReply is returned by a command that must not be answered
// (shutdown: Celery raises SystemExit before replying).
var errNoReply = errors.New("no reply")

// pidboxNode is the worker's remote-control node (kombu/pidbox.py Node,
// celery/worker/pidbox.py): it subscribes to the pidbox broadcast
// exchange, hands commands addressed to this node to dispatch and sends
// replies to the requester's reply queue. A lost connection is
// resubscribed with backoff; there is no polling.
type pidboxNode struct {
	broker   celery.Transport
	hostname string
	log      *slog.Logger
	clock    *events.Clock
	// dispatch runs one command (Worker.dispatchControl).
	dispatch func(ctx context.Context, method string, args map[string]any) (any, error)
	accept   codec.Accept // content types of requests taken (accept_content)
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// start subscribes the node and serves commands until shutdown. It
// returns once the first subscription is made, so that a broadcast right
// after start-up is heard, or after 5 s, or when ctx ends; the node
// itself runs on after ctx ends, until shutdown.
func (n *pidboxNode) start(ctx context.Context) {
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	ready := make(chan struct{})
	n.wg.Go(func() { n.loop(nctx, ready) })
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
	}
}

// shutdown unsubscribes the node: no remote command is served after it.
func (n *pidboxNode) shutdown() {
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
}

// loop keeps the node subscribed until ctx ends; ready is closed after
// the first subscription.
func (n *pidboxNode) loop(ctx context.Context, ready chan struct{}) {
	keepSubscribed(ctx, &reconnect.State{Name: "remote control", Logger: n.log}, ready, n.session)
}

// session binds the node's queue and listens until ctx ends or the
// connection fails, re-declaring the binding every third of its deadline
// meanwhile, as kombu's consumers do (redis.py
// `Channel.maybe_refresh_binding_expiry`), so that a Python consumer's
// sweep never deletes the table (docs/wire.md#binding-tables).
func (n *pidboxNode) session(ctx context.Context, up func()) error {
	// Fanout ignores the binding's routing, but kombu 5.7 keeps
	// _kombu.binding.celery.pidbox only while a consumer refreshes it.
	queue := n.hostname + "." + kombu.PidboxExchange
	declare := func(ctx context.Context) error {
		return n.broker.DeclareBinding(ctx, kombu.PidboxExchange, "", queue, kombu.ControlQueueExpires)
	}
	if err := declare(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		n.refreshBinding(sctx, kombu.BindingTTL(kombu.ControlQueueExpires)/3, declare)
	}()
	err := n.broker.Subscribe(ctx, kombu.PidboxExchange, "", up, func(body []byte) { n.handle(ctx, body) })
	cancel()
	<-refreshed
	return err
}

// refreshBinding calls declare every interval until ctx ends. A failure
// is logged and retried at the next tick (the deadline it refreshes is
// an hour or more away).
func (n *pidboxNode) refreshBinding(ctx context.Context, every time.Duration, declare func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := declare(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("remote control: refresh binding", "error", err)
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
	// contentType is the request's; the reply uses it too.
	contentType string
}

func (n *pidboxNode) parse(raw []byte) (*controlRequest, error) {
	env, err := kombu.ParseEnvelope(raw)
	if err != nil {
		return nil, err
	}
	v, err := decodeControl(n.accept, env)
	if err != nil {
		return nil, err
	}
	body, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("body is not an object")
	}
	req := &controlRequest{contentType: env.ContentType}
	req.method, _ = body["method"].(string)
	req.args, _ = body["arguments"].(map[string]any)
	if req.args == nil {
		req.args = map[string]any{}
	}
	req.ticket, _ = body["ticket"].(string)
	req.replyTo, _ = body["reply_to"].(map[string]any)
	req.replyWant = req.replyTo != nil
	req.clock, req.hasClock = kombu.AsInt(env.Headers["clock"])
	req.forUs = n.addressed(body)
	return req, nil
}

// addressed applies kombu's Node.handle_message destination rules.
func (n *pidboxNode) addressed(body map[string]any) bool {
	if dest, ok := body["destination"].([]any); ok && len(dest) > 0 {
		return slices.ContainsFunc(dest, func(d any) bool { s, _ := d.(string); return s == n.hostname })
	}
	if dest, ok := body["destination"].(string); ok && dest != "" {
		return dest == n.hostname
	}
	pattern, _ := body["pattern"].(string)
	matcher, _ := body["matcher"].(string)
	if pattern != "" && matcher != "" {
		switch matcher {
		case "pcre":
			re, err := regexp.Compile(pattern)
			return err == nil && re.FindStringIndex(n.hostname) != nil && re.FindStringIndex(n.hostname)[0] == 0
		default: // glob (fnmatch)
			ok, _ := path.Match(pattern, n.hostname)
			return ok
		}
	}
	return true
}

func (n *pidboxNode) handle(ctx context.Context, raw []byte) {
	req, err := n.parse(raw)
	if err != nil {
		n.log.Warn("remote control: bad message", "error", err)
		return
	}
	if !req.forUs {
		return
	}
	if req.hasClock {
		n.clock.Adjust(int64(req.clock))
	}
	n.log.Debug("remote control", "method", req.method, "arguments", req.args)
	reply, err := n.dispatch(ctx, req.method, req.args)
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
	if err := n.reply(ctx, ex, rk, req.ticket, req.contentType, map[string]any{n.hostname: reply}); err != nil {
		n.log.Warn("remote control: reply failed", "method", req.method, "error", err)
	}
}

// reply sends body to the requester through the reply exchange
// (Broker.PublishReply: kombu Node.reply → Mailbox._publish_reply), in
// the request's serializer. No binding: dropped, as kombu.
func (n *pidboxNode) reply(ctx context.Context, exchange, rk, ticket, contentType string, body any) error {
	contentType = replyContentType(contentType)
	raw, err := codec.Encode(contentType, body)
	if err != nil {
		// A value the serializer cannot carry: answer with its repr instead.
		raw, err = codec.Encode(contentType, map[string]any{n.hostname: map[string]any{"error": "EncodeError(" + pyjson.PyRepr(err.Error()) + ")"}})
		if err != nil {
			return err
		}
	}
	env := kombu.Envelope{
		Body: raw, ContentType: contentType, ContentEncoding: codec.ContentEncoding(contentType),
		Headers: map[string]any{"ticket": ticket, "clock": n.clock.Forward()},
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
	return n.broker.PublishReply(cctx, exchange, rk, msg)
}
