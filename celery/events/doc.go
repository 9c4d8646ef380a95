// Package events sends and receives Celery's monitoring events
// (docs/wire.md#events):
// worker-online, worker-heartbeat, worker-offline and the task-* events
// that Flower and `celery events` consume.
//
// Events are kombu envelopes PUBLISHed on the fanout channel
// /{db}.celeryev/<type with "-" replaced by ".">, each with the sender's
// node name in the hostname header. A Dispatcher stamps every event with
// hostname, timestamp, utcoffset (hours west of UTC), pid and a Lamport
// clock. When events queue up faster than one round trip, it sends the
// waiting task events as one list body on "task.multi", as a Python
// worker's buffered dispatcher does; receivers accept both forms.
//
// Events are Go types: TaskSentEvent, TaskReceivedEvent, ...,
// WorkerHeartbeatEvent, each with the common Header (type, hostname,
// timestamp, utcoffset, pid, clock, local_received) and Celery's field
// names, so a Python and a Go worker's events decode alike. A Dispatcher
// sends them with Emit (Send takes a map, for custom events). Parse turns
// a decoded wire map into its type (Unknown for types not modelled).
//
// A Receiver PSUBSCRIBEs /{db}.celeryev/* and hands every event, typed,
// with local_received added and the wire map kept in Header.Raw, to a
// callback; it resubscribes after a lost connection with exponential
// backoff.
package events
