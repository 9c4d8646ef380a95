package kombu

import (
	"strconv"
	"strings"
	"time"
)

// Sep separates the parts of a binding member and a queue from its
// priority suffix (kombu redis.py `Channel.sep`; docs/wire.md#key-names).
const Sep = "\x06\x16"

// Default names used by Celery and kombu on Redis (docs/wire.md#key-names).
const (
	// DefaultQueue is the list that tasks go to when no queue is named
	// (celery `task_default_queue`).
	DefaultQueue = "celery"
	// BindingPrefix prefixes the set of bindings of an exchange
	// (redis.py `Channel.keyprefix_queue`).
	BindingPrefix = "_kombu.binding."
	// UnackedKey is the hash delivery_tag → JSON [envelope, exchange,
	// routing_key] of delivered but unacknowledged messages (redis.py `QoS`).
	UnackedKey = "unacked"
	// UnackedIndexKey is the zset delivery_tag scored by the unix time of
	// delivery, scanned by the visibility-timeout sweep.
	UnackedIndexKey = "unacked_index"
	// UnackedMutexKey is the string lock that serialises restore sweeps.
	UnackedMutexKey = "unacked_mutex"
	// ResultKeyPrefix prefixes a task's result meta (string, JSON) and the
	// pub/sub channel of the same name (celery backends/base.py
	// `KeyValueStoreBackend.task_keyprefix`).
	ResultKeyPrefix = "celery-task-meta-"
	// GroupKeyPrefix prefixes saved group results and chord counters.
	GroupKeyPrefix = "celery-taskset-meta-"
	// EventExchange is the exchange events are published to (fanout on Redis).
	EventExchange = "celeryev"
	// PidboxExchange is the remote-control broadcast exchange.
	PidboxExchange = "celery.pidbox"
	// ReplyExchange is the remote-control reply exchange.
	ReplyExchange = "reply.celery.pidbox"
)

// Defaults of kombu's Redis transport options (redis.py `Channel`).
const (
	DefaultVisibilityTimeout  = 3600 // seconds
	DefaultUnackedMutexExpire = 300  // seconds
	DefaultBRPOPTimeout       = 1    // seconds (`brpop_timeout`)
)

// DefaultPrioritySteps returns kombu's default priority steps [0, 3, 6, 9]
// (redis.py `PRIORITY_STEPS`). A new slice is returned on every call.
func DefaultPrioritySteps() []int { return []int{0, 3, 6, 9} }

// PriorityStep maps a message priority to its bucket: the largest step not
// above the priority, after clamping it to 0..9 (redis.py `Channel.priority`).
// steps must be sorted ascending and start at 0.
func PriorityStep(priority int, steps []int) int {
	priority = max(0, min(priority, 9))
	step := 0
	for _, s := range steps {
		if s <= priority {
			step = s
		}
	}
	return step
}

// QueueKey returns the list key of queue's priority bucket step: the bare
// queue name for step 0, else queue+Sep+step (redis.py `Channel._q_for_pri`).
func QueueKey(queue string, step int) string {
	if step == 0 {
		return queue
	}
	return queue + Sep + strconv.Itoa(step)
}

// QueueFromKey strips a priority suffix from a list key popped by BRPOP.
func QueueFromKey(key string) string {
	if i := strings.LastIndex(key, Sep); i >= 0 {
		return key[:i]
	}
	return key
}

// BindingKey returns the set holding exchange's bindings.
func BindingKey(exchange string) string { return BindingPrefix + exchange }

// PermanentBindingPrefix prefixes the set of an exchange's bindings that
// belong to queues without x-expires. kombu 5.7 adds every such binding to
// it next to BindingPrefix, and its binding sweep (redis.py
// `sweep_bindings`) keeps an exchange's table while this set exists.
const PermanentBindingPrefix = "_kombu.binding_permanent."

// PermanentBindingKey returns the set of exchange's permanent bindings.
func PermanentBindingKey(exchange string) string { return PermanentBindingPrefix + exchange }

// BindingDeadlinesKey is the sorted set of exchanges scored by the time
// (Unix ms, Redis clock) after which kombu 5.7's sweep may delete their
// binding table (redis.py `Channel.keyprefix_binding_deadlines`;
// docs/wire.md#binding-tables).
const BindingDeadlinesKey = "_kombu.binding_deadlines"

// ControlQueueExpires is the x-expires of remote-control node and reply
// queues (celery `control_queue_expires`, 10 s; celery/app/control.py
// `Control.__init__`).
const ControlQueueExpires = 10 * time.Second

// minBindingTTL is the shortest deadline kombu gives a binding table
// (redis.py `MIN_BINDING_TTL`, one hour).
const minBindingTTL = time.Hour

// BindingTTL returns how far ahead a binding of a queue expiring after
// expires pushes its exchange's deadline: max(2 × expires, 1 h)
// (redis.py `Channel._binding_ttl`). A consumer refreshes it every third
// of that (`Channel.maybe_refresh_binding_expiry`).
func BindingTTL(expires time.Duration) time.Duration {
	return max(2*expires, minBindingTTL)
}

// BindingMember returns a binding set member: routing_key SEP pattern SEP
// queue (redis.py `Channel._queue_bind`).
func BindingMember(routingKey, pattern, queue string) string {
	return routingKey + Sep + pattern + Sep + queue
}

// ParseBindingMember splits a binding set member into its three parts.
func ParseBindingMember(member string) (routingKey, pattern, queue string, ok bool) {
	parts := strings.Split(member, Sep)
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// ResultKey returns the key (and pub/sub channel) of a task's result.
func ResultKey(taskID string) string { return ResultKeyPrefix + taskID }

// GroupKey returns the key of a saved group result.
func GroupKey(groupID string) string { return GroupKeyPrefix + groupID }

// FanoutChannel returns the pub/sub channel for a fanout exchange:
// "/{db}.exchange" plus "/routing.key" when the routing key is not empty
// (redis.py `Channel._get_publish_topic`; docs/wire.md#fanout-channels).
func FanoutChannel(db int, exchange, routingKey string) string {
	ch := "/" + strconv.Itoa(db) + "." + exchange
	if routingKey != "" {
		ch += "/" + routingKey
	}
	return ch
}
