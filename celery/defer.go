package celery

import (
	"context"
	"time"
)

// Deferral asks the transport not to give Delivery back to its queue
// before Until plus the visibility timeout: the holder keeps the message
// until Until (an ETA, a rate limit) and runs it then.
type Deferral struct {
	Delivery *Delivery
	Until    time.Time
}

// Deferrer is implemented by a transport whose unacknowledged messages
// come back after a visibility timeout (Redis): a worker holding a
// message for its ETA tells it so, and the message is not restored (and
// run again) while its holder lives, only when the holder died and Until
// plus the visibility timeout passed. It is optional (a transport with
// native acknowledgements has no visibility timeout); callers type-assert.
type Deferrer interface {
	// Defer reschedules the deliveries' visibility; a delivery already
	// acknowledged, restored or never recorded is skipped.
	Defer(ctx context.Context, ds ...Deferral) error
}
