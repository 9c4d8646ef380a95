// Package control is Celery's remote-control client (celery/app/control.py
// over kombu's pidbox, docs/wire.md#remote-control): it broadcasts commands such as ping,
// stats, revoke or rate_limit to Go and Python workers and collects their
// replies.
//
// A request is published on the fanout channel /{db}.celery.pidbox. When
// replies are wanted, the broadcast first binds a fresh reply queue
// <oid>.reply.celery.pidbox in _kombu.binding.reply.celery.pidbox, then
// BRPOPs it until the expected number of replies arrived or the timeout
// passed, and finally removes the binding and the reply lists. Replies
// carrying another ticket are ignored.
//
// Replies are typed: Ping, Report and the commands that answer ok/error
// (RateLimit, PoolGrow, ...) return a Status per node; Stats a Stats;
// Active, Reserved and Scheduled the TaskInfo of each request; Registered
// and Revoked lists of names and ids; ActiveQueues a QueueInfo per queue.
// The types have Celery's keys, so a Python and a Go worker's replies
// decode alike; a node that answers an error or a reply of another shape
// is reported as a *NodeError joined into the returned error, beside the
// nodes that answered well. Inspect and Call return the replies as decoded
// from the wire (node name → value, as Inspect._prepare in Python does),
// for custom commands; Broadcast returns every reply in order.
package control
