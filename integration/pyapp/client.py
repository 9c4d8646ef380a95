"""Command-line Celery client used by the Go integration tests.

Every subcommand prints one JSON document on stdout, encoded with
kombu.utils.json.dumps (so datetimes, UUIDs, Decimals and bytes appear with
kombu's {"__type__": ..., "__value__": ...} markers). Errors go to stderr
with a non-zero exit status; a timeout exits with status 3.

    send NAME [--args JSON] [--kwargs JSON] [--countdown F] [--eta ISO]
              [--expires F|ISO] [--priority N] [--queue Q] [--task-id ID]
              [--protocol 1|2] [--compression zlib] [--typed]
        -> {"id": ...}
    get ID [--timeout F]
        -> {"state", "result", "traceback", "name", "args", "kwargs",
            "worker", "retries", "queue", "date_done"}
    raw-publish [--protocol 1|2] < [{"name", "args", "kwargs", "options"}, ...]
        -> ["id", ...]
    send-get [--timeout F] [--protocol 1|2] < [{"name", "args", "kwargs", "options"}, ...]
        (options may name any serializer and compression the app allows)
        -> [{"id", "state", "result"}, ...] read with AsyncResult.get
    lpop-raw QUEUE [--timeout F]
        -> {"raw": "..."}
    store-result ID STATE [--result JSON] [--exc TYPE:MESSAGE] [--traceback T]
        -> {"ok": true}
    restore-sweep --visibility-timeout F [--num N]
        -> {"ok": true}

The broker and result backend come from CELERY_BROKER_URL and
CELERY_RESULT_BACKEND (see tasks.py).
"""

import argparse
import builtins
import datetime
import json
import sys

import redis
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu import Connection
from kombu.utils import json as kjson

from tasks import app

EXIT_TIMEOUT = 3


def out(obj):
    sys.stdout.write(kjson.dumps(obj))
    sys.stdout.write("\n")
    sys.stdout.flush()


def die(msg, code=1):
    sys.stderr.write(f"client.py: {msg}\n")
    sys.exit(code)


def as_datetime(value):
    """ISO-8601 string (or datetime) -> datetime."""
    if isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(value)


def as_expires(value):
    """Seconds (number or numeric string) or an ISO-8601 datetime."""
    if isinstance(value, (int, float, datetime.datetime)):
        return value
    try:
        return float(value)
    except ValueError:
        return as_datetime(value)


def set_protocol(protocol):
    if protocol is not None:
        app.conf.task_protocol = protocol


def exception_info(exc):
    return {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "message": str(exc),
        "args": list(exc.args),
    }


def cmd_send(a):
    loads = kjson.loads if a.typed else json.loads
    set_protocol(a.protocol)
    opts = {}
    if a.countdown is not None:
        opts["countdown"] = a.countdown
    if a.eta is not None:
        opts["eta"] = as_datetime(a.eta)
    if a.expires is not None:
        opts["expires"] = as_expires(a.expires)
    if a.priority is not None:
        opts["priority"] = a.priority
    if a.queue is not None:
        opts["queue"] = a.queue
    if a.task_id is not None:
        opts["task_id"] = a.task_id
    if a.compression is not None:
        opts["compression"] = a.compression
    res = app.send_task(a.name, args=loads(a.args), kwargs=loads(a.kwargs),
                        **opts)
    out({"id": res.id})


def cmd_get(a):
    res = app.AsyncResult(a.id)
    try:
        value = res.get(timeout=a.timeout, propagate=False)
    except CeleryTimeoutError:
        # Unsubscribe now, not from AsyncResult.__del__ during shutdown.
        app.backend.remove_pending_result(res)
        die(f"timed out after {a.timeout}s waiting for {a.id} "
            f"(state {res.state})", EXIT_TIMEOUT)
    if isinstance(value, BaseException):
        value = exception_info(value)
    date_done = res.date_done
    if isinstance(date_done, datetime.datetime):
        date_done = date_done.isoformat()
    out({
        "state": res.state,
        "result": value,
        "traceback": res.traceback,
        "name": res.name,
        "args": res.args,
        "kwargs": res.kwargs,
        "worker": res.worker,
        "retries": res.retries,
        "queue": res.queue,
        "date_done": date_done,
    })


def cmd_raw_publish(a):
    set_protocol(a.protocol)
    ids = []
    for item in kjson.loads(sys.stdin.read()):
        opts = dict(item.get("options") or {})
        if opts.get("serializer", "json") != "json":
            die("raw-publish: only the json serializer is allowed")
        if opts.get("eta") is not None:
            opts["eta"] = as_datetime(opts["eta"])
        if opts.get("expires") is not None:
            opts["expires"] = as_expires(opts["expires"])
        res = app.send_task(item["name"], args=item.get("args") or [],
                            kwargs=item.get("kwargs") or {}, **opts)
        ids.append(res.id)
    out(ids)


def cmd_send_get(a):
    set_protocol(a.protocol)
    sent = []
    for item in kjson.loads(sys.stdin.read()):
        sent.append(app.send_task(item["name"], args=item.get("args") or [],
                                  kwargs=item.get("kwargs") or {},
                                  **dict(item.get("options") or {})))
    results = []
    for res in sent:
        try:
            value = res.get(timeout=a.timeout, propagate=False)
        except CeleryTimeoutError:
            die(f"no result for {res.id} after {a.timeout}s", EXIT_TIMEOUT)
        if isinstance(value, BaseException):
            value = exception_info(value)
        results.append({"id": res.id, "state": res.state, "result": value})
    out(results)


def cmd_lpop_raw(a):
    # redis-py's default 5 s socket timeout would cut a longer BRPOP short.
    r = redis.Redis.from_url(app.conf.broker_url,
                             socket_timeout=a.timeout + 10)
    try:
        item = r.brpop([a.queue], timeout=a.timeout)
    finally:
        r.close()
    if item is None:
        die(f"nothing in {a.queue!r} after {a.timeout}s", EXIT_TIMEOUT)
    out({"raw": item[1].decode("utf-8")})


def cmd_store_result(a):
    result = kjson.loads(a.result) if a.result is not None else None
    if a.exc is not None:
        type_name, _, message = a.exc.partition(":")
        cls = getattr(builtins, type_name, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            die(f"--exc: {type_name!r} is not a builtin exception type")
        result = cls(message)
    app.backend.store_result(a.id, result, a.state, traceback=a.traceback)
    out({"ok": True})


def cmd_restore_sweep(a):
    with Connection(app.conf.broker_url, transport_options={
            "visibility_timeout": a.visibility_timeout}) as conn:
        conn.default_channel.qos.restore_visible(num=a.num)
    out({"ok": True})


def main(argv=None):
    p = argparse.ArgumentParser(prog="client.py", description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("send", help="app.send_task(...)")
    s.add_argument("name")
    s.add_argument("--args", default="[]", help="JSON list")
    s.add_argument("--kwargs", default="{}", help="JSON object")
    s.add_argument("--countdown", type=float)
    s.add_argument("--eta", help="ISO-8601 datetime")
    s.add_argument("--expires", help="seconds or ISO-8601 datetime")
    s.add_argument("--priority", type=int)
    s.add_argument("--queue")
    s.add_argument("--task-id")
    s.add_argument("--protocol", type=int, choices=(1, 2))
    s.add_argument("--compression")
    s.add_argument("--typed", action="store_true",
                   help="decode kombu __type__ markers in --args/--kwargs")
    s.set_defaults(func=cmd_send)

    s = sub.add_parser("get", help="AsyncResult(ID).get(propagate=False)")
    s.add_argument("id")
    s.add_argument("--timeout", type=float, default=30.0)
    s.set_defaults(func=cmd_get)

    s = sub.add_parser("raw-publish",
                       help="send_task each {name,args,kwargs,options} "
                            "read from stdin")
    s.add_argument("--protocol", type=int, choices=(1, 2))
    s.set_defaults(func=cmd_raw_publish)

    s = sub.add_parser("send-get",
                       help="send_task each {name,args,kwargs,options} read "
                            "from stdin, then get every result")
    s.add_argument("--timeout", type=float, default=30.0)
    s.add_argument("--protocol", type=int, choices=(1, 2))
    s.set_defaults(func=cmd_send_get)

    s = sub.add_parser("lpop-raw", help="BRPOP one raw item from a list")
    s.add_argument("queue")
    s.add_argument("--timeout", type=float, default=10.0)
    s.set_defaults(func=cmd_lpop_raw)

    s = sub.add_parser("store-result", help="app.backend.store_result(...)")
    s.add_argument("id")
    s.add_argument("state")
    s.add_argument("--result", help="JSON (kombu markers allowed)")
    s.add_argument("--exc", help="TYPE:MESSAGE, a builtin exception")
    s.add_argument("--traceback")
    s.set_defaults(func=cmd_store_result)

    s = sub.add_parser("restore-sweep",
                       help="one kombu QoS.restore_visible() sweep")
    s.add_argument("--visibility-timeout", type=float, required=True)
    s.add_argument("--num", type=int, default=10,
                   help="max messages restored (kombu's default: 10)")
    s.set_defaults(func=cmd_restore_sweep)

    a = p.parse_args(argv)
    a.func(a)


if __name__ == "__main__":
    main()
