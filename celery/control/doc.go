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
// Inspect and the typed helpers return node name → reply, as
// Inspect._prepare in Python does; Broadcast returns every reply in order.
package control
