package celery

import "context"

// This file is what an rpc:// result backend needs of the rest of
// celeriac. Such a backend keeps no results anywhere: a worker sends each
// state of a task as a message to the queue the task's reply_to property
// names, with the task's correlation id, and the client that sent the task
// reads its own queue (docs/wire.md#rpc-result-backend).

// ReplyQueue is implemented by a result backend whose results come back
// on a queue of the client's own (rpc://). A Client over such a backend
// sets the reply_to property of every task it sends to ReplyTo (unless
// the caller set one) and calls DeclareReplyQueue before publishing, so
// that no reply can arrive before the queue exists.
type ReplyQueue interface {
	// ReplyTo is the name of the client's reply queue.
	ReplyTo() string
	// DeclareReplyQueue declares the reply queue (cheap once done) and
	// starts reading it.
	DeclareReplyQueue(ctx context.Context) error
}

// ChordRefuser is implemented by a result backend that cannot join
// chords (rpc://). A Client asks it before it sends any task of a chord,
// as Celery's chord asks its backend first (ensure_chords_allowed), so
// that a refused chord sends nothing.
type ChordRefuser interface {
	// EnsureChordsAllowed returns why chords cannot run (nil: they can).
	EnsureChordsAllowed() error
}

type replyKey struct{}

type replyRoute struct{ replyTo, correlationID string }

// WithReplyTo returns ctx carrying the reply_to and correlation_id
// properties of the task message being handled. A worker stores a task's
// states with such a context, so that a result backend sending results
// to the task's sender (rpc://) knows where to send them.
func WithReplyTo(ctx context.Context, replyTo, correlationID string) context.Context {
	return context.WithValue(ctx, replyKey{}, replyRoute{replyTo, correlationID})
}

// ReplyToFrom returns the reply_to and correlation_id WithReplyTo put in
// ctx ("" when none).
func ReplyToFrom(ctx context.Context) (replyTo, correlationID string) {
	r, _ := ctx.Value(replyKey{}).(replyRoute)
	return r.replyTo, r.correlationID
}
