package worker

import (
	"fmt"

	"github.com/celeriac/celeriac/celery"
	"github.com/celeriac/celeriac/internal/codec"
	"github.com/celeriac/celeriac/internal/kombu"
)

// WithAcceptContent sets accept_content: the content types (or serializer
// names: "json", "msgpack", "yaml") of task messages the worker takes.
// Others are rejected with kombu's ContentDisallowed, as a Python worker
// does. Default JSON only, Celery's default. pickle is never accepted;
// see celery.ParseAccept, which the caller uses to check a list first
// (an invalid list leaves the default).
func WithAcceptContent(names ...string) Option {
	return func(o *options) {
		if a, err := celery.ParseAccept(names); err == nil {
			o.accept = a
		}
	}
}

// WithSecurity verifies signed task messages (Celery's "auth"
// serializer, package celery/security) with the trusted certificates of
// v; list "auth" in WithAcceptContent too (Celery requires accept_content
// to be ["auth"] alone). A message whose signature does not verify is
// rejected with a FAILURE celery.exceptions.SecurityError. Default none.
//
// s, when not nil, signs the messages the worker publishes (retries,
// callbacks, chain steps), as a Celery worker signs with security_key;
// without it they go unsigned, and workers accepting only "auth" refuse
// them.
func WithSecurity(v celery.BodyVerifier, s celery.BodySigner) Option {
	return func(o *options) { o.verifier, o.signer = v, s }
}

// decodeOptions is what the worker accepts of a task message body.
func (w *Worker) decodeOptions() celery.DecodeOptions {
	return celery.DecodeOptions{Accept: w.o.accept, MaxSize: w.o.maxMessageSize, Verifier: w.o.verifier}
}

// decodeControl decodes a remote-control request body: the pidbox takes
// what accept_content allows, as kombu's Mailbox does (a Python fleet
// whose task_serializer is msgpack sends its control commands in msgpack).
func decodeControl(accept codec.Accept, env *kombu.Envelope) (any, error) {
	if !accept.Allows(env.ContentType) {
		return nil, fmt.Errorf("content type %q not accepted (accepted: %v)", env.ContentType, accept.Names())
	}
	return codec.Decode(env.ContentType, env.Body)
}

// replyContentType is the content type of a control reply: the request's,
// which its sender can read, JSON for anything else.
func replyContentType(requestType string) string {
	switch requestType {
	case codec.Msgpack, codec.YAML:
		return requestType
	}
	return codec.JSON
}
