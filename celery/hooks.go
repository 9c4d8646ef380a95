package celery

import "context"

// BeforePublishHook is called with each task message a Client is about
// to publish, before it is encoded (Celery's before_task_publish signal):
// it may change the message (add a header to m.Headers, say) and where it
// goes (pub's queue, exchange, routing key or priority). An error stops
// the send; SendTask returns it wrapped.
type BeforePublishHook func(ctx context.Context, m *Message, pub *Publishing) error

// WithBeforePublish calls h before every task message the client
// publishes, canvas steps included; given several times, the hooks run in
// that order. WithSentHook is the after_task_publish counterpart.
func WithBeforePublish(h BeforePublishHook) ClientOption {
	return func(o *clientOptions) { o.before = append(o.before, h) }
}
