"""rpc:// result backend helpers used by the Go integration tests.

With rpc:// only the process that sent a task receives its states, so
each subcommand sends and waits in one process. The result backend must
be rpc:// (CELERY_RESULT_BACKEND); the output is one JSON document.

    states NAME [--args JSON] [--timeout F]
        sends the task and waits with AsyncResult.get(on_message=...),
        which is called with every state message that comes back
        -> {"id", "states": ["STARTED", ..., "SUCCESS"], "state",
            "result", "exception": {"type", "module", "message", "args"}|null}
    declare
        declares this process's reply queue as Celery does before it sends
        a task, and exits without consuming it (RabbitMQ keeps it until
        x-expires, since no consumer ever came)
        -> {"queue": <oid>}
"""

import argparse
import json
import sys

from celery.exceptions import TimeoutError as CeleryTimeoutError

from client import EXIT_TIMEOUT, die, exception_info, out
from tasks import app


def cmd_states(a):
    res = app.send_task(a.name, args=json.loads(a.args))
    seen = []
    try:
        value = res.get(timeout=a.timeout, propagate=False,
                        on_message=lambda meta: seen.append(meta["status"]))
    except CeleryTimeoutError:
        die(f"no result for {res.id} after {a.timeout}s (states {seen})", EXIT_TIMEOUT)
    exc = None
    if isinstance(value, BaseException):
        exc, value = exception_info(value), None
    out({"id": res.id, "states": seen, "state": res.state, "result": value,
         "exception": exc})


def cmd_declare(_a):
    with app.connection_for_write() as conn:
        app.backend.binding(conn.default_channel).declare()
    out({"queue": app.backend.oid})


def main():
    p = argparse.ArgumentParser(prog="rpc.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("states")
    s.add_argument("name")
    s.add_argument("--args", default="[]")
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(fn=cmd_states)
    d = sub.add_parser("declare")
    d.set_defaults(fn=cmd_declare)
    a = p.parse_args()
    if not app.conf.result_backend.startswith("rpc"):
        die(f"the result backend is {app.conf.result_backend!r}, not rpc://")
    a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
