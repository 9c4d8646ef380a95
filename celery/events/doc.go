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
// A Receiver PSUBSCRIBEs /{db}.celeryev/* and hands every event, with
// local_received added, to a callback; it resubscribes after a lost
// connection with exponential backoff.
package events
