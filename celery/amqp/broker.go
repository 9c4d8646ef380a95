// Package amqp is celeriac's AMQP 0-9-1 transport (RabbitMQ): the
// celery.Transport seam over github.com/rabbitmq/amqp091-go, declaring
// and publishing as kombu's py-amqp transport does, so that Python Celery
// workers and clients share its queues (docs/wire.md#amqp).
//
// The rest of celeriac speaks kombu's JSON envelope (the shape a message
// has on Redis); this package converts at its edge: a published
// envelope becomes an AMQP message (body, content type and encoding,
// headers, properties), and a delivered AMQP message becomes an envelope
// again, its delivery tag and redelivered flag included.
//
// One connection carries every channel: one for publishing (in confirm
// mode), one per consumer, per subscription and per reply queue, and a
// short-lived one for each declaration or queue query (a refused
// declaration closes its channel). A lost connection is dialed again on
// next use; consumers reconnect with back-off and log one line when the
// connection is lost and one when it is back. RabbitMQ redelivers what a
// lost channel left unacknowledged, so nothing is lost.
package amqp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/reconnect"
	"github.com/celeriac/celeriac/internal/redact"
)

var _ celery.Transport = (*Broker)(nil)

// Option configures NewBroker.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	prefetch int
	backoff  reconnect.Backoff
	tls      *tls.Config
	queues   QueueDefaults
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithPrefetch sets each consumer's basic.qos prefetch count (Celery's
// concurrency × worker_prefetch_multiplier); 0, the default, is no limit.
func WithPrefetch(n int) Option { return func(o *options) { o.prefetch = max(0, n) } }

// WithTLS sets the TLS configuration of amqps:// URLs instead of the
// one their ssl_ options describe (see ParseURL).
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// Schemes are the URL schemes of this transport (kombu's aliases:
// pyamqp is py-amqp, amqp its default name, amqps with TLS).
var Schemes = []string{"amqp", "pyamqp", "amqps"}

// ErrPreconditionFailed is wrapped by the error of a declaration that
// RabbitMQ refused because the queue or exchange exists with other
// arguments (PRECONDITION_FAILED): retrying cannot help; the operator
// deletes the queue or changes the configuration.
var ErrPreconditionFailed = errors.New("amqp: declared with different arguments than the existing one")

// Broker is the AMQP transport. It is safe for concurrent use.
type Broker struct {
	alternatives []*Endpoint // every URL, the first one first (failover)
	url          string      // for logs, password masked
	o            options
	state        reconnect.State

	mu       sync.Mutex
	conn     *amqp.Connection
	dialed   bool                        // a connection was made once (a later one is a reconnect)
	declared map[string]bool             // entities declared on conn ("q:", "x:" + name)
	specs    map[string]celery.QueueSpec // queues declared with DeclareQueue, by name
	bound    map[string]*bind            // exchange → the queue DeclareBinding bound last with expires
	pops     map[string]*popper
	closed   bool

	pubMu sync.Mutex
	pub   *amqp.Channel // confirm mode; nil until first publish or after a loss

	reconnects atomic.Int64
}

// bind is a queue bound with DeclareBinding.
type bind struct {
	queue, routingKey string
	expires           time.Duration
}

// NewBroker returns the transport at url (amqp://, pyamqp:// or
// amqps://user:password@host:port/vhost?options, as ParseURL reads it).
// Several URLs separated by ";" are failover alternatives, tried in turn
// at each (re)connection. No connection is made until first use; a URL
// that cannot be used is an error wrapping ErrBadURL.
func NewBroker(url string, opts ...Option) (*Broker, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	alts, err := splitURLs(url)
	if err != nil {
		return nil, err
	}
	b := &Broker{alternatives: alts, url: redact.URL(url), o: o,
		declared: map[string]bool{}, specs: map[string]celery.QueueSpec{}, bound: map[string]*bind{}, pops: map[string]*popper{}}
	b.state = reconnect.State{Name: "broker", Logger: o.logger}
	return b, nil
}

// Info describes the connection (the first URL of a failover list), as
// kombu's Connection.info() does for pyamqp.
func (b *Broker) Info() celery.BrokerInfo {
	uri := b.alternatives[0].URI
	return celery.BrokerInfo{
		Transport: "amqp", Hostname: uri.Host, Port: uri.Port, UserID: uri.Username,
		VirtualHost: uri.Vhost, SSL: uri.Scheme == "amqps",
	}
}

// Reconnects counts the connections made after the first.
func (b *Broker) Reconnects() int64 { return b.reconnects.Load() }

// connection returns the open connection, dialing one when there is
// none (each failover URL in turn).
func (b *Broker) connection(ctx context.Context) (*amqp.Connection, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, celery.ErrClosed
	}
	if b.conn != nil && !b.conn.IsClosed() {
		return b.conn, nil
	}
	var err error
	for _, u := range b.alternatives {
		var c *amqp.Connection
		if c, err = b.dial(ctx, u); err == nil {
			b.conn = c
			b.declared = map[string]bool{}
			if b.dialed {
				b.reconnects.Add(1)
			}
			b.dialed = true
			b.watch(c)
			return c, nil
		}
	}
	return nil, err
}

// dial connects to ep within ctx and ep's connect timeout, with ep's
// heartbeat, login method and TLS (WithTLS's configuration instead, when
// given).
func (b *Broker) dial(ctx context.Context, ep *Endpoint) (*amqp.Connection, error) {
	cfg := amqp.Config{Properties: amqp.NewConnectionProperties(), Locale: "en_US",
		Heartbeat: ep.Heartbeat, SASL: ep.SASL, TLSClientConfig: ep.TLS}
	if ep.Heartbeat == 0 {
		// Under a second, amqp091-go takes the server's interval (zero
		// would be its own 10 s default).
		cfg.Heartbeat = time.Millisecond
	}
	if b.o.tls != nil && ep.TLS != nil {
		cfg.TLSClientConfig = b.o.tls.Clone()
	}
	cfg.Properties.SetClientConnectionName("celeriac")
	timeout := ep.ConnectTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(d)), time.Millisecond)
	}
	// The deadline covers the TCP dial and the TLS and AMQP handshakes
	// (amqp091-go clears it once the connection is open).
	cfg.Dial = amqp.DefaultDial(timeout)
	c, err := amqp.DialConfig(ep.URL, cfg)
	if err != nil {
		return nil, fmt.Errorf("amqp: connect to %s: %w", redact.URL(ep.URL), err)
	}
	return c, nil
}

// watch logs the loss of connection c once and forgets it, so that the
// next use dials again.
func (b *Broker) watch(c *amqp.Connection) {
	done := c.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		err, ok := <-done
		b.mu.Lock()
		if b.conn == c {
			b.conn = nil
		}
		closed := b.closed
		b.mu.Unlock()
		if ok && err != nil && !closed {
			// Consumers log the loss (and the recovery) once each.
			b.o.logger.Debug("broker connection closed", "broker", b.url, "error", err)
		}
	}()
}

// channel opens a channel on the connection.
func (b *Broker) channel(ctx context.Context) (*amqp.Channel, error) {
	c, err := b.connection(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := c.Channel()
	if err != nil {
		return nil, fmt.Errorf("amqp: open channel: %w", err)
	}
	return ch, nil
}

// withChannel runs f on a channel of its own, closed afterwards: a
// refused declaration or a missing queue closes the channel it was sent
// on, and nothing else must be on it.
func (b *Broker) withChannel(ctx context.Context, f func(ch *amqp.Channel) error) error {
	ch, err := b.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	return classify(f(ch))
}

// classify wraps a PRECONDITION_FAILED refusal in ErrPreconditionFailed.
func classify(err error) error {
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
		return fmt.Errorf("%w: %w", ErrPreconditionFailed, err)
	}
	return err
}

// isNotFound reports a NOT_FOUND channel error (a missing queue or
// exchange).
func isNotFound(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound
}

// Ping checks that the broker answers: a channel opened and closed.
func (b *Broker) Ping(ctx context.Context) error {
	return b.withChannel(ctx, func(*amqp.Channel) error { return nil })
}

// ValidateQueue refuses a name that cannot be a queue (celery's rules;
// AMQP's short strings end at 255 bytes, within them).
func (b *Broker) ValidateQueue(name string) error { return celery.ValidateQueue(name) }

// QueueLength returns the number of ready messages in queue (a passive
// queue.declare); a queue that does not exist holds none.
func (b *Broker) QueueLength(ctx context.Context, queue string) (int, error) {
	var n int
	err := b.withChannel(ctx, func(ch *amqp.Channel) error {
		q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
		if err != nil {
			return err
		}
		n = q.Messages
		return nil
	})
	if isNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("amqp: length of %s: %w", queue, err)
	}
	return n, nil
}

// Purge deletes the ready messages of queue and returns how many (a
// missing queue: 0).
func (b *Broker) Purge(ctx context.Context, queue string) (int, error) {
	var n int
	err := b.withChannel(ctx, func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil); err != nil {
			return err
		}
		var err error
		n, err = ch.QueuePurge(queue, false)
		return err
	})
	if isNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("amqp: purge %s: %w", queue, err)
	}
	return n, nil
}

// RestoreVisible returns 0: RabbitMQ gives a lost consumer's
// unacknowledged messages back itself.
func (b *Broker) RestoreVisible(context.Context) (int, error) { return 0, nil }

// Close closes the connection; consumers and subscriptions end.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	c := b.conn
	b.conn = nil
	pops := b.pops
	b.pops = map[string]*popper{}
	b.mu.Unlock()
	for _, p := range pops {
		p.stop()
	}
	if c != nil {
		return c.Close()
	}
	return nil
}

// IsAuthError reports whether err is RabbitMQ refusing the connection's
// credentials or virtual host, or a TLS handshake that failed on a
// certificate (the server's, or the client's that the server refused):
// retrying cannot help.
func IsAuthError(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, amqp.ErrCredentials) || errors.Is(err, amqp.ErrSASL) || errors.Is(err, amqp.ErrVhost) {
		return true
	}
	var ae *amqp.Error
	if errors.As(err, &ae) && (ae.Code == amqp.AccessRefused || ae.Code == amqp.NotAllowed) {
		return true
	}
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	var alert tls.AlertError
	if errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &cv) || errors.As(err, &alert) {
		return true
	}
	// A server that wants a client certificate may send its alert after
	// the client's side of the handshake ended (TLS 1.3): Go reports it as
	// text when the first read fails.
	s := err.Error()
	return strings.Contains(s, "tls: certificate required") || strings.Contains(s, "tls: bad certificate") ||
		strings.Contains(s, "tls: unknown certificate authority")
}

// PrioritySteps returns the one bucket a RabbitMQ queue reports (a
// priority queue orders its messages itself; its length is their sum).
func (b *Broker) PrioritySteps() []int { return []int{0} }

// QueueLengths returns QueueLength as the one bucket of PrioritySteps
// (the HTTP API's queue view).
func (b *Broker) QueueLengths(ctx context.Context, queue string) ([]int, error) {
	n, err := b.QueueLength(ctx, queue)
	if err != nil {
		return nil, err
	}
	return []int{n}, nil
}
