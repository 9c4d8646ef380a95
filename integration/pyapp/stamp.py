"""Celery 5.3+ stamping from a real client, for the Go integration tests.

    stamp.py chain STAMP -> {"result": ...}: chain(add.s(1, 1), add.s(2),
        stamps.s()) stamped by a visitor with {"mystamp": STAMP}; the result
        is what the last step's message carried
    stamp.py chord STAMP, stamp.py link STAMP -> the same for a chord whose
        body is stamps.s(), and for add.s(1, 1) linked to stamps.s()
    stamp.py send NAME ARGS STAMPS [COUNTDOWN] -> {"id": ...}: NAME with
        ARGS (JSON list) stamped with STAMPS (JSON object) by a visitor
    stamp.py revoke HEADERS [--terminate] -> [{node: reply}, ...]:
        app.control.revoke_by_stamped_headers(HEADERS, reply=True)

Run with cwd = this directory (tasks.py importable).
"""

import json
import sys

from celery import chain, chord
from celery.result import AsyncResult
from celery.canvas import StampingVisitor
from kombu.utils import json as kjson

from tasks import add, app
from tasks import stamps as stamps_task

TIMEOUT = 30


class Visitor(StampingVisitor):
    def __init__(self, stamps):
        self.stamps = stamps

    def on_signature(self, sig, **headers):
        return dict(self.stamps)


def out(obj):
    sys.stdout.write(kjson.dumps(obj))
    sys.stdout.write("\n")
    sys.stdout.flush()


def main():
    cmd = sys.argv[1]
    if cmd == "chain":
        c = chain(add.s(1, 1), add.s(2), stamps_task.s())
        c.stamp(visitor=Visitor({"mystamp": sys.argv[2]}))
        out({"result": c.apply_async().get(timeout=TIMEOUT)})
    elif cmd == "chord":
        c = chord([add.s(1, 1), add.s(2, 2)], stamps_task.s())
        c.stamp(visitor=Visitor({"mystamp": sys.argv[2]}))
        out({"result": c.apply_async().get(timeout=TIMEOUT)})
    elif cmd == "link":
        cb = stamps_task.s()
        cb.freeze()
        sig = add.s(1, 1)
        sig.link(cb)
        sig.stamp(visitor=Visitor({"mystamp": sys.argv[2]}))
        sig.apply_async()
        out({"result": AsyncResult(cb.id, app=app).get(timeout=TIMEOUT)})
    elif cmd == "send":
        sig = app.signature(sys.argv[2], args=json.loads(sys.argv[3]))
        sig.stamp(visitor=Visitor(json.loads(sys.argv[4])))
        opts = {}
        if len(sys.argv) > 5:
            opts["countdown"] = float(sys.argv[5])
        out({"id": sig.apply_async(**opts).id})
    elif cmd == "revoke":
        replies = app.control.revoke_by_stamped_headers(
            json.loads(sys.argv[2]), terminate="--terminate" in sys.argv, reply=True, timeout=2.0)
        out(replies)
    else:
        raise SystemExit(f"stamp.py: unknown command {cmd}")


if __name__ == "__main__":
    main()
