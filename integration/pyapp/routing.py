"""Routing and events helpers for the Go integration tests.

Routing comes from tasks.py's environment (CELERIAC_TASK_ROUTES,
CELERIAC_TASK_QUEUES). Every subcommand prints JSON on stdout.

    send NAME [--args JSON] [--direct NODE] [--declare-exchanges]
        app.send_task through task_routes, or to NODE's worker_direct
        queue, having declared task_queues' exchanges -> {"id": ...}
    events --hostname NODE [--timeout F]
        prints {"ready": true} once listening, then receives events
        (accepting event_serializer and json) until a task-succeeded
        from NODE -> {"events": [{"type", "hostname"}, ...]}
"""

import argparse
import json
import sys
import time

from celery.utils.nodenames import worker_direct

from tasks import app


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def cmd_send(a):
    opts = {}
    if a.direct:
        opts["queue"] = worker_direct(a.direct)
    with app.producer_or_acquire() as producer:
        if a.declare_exchanges:
            # kombu's Redis channel knows an exchange's type only once this
            # process declared it; Celery does not declare a Broadcast
            # queue's exchange when it sends, so without this the fanout
            # exchange is taken for a direct one and the message is lost.
            for q in app.amqp.queues.values():
                q.exchange(producer.channel).declare()
        res = app.send_task(a.name, args=json.loads(a.args), producer=producer, **opts)
    out({"id": res.id})


def cmd_events(a):
    seen = []
    deadline = time.monotonic() + a.timeout

    def on_event(ev):
        seen.append({"type": ev.get("type"), "hostname": ev.get("hostname")})
        if ev.get("type") == "task-succeeded" and ev.get("hostname") == a.hostname:
            raise KeyboardInterrupt

    with app.connection() as conn:
        recv = app.events.Receiver(conn, handlers={"*": on_event})
        out({"ready": True})
        try:
            while time.monotonic() < deadline:
                try:
                    recv.capture(limit=None, timeout=1, wakeup=False)
                except TimeoutError:
                    pass
                except OSError as exc:  # socket.timeout
                    if "timed out" not in str(exc):
                        raise
        except KeyboardInterrupt:
            pass
    out({"events": seen})


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("send")
    s.add_argument("name")
    s.add_argument("--args", default="[]")
    s.add_argument("--direct")
    s.add_argument("--declare-exchanges", action="store_true",
                   help="declare the exchanges of task_queues first")
    s.set_defaults(func=cmd_send)
    s = sub.add_parser("events")
    s.add_argument("--hostname", required=True)
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(func=cmd_events)
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
