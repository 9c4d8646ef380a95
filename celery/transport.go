package celery

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// This file is the seam between celeriac and a broker or a result
// backend: small interfaces, composed into Transport and ResultBackend.
// celery/redis implements them on Redis (kombu's Redis transport,
// Celery's Redis result backend); the worker, the client, remote control,
// events and beat use them. They follow kombu's Transport/Channel
// (publish to an exchange with a routing key, consume with a prefetch
// window, ack/reject/requeue, fanout exchanges, queue declaration), so a
// transport with native acknowledgements and exchanges (AMQP) fits
// behind them as well as Redis' emulation of them.

// Publisher sends task messages to a queue, or through an exchange to
// the queues bound to it.
type Publisher interface {
	// PublishOne sends one message, sharing a round trip with concurrent
	// callers.
	PublishOne(ctx context.Context, pub Publishing) error
	// PublishBatch sends several messages at once, all or none.
	PublishBatch(ctx context.Context, pubs []Publishing) error
}

// Broadcaster sends to and listens on fanout exchanges (remote control,
// events): a message reaches whoever listens at that moment.
type Broadcaster interface {
	// Broadcast publishes msgs to exchange.
	Broadcast(ctx context.Context, exchange string, msgs ...BroadcastMessage) error
	// Subscribe delivers the bodies of exchange's messages whose routing
	// key matches pattern to handle, until ctx ends (nil) or the
	// connection fails (its error); ready is called once listening.
	Subscribe(ctx context.Context, exchange, pattern string, ready func(), handle func(body []byte)) error
}

// Mailbox is what remote control needs beyond Broadcaster: reply queues
// bound to the reply exchange, replies sent to them and collected
// (kombu's pidbox Mailbox).
type Mailbox interface {
	Broadcaster
	// DeclareBinding binds queue to exchange with routingKey; expires is
	// the queue's x-expires (0: none). A consumer of an expiring queue
	// declares it again every third of kombu.BindingTTL(expires) while
	// it consumes, as kombu does, or the binding may be swept.
	DeclareBinding(ctx context.Context, exchange, routingKey, queue string, expires time.Duration) error
	// DeleteQueue unbinds queue and drops what is left in it.
	DeleteQueue(ctx context.Context, queue, exchange, routingKey string) error
	// PublishReply sends a reply to the queues bound to exchange with
	// exactly routingKey.
	PublishReply(ctx context.Context, exchange, routingKey string, body []byte) error
	// Pop takes one message from queue without acknowledgement, waiting
	// up to wait; nil when none came.
	Pop(ctx context.Context, queue string, wait time.Duration) ([]byte, error)
}

// BroadcastConsumer is implemented by a transport whose fanout
// exchanges deliver to real queues (AMQP): a consumer of a kombu
// Broadcast queue declares a queue of its own (queue, "bcast.<uuid>"),
// deleted once it stops consuming, bound to the spec's exchange, and
// consumes it. The others (Redis) Subscribe to the exchange instead.
type BroadcastConsumer interface {
	// ConsumeBroadcast hands the bodies of q's messages to handle until
	// ctx ends (nil) or the connection fails (its error); ready is
	// called once consuming.
	ConsumeBroadcast(ctx context.Context, q QueueSpec, queue string, ready func(), handle func(body []byte)) error
}

// Receiver takes deliveries from a set of queues (one consuming
// goroutine; see Consumer). A delivery stays unacknowledged until a
// Settler acknowledges, rejects or requeues it.
type Receiver interface {
	// ReceiveBatch blocks until at least one message arrives (or ctx
	// ends) and returns up to max of them: the prefetch window's room.
	ReceiveBatch(ctx context.Context, max int) ([]*Delivery, error)
	// Wake makes a blocked ReceiveBatch look at its context now; safe
	// from any goroutine.
	Wake(ctx context.Context) error
	Queues() []string
	SetQueues(queues []string)
	// SetMaxMessageSize bounds a message's size (0: none); a longer one
	// comes as a delivery whose Err wraps ErrMessageTooLarge.
	SetMaxMessageSize(n int)
	Close() error
}

// Preparer is implemented by a Receiver that can declare its queues and
// open its consumer before the first ReceiveBatch (AMQP), so that a worker
// reports ready only once the queues it consumes exist.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Settler ends deliveries. Each method keeps the transport's own
// ordering (Redis: an ack never overtakes the delivery's record in
// unacked), so callers never settle by hand.
type Settler interface {
	// Ack acknowledges deliveries; one the transport gave back to its
	// queue already is reported with ErrNotRecorded.
	Ack(ctx context.Context, ds ...*Delivery) error
	// Reject drops a delivery, or with requeue puts it at the back of
	// its queue.
	Reject(ctx context.Context, d *Delivery, requeue bool) error
	// Requeue puts deliveries back at the front of their queues, the
	// first one served first, and returns how many it put back.
	Requeue(ctx context.Context, ds ...*Delivery) (int, error)
	// RestoreVisible puts back the deliveries of dead consumers (Redis'
	// visibility timeout; a transport with native acks has none: 0).
	RestoreVisible(ctx context.Context) (int, error)
}

// QueueAdmin inspects and empties queues.
type QueueAdmin interface {
	// ValidateQueue refuses a name that cannot be a queue.
	ValidateQueue(name string) error
	// QueueLength returns the number of messages waiting in queue.
	QueueLength(ctx context.Context, queue string) (int, error)
	// Purge deletes the messages waiting in queue and returns how many.
	Purge(ctx context.Context, queue string) (int, error)
}

// Transport is a broker: everything the worker, the client, remote
// control and events need of it (celery/redis.Broker on Redis).
type Transport interface {
	Publisher
	Mailbox
	Settler
	QueueAdmin
	// Consume returns a receiver of queues.
	Consume(queues ...string) Receiver
	// Info describes the connection, as remote control's stats report it.
	Info() BrokerInfo
	// Reconnects counts the consumer connections restored after a loss.
	Reconnects() int64
	// Ping checks that the broker answers.
	Ping(ctx context.Context) error
	Close() error
}

// BrokerInfo describes a transport's connection as kombu's
// Connection.info() does (remote control's stats show it).
type BrokerInfo struct {
	// Transport is kombu's name for it: "redis", "redis+socket", "amqp".
	Transport string
	Hostname  string
	Port      int
	// UserID is the user name, "" when none.
	UserID string
	// VirtualHost names the broker's namespace (Redis: the database
	// number).
	VirtualHost string
	SSL         bool
}

// ChordBackend keeps the state of chords and saved groups.
type ChordBackend interface {
	// SetChordSize records the number of header tasks of chord gid.
	SetChordSize(ctx context.Context, gid string, n int) error
	// ChordPartReturn records a header task's outcome; it returns a
	// claim when this was the last one (the caller applies the body).
	ChordPartReturn(ctx context.Context, gid string, index *int, taskID string, state State, result any) (*ChordClaim, error)
	// SaveGroup stores the member ids of group id (GroupResult.save).
	SaveGroup(ctx context.Context, id string, taskIDs []string) error
	// GroupMembers returns the member ids saved for group id
	// (ErrGroupNotFound when none are).
	GroupMembers(ctx context.Context, id string) ([]string, error)
}

// ResultBackend stores and reads task results (celery/redis.Backend on
// Redis).
type ResultBackend interface {
	// Store writes meta unless a SUCCESS is stored already; it reports
	// whether it wrote it.
	Store(ctx context.Context, meta *ResultMeta) (bool, error)
	// EncodeMeta encodes meta as Store writes it (the backend's result
	// serializer and compression), so that a caller can turn a value that
	// cannot be encoded into a FAILURE before storing.
	EncodeMeta(meta *ResultMeta) ([]byte, error)
	// StoreRaw is Store for an encoded meta.
	StoreRaw(ctx context.Context, taskID string, state State, raw []byte) (bool, error)
	// GetMax returns the stored meta (PENDING when none), at most limit
	// bytes of it (0: no limit; over it, a *ResultTooLargeError).
	GetMax(ctx context.Context, taskID string, limit int) (*ResultMeta, error)
	// WatchMax waits for a ready state, calling onState (when not nil)
	// with each state on the way, with GetMax's limit.
	WatchMax(ctx context.Context, taskID string, limit int, onState func(*ResultMeta)) (*ResultMeta, error)
	// Forget deletes a task's result.
	Forget(ctx context.Context, taskID string) error
	ChordBackend
	Close() error
}

// ErrLockLost is returned by a beat store's Record when the caller's
// token is no longer the lock's: another instance leads now.
var ErrLockLost = errors.New("celery: lock token no longer current")

// ErrClosed is returned by operations on a closed Broker, Backend or Client.
var ErrClosed = errors.New("celery: closed")

// Publishing is one message ready to be pushed.
type Publishing struct {
	// Queue is the destination queue (anon exchange routing: exchange "",
	// routing key = queue). When Exchange is set, the message is routed
	// through the exchange's bindings with RoutingKey instead.
	Queue    string
	Exchange string
	// ExchangeType is the exchange's type: "" or ExchangeDirect (the
	// bindings whose key equals RoutingKey), ExchangeTopic (the bindings
	// whose pattern matches it) or ExchangeFanout (every consumer of the
	// exchange's broadcast queues listening at the moment).
	ExchangeType string
	RoutingKey   string
	Priority     int
	// Body is the envelope JSON.
	Body []byte
}

// ErrNotAQueue is wrapped by a publish error when the queue's key exists
// and holds something other than a list: Redis refuses the LPUSH, and the
// key is left as it was.
var ErrNotAQueue = errors.New("not a queue")

// ResultTooLargeError is returned by GetMax and WatchMax for a stored
// result larger than the caller's bound.
type ResultTooLargeError struct {
	TaskID string
	Size   int // bytes stored
	Limit  int
}

func (e *ResultTooLargeError) Error() string {
	return fmt.Sprintf("celery: result of %s is %d bytes, over the limit of %d", e.TaskID, e.Size, e.Limit)
}

// BroadcastMessage is one message for a fanout exchange (remote control,
// events): every subscriber listening at the moment gets it, nobody else.
type BroadcastMessage struct {
	RoutingKey string
	// Body is the envelope JSON.
	Body []byte
}
