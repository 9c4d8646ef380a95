package celery

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/celeriac/celeriac/internal/kombu"
)

// ErrInvalidQueue is wrapped by the error of ValidateQueue, and so of
// every publish, worker queue list or API request that names a queue that
// cannot be one.
var ErrInvalidQueue = errors.New("invalid queue name")

// MaxQueueNameLen is the longest queue name accepted, in bytes.
const MaxQueueNameLen = 255

// reservedPrefixes are the beginnings of keys that kombu's Redis
// transport, Celery's Redis result backend and celeriac use for something
// other than a queue: a queue of such a name would LPUSH onto them (or
// make a list of a key they create later), see docs/wire.md.
var reservedPrefixes = [...]string{
	kombu.UnackedKey,      // unacked, unacked_index, unacked_mutex
	"_kombu.",             // binding sets of every exchange
	kombu.ResultKeyPrefix, // celery-task-meta-<id>
	kombu.GroupKeyPrefix,  // celery-taskset-meta-<id> and chord keys (.j .t .s .d .c)
	"_celeriac.",          // consumers' wake-up lists
	"celeriac.beat.",      // beat's lock and last-run hash
	"celeriac:",           // celeriac's own keys (tasks.flaky's counters)
}

// reservedSuffix ends every remote-control queue: "<node>.celery.pidbox"
// (the worker's mailbox) and "<uuid>.reply.celery.pidbox" (a client's
// reply queue, which Redis holds as a list).
const reservedSuffix = "." + kombu.PidboxExchange

// ValidateQueue checks that name can be a queue: 1 to MaxQueueNameLen
// bytes of valid UTF-8 without control characters (which rules out
// kombu's separator "\x06\x16" and so every priority bucket's key,
// "<queue>\x06\x16<digit>"), and not a name that is, or could collide
// with, a key of the transport, the result backend or celeriac: see
// reservedPrefixes, and names ending in ".celery.pidbox". The error wraps
// ErrInvalidQueue and says why.
func ValidateQueue(name string) error {
	why := ""
	switch {
	case name == "":
		why = "is empty"
	case len(name) > MaxQueueNameLen:
		why = fmt.Sprintf("is %d bytes long, more than %d", len(name), MaxQueueNameLen)
	case !utf8.ValidString(name):
		why = "is not valid UTF-8"
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }):
		why = "contains a control character (kombu's key separator is one)"
	default:
		why = reserved(name)
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w: %.80q %s", ErrInvalidQueue, name, why)
}

// reserved says why name is a key of the transport, the result backend or
// celeriac, or returns "".
func reserved(name string) string {
	if strings.HasSuffix(name, reservedSuffix) || name == kombu.PidboxExchange {
		return "is a remote-control (pidbox) queue"
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return fmt.Sprintf("starts with %q, which the transport, the result backend or celeriac uses for other keys", p)
		}
	}
	return ""
}

// ValidatePrefixedQueue is ValidateQueue for a transport with a global
// key prefix: the name must also be valid once prefixed, so that it
// cannot reach the unprefixed keys of peers that share the broker
// without one.
func ValidatePrefixedQueue(prefix, name string) error {
	if err := ValidateQueue(name); err != nil {
		return err
	}
	if prefix != "" {
		if why := reserved(prefix + name); why != "" {
			return fmt.Errorf("%w: %.80q with the key prefix %q %s", ErrInvalidQueue, name, prefix, why)
		}
	}
	return nil
}
