"""Python Celery remote control, for the Go integration tests.

    inspect METHOD [--args JSON] [--destination N ...] [--timeout F]
        -> {node: reply} (app.control.inspect()._request(METHOD, **args))
    call METHOD [--args JSON] [--destination N ...] [--timeout F]
        -> [{node: reply}, ...] (app.control.broadcast(..., reply=True))
    ping [--destination N ...] [--timeout F] -> [{node: {"ok": "pong"}}]
    revoke ID [ID ...] [--terminate] [--signal S] -> {"ok": true}
    sweep-bindings -> {"swept": N} (kombu's Channel.sweep_bindings, as a
        Python consumer runs it every minute)

Every subcommand prints one JSON document on stdout.
"""

import argparse
import json
import sys

from kombu.utils import json as kjson

from tasks import app


def out(obj):
    sys.stdout.write(kjson.dumps(obj))
    sys.stdout.write("\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("inspect", "call"):
        s = sub.add_parser(name)
        s.add_argument("method")
        s.add_argument("--args", default="{}")
        s.add_argument("--destination", nargs="*")
        s.add_argument("--timeout", type=float, default=1.0)
    s = sub.add_parser("ping")
    s.add_argument("--destination", nargs="*")
    s.add_argument("--timeout", type=float, default=1.0)
    s = sub.add_parser("revoke")
    s.add_argument("ids", nargs="+")
    s.add_argument("--terminate", action="store_true")
    s.add_argument("--signal", default="SIGTERM")
    sub.add_parser("sweep-bindings")
    a = p.parse_args()

    if a.cmd == "inspect":
        insp = app.control.inspect(destination=a.destination or None, timeout=a.timeout)
        out(insp._request(a.method, **json.loads(a.args)))
    elif a.cmd == "call":
        out(app.control.broadcast(a.method, arguments=json.loads(a.args), reply=True,
                                  destination=a.destination or None, timeout=a.timeout))
    elif a.cmd == "ping":
        out(app.control.ping(destination=a.destination or None, timeout=a.timeout))
    elif a.cmd == "revoke":
        ids = a.ids if len(a.ids) > 1 else a.ids[0]
        app.control.revoke(ids, terminate=a.terminate, signal=a.signal)
        out({"ok": True})
    elif a.cmd == "sweep-bindings":
        with app.connection_for_write() as conn:
            out({"swept": conn.default_channel.sweep_bindings()})


if __name__ == "__main__":
    main()
