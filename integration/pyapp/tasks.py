"""Celery app and tasks that the Go integration tests talk to.

Run by ``python -m celery -A tasks worker`` (cwd = this directory) and
imported by ``client.py``. Everything is configured from the environment:

    CELERY_BROKER_URL            broker (default redis://127.0.0.1:6379/0)
    CELERY_RESULT_BACKEND        result backend (default: the broker URL)
    CELERIAC_ACKS_LATE           "1"/"true" -> task_acks_late
    CELERIAC_TRACK_STARTED       "1"/"true" -> task_track_started
    CELERIAC_RESULT_EXTENDED     "0"/"false" -> result_extended off (on
                                 by default here, unlike Celery)
    CELERIAC_VISIBILITY_TIMEOUT  float seconds -> broker visibility_timeout
    CELERIAC_PREFETCH_MULTIPLIER int -> worker_prefetch_multiplier
    CELERIAC_BROKER_USE_SSL      JSON object -> broker_use_ssl, py-amqp's keys
                                 (ca_certs, certfile, keyfile, cert_reqs
                                 named as the ssl module's constant)
    CELERIAC_RESTORE_INTERVAL    float seconds -> kombu's visibility sweep
                                 every that many seconds (unacked_restore_
                                 interval, throttle 1; default 10 s x 10)
    CELERIAC_GLOBAL_KEYPREFIX    broker_transport_options global_keyprefix
    CELERIAC_RESULT_GLOBAL_KEYPREFIX
                                 result_backend_transport_options
                                 global_keyprefix
    CELERIAC_TASK_SERIALIZER     task_serializer (default json)
    CELERIAC_RESULT_SERIALIZER   result_serializer (default json)
    CELERIAC_ACCEPT_CONTENT      comma-separated accept_content and
                                 result_accept_content (default json)
    CELERIAC_TASK_COMPRESSION    task_compression (default none)
    CELERIAC_RESULT_COMPRESSION  result_compression (default none)
    CELERIAC_EVENT_SERIALIZER    event_serializer (default json)
    CELERIAC_TASK_QUEUES         JSON list of task_queues: {"name", "exchange",
                                 "exchange_type", "routing_key", "broadcast"}
    CELERIAC_TASK_ROUTES         JSON object of task_routes ("re:" keys are
                                 regular expressions)
    CELERIAC_WORKER_DIRECT       "1"/"true" -> worker_direct
    CELERIAC_QUEUE_MAX_PRIORITY  int -> task_queue_max_priority
    CELERIAC_DEFAULT_QUEUE_TYPE  task_default_queue_type (classic, quorum)
    CELERIAC_SECURITY_KEY, CELERIAC_SECURITY_CERT, CELERIAC_SECURITY_STORE
                                 message signing: security_key,
                                 security_certificate, security_cert_store;
                                 task_serializer and accept_content become
                                 "auth", results stay JSON

JSON by default; pickle is never accepted.
"""

import datetime
import decimal
import json
import os
import re
import time
import uuid

import redis
from celery import Celery
from celery.exceptions import Ignore, Reject
from kombu.utils.json import dumps


def _env_bool(name, default=False):
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in ("1", "true", "yes", "on")


BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or BROKER_URL

app = Celery("tasks", broker=BROKER_URL, backend=RESULT_BACKEND)
_ACCEPT = [n for n in os.environ.get("CELERIAC_ACCEPT_CONTENT", "json").split(",") if n]
assert "pickle" not in _ACCEPT
app.conf.update(
    task_serializer=os.environ.get("CELERIAC_TASK_SERIALIZER") or "json",
    result_serializer=os.environ.get("CELERIAC_RESULT_SERIALIZER") or "json",
    accept_content=_ACCEPT,
    result_accept_content=_ACCEPT,
    task_compression=os.environ.get("CELERIAC_TASK_COMPRESSION") or None,
    result_compression=os.environ.get("CELERIAC_RESULT_COMPRESSION") or None,
    event_serializer=os.environ.get("CELERIAC_EVENT_SERIALIZER") or "json",
    result_extended=_env_bool("CELERIAC_RESULT_EXTENDED", True),
    task_track_started=_env_bool("CELERIAC_TRACK_STARTED"),
    task_acks_late=_env_bool("CELERIAC_ACKS_LATE"),
    enable_utc=True,
    timezone="UTC",
    broker_connection_retry_on_startup=True,
)
if os.environ.get("CELERIAC_SECURITY_STORE"):
    app.conf.update(
        security_key=os.environ["CELERIAC_SECURITY_KEY"],
        security_certificate=os.environ["CELERIAC_SECURITY_CERT"],
        security_cert_store=os.environ["CELERIAC_SECURITY_STORE"],
        task_serializer="auth",
        accept_content=["auth"],
        result_serializer="json",
        result_accept_content=["json"],
    )
    app.setup_security()
if os.environ.get("CELERIAC_BROKER_USE_SSL"):
    # broker_use_ssl as py-amqp takes it: {"ca_certs", "certfile",
    # "keyfile", "cert_reqs": "CERT_REQUIRED" | "CERT_NONE"}.
    import ssl

    _ssl = json.loads(os.environ["CELERIAC_BROKER_USE_SSL"])
    if "cert_reqs" in _ssl:
        _ssl["cert_reqs"] = getattr(ssl, _ssl["cert_reqs"])
    app.conf.broker_use_ssl = _ssl
if os.environ.get("CELERIAC_VISIBILITY_TIMEOUT"):
    app.conf.broker_transport_options = {
        "visibility_timeout": float(os.environ["CELERIAC_VISIBILITY_TIMEOUT"]),
    }
if os.environ.get("CELERIAC_RESTORE_INTERVAL"):
    app.conf.broker_transport_options = {
        **(app.conf.broker_transport_options or {}),
        "unacked_restore_interval": float(os.environ["CELERIAC_RESTORE_INTERVAL"]),
        "unacked_restore_throttle": 1,
    }
if os.environ.get("CELERIAC_GLOBAL_KEYPREFIX"):
    app.conf.broker_transport_options = {
        **(app.conf.broker_transport_options or {}),
        "global_keyprefix": os.environ["CELERIAC_GLOBAL_KEYPREFIX"],
    }
if os.environ.get("CELERIAC_RESULT_GLOBAL_KEYPREFIX"):
    app.conf.result_backend_transport_options = {
        "global_keyprefix": os.environ["CELERIAC_RESULT_GLOBAL_KEYPREFIX"],
    }
if os.environ.get("CELERIAC_PREFETCH_MULTIPLIER"):
    app.conf.worker_prefetch_multiplier = int(
        os.environ["CELERIAC_PREFETCH_MULTIPLIER"])

if os.environ.get("CELERIAC_TASK_QUEUES"):
    # [{"name", "exchange", "exchange_type", "routing_key", "broadcast"}]
    from kombu import Exchange, Queue
    from kombu.common import Broadcast

    def _queue(q):
        if q.get("broadcast"):
            return Broadcast(q["name"])
        return Queue(q["name"], Exchange(q.get("exchange") or q["name"],
                                         type=q.get("exchange_type") or "direct"),
                     routing_key=q.get("routing_key") or q["name"])

    app.conf.task_queues = [_queue(q) for q in json.loads(os.environ["CELERIAC_TASK_QUEUES"])]
if os.environ.get("CELERIAC_TASK_ROUTES"):
    # {"name, glob or re:regexp": "queue" or {route}}, in order.
    app.conf.task_routes = {
        (re.compile(k[3:]) if k.startswith("re:") else k): v
        for k, v in json.loads(os.environ["CELERIAC_TASK_ROUTES"]).items()
    }
app.conf.worker_direct = _env_bool("CELERIAC_WORKER_DIRECT")
if os.environ.get("CELERIAC_QUEUE_MAX_PRIORITY"):
    app.conf.task_queue_max_priority = int(os.environ["CELERIAC_QUEUE_MAX_PRIORITY"])
if os.environ.get("CELERIAC_DEFAULT_QUEUE_TYPE"):
    app.conf.task_default_queue_type = os.environ["CELERIAC_DEFAULT_QUEUE_TYPE"]

# Redis list that tasks.record appends to.
RECORD_KEY = "celeriac:record"

_redis = None


def broker_redis():
    """A redis-py client for the broker's Redis (created once per process);
    with an AMQP broker, the result backend's."""
    global _redis
    if _redis is None:
        url = BROKER_URL if BROKER_URL.startswith(("redis", "unix")) else RESULT_BACKEND
        _redis = redis.Redis.from_url(url)
    return _redis


@app.task(name="tasks.sample_task")
def sample_task(duration):
    """The original FastAPI stack's task (shared/seed-fastapi-celery-flower.md)."""
    time.sleep(duration)
    return f"Task completed in {duration} seconds!"


@app.task(name="tasks.add")
def add(x, y):
    return x + y


@app.task(name="tasks.mul")
def mul(x, y):
    return x * y


@app.task(name="tasks.xsum")
def xsum(numbers):
    return sum(numbers)


@app.task(name="tasks.sleep")
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(name="tasks.stubborn")
def stubborn(seconds):
    # time.sleep ignores cancellation already; the Go twin ignores its context.
    time.sleep(seconds)
    return seconds


@app.task(name="tasks.fail")
def fail(msg):
    raise ValueError(msg)


@app.task(name="tasks.echo")
def echo(*args, **kwargs):
    # Values come back exactly as they arrived (a datetime stays a datetime
    # and is re-encoded with kombu's {"__type__": ...} markers).
    return [list(args), kwargs]


@app.task(name="tasks.flaky", bind=True)
def flaky(self, key, failures):
    """Retry (countdown 0.2 s) until called more than `failures` times;
    returns the number of calls, counted in Redis under
    "celeriac:flaky:" + key (the Go built-in's namespace)."""
    r = broker_redis()
    counter = r.incr("celeriac:flaky:" + key)
    r.expire("celeriac:flaky:" + key, 3600)
    if counter <= failures:
        raise self.retry(countdown=0.2, max_retries=failures + 5)
    return counter


@app.task(name="tasks.autoretry", autoretry_for=(ValueError,),
          retry_kwargs={"countdown": 0.2, "max_retries": 10})
def autoretry(key, failures):
    """tasks.flaky through autoretry_for: raise ValueError until called more
    than `failures` times (counted under "celeriac:flaky:auto:" + key)."""
    r = broker_redis()
    counter = r.incr("celeriac:flaky:auto:" + key)
    r.expire("celeriac:flaky:auto:" + key, 3600)
    if counter <= failures:
        raise ValueError(f"autoretry {key}: attempt {counter} of {failures} failing")
    return counter


@app.task(name="tasks.progress", bind=True)
def progress(self, steps):
    for i in range(steps):
        self.update_state(state="PROGRESS",
                          meta={"current": i + 1, "total": steps})
    return "done"


# Fixed values returned by tasks.types, and their kombu JSON encoding:
#   datetime    2024-01-02T03:04:05.678901+00:00 (aware, UTC)
#               -> {"__type__": "datetime", "__value__": "2024-01-02T03:04:05.678901+00:00"}
#   date        2024-01-02    -> {"__type__": "date", "__value__": "2024-01-02"}
#   time        03:04:05.678901 -> {"__type__": "time", "__value__": "03:04:05.678901"}
#   uuid        12345678-1234-5678-1234-567812345678
#               -> {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}
#   decimal     3.14159265358979323846
#               -> {"__type__": "decimal", "__value__": "3.14159265358979323846"}
#   bytes_utf8  b"hello \xc3\xa9"  (UTF-8 for "hello é")
#               -> {"__type__": "bytes", "__value__": "hello é"}
#   bytes_bin   b"\xff\x00\xfe" (not UTF-8)
#               -> {"__type__": "base64", "__value__": "/wD+"}
TYPES = {
    "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5, 678901,
                                  tzinfo=datetime.timezone.utc),
    "date": datetime.date(2024, 1, 2),
    "time": datetime.time(3, 4, 5, 678901),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "decimal": decimal.Decimal("3.14159265358979323846"),
    "bytes_utf8": "hello é".encode("utf-8"),
    "bytes_bin": b"\xff\x00\xfe",
}


@app.task(name="tasks.types")
def types():
    return dict(TYPES)


@app.task(name="tasks.record", bind=True)
def record(self, *args, **kwargs):
    """RPUSH what this call received onto the Redis list celeriac:record."""
    info = self.request.delivery_info or {}
    entry = {
        "args": list(args),
        "kwargs": kwargs,
        "id": self.request.id,
        "retries": self.request.retries,
        "priority": info.get("priority"),
        "queue": info.get("routing_key"),
    }
    broker_redis().rpush(RECORD_KEY, dumps(entry))
    return None


def _count(prefix, key):
    """INCR celeriac:<prefix>:<key> (kept an hour) and return the count."""
    r = broker_redis()
    n = r.incr("celeriac:" + prefix + ":" + key)
    r.expire("celeriac:" + prefix + ":" + key, 3600)
    return n


@app.task(name="tasks.reject_once", bind=True, acks_late=True)
def reject_once(self, key, requeue):
    """Raise Reject(requeue=requeue) on the first call for key, then
    return the number of calls (counted under celeriac:reject:<key>)."""
    n = _count("reject", key)
    if n == 1:
        raise Reject("rejected " + key, requeue=requeue)
    return n


@app.task(name="tasks.ignore_me", bind=True)
def ignore_me(self, key):
    """Count the call under celeriac:ignore:<key>, then raise Ignore."""
    _count("ignore", key)
    raise Ignore()


@app.task(name="tasks.retry_with", bind=True)
def retry_with(self, key, countdown, max_retries):
    """self.retry(exc=ValueError(key), countdown=countdown,
    max_retries=max_retries) on every call; the calls are counted under
    celeriac:retry:<key>."""
    _count("retry", key)
    raise self.retry(exc=ValueError(key), countdown=countdown, max_retries=max_retries)


@app.task(name="tasks.replace_with", bind=True)
def replace_with(self, kind, x):
    """Replace this task with: "task" add(x, 1); "chain" add(x, 1) | mul(10);
    "group" group(add(x, 1), add(x, 2)); "chain_group" add(x, 1) |
    group(mul(2), mul(3)); "fail" fail("replaced <x>"); "nesting"
    request_attr("replaced_task_nesting")."""
    from celery import chain, group
    sigs = {
        "task": lambda: add.s(x, 1),
        "chain": lambda: chain(add.s(x, 1), mul.s(10)),
        "group": lambda: group(add.s(x, 1), add.s(x, 2)),
        "chain_group": lambda: chain(add.s(x, 1), group(mul.s(2), mul.s(3))),
        "fail": lambda: fail.s("replaced %s" % x),
        "nesting": lambda: request_attr.si("replaced_task_nesting"),
    }
    return self.replace(sigs[kind]())


@app.task(name="tasks.fail_no_ack", acks_late=True, acks_on_failure_or_timeout=False)
def fail_no_ack(msg):
    """Raise ValueError(msg); acks-late, failures not acknowledged."""
    raise ValueError(msg)


@app.task(name="tasks.slow_once", acks_late=True, acks_on_failure_or_timeout=False, time_limit=1)
def slow_once(key):
    """Sleep past the 1 s hard time limit on the first call for key, then
    return the number of calls (celeriac:slow:<key>); a timed-out message
    is requeued."""
    n = _count("slow", key)
    if n == 1:
        time.sleep(30)
    return n


@app.task(name="tasks.die_once", acks_late=True, reject_on_worker_lost=True)
def die_once(key):
    """Kill the pool process on the first call for key (prefork), then
    return the number of calls (celeriac:die:<key>); the lost message is
    requeued."""
    n = _count("die", key)
    if n == 1:
        os._exit(1)
    return n


@app.task(name="tasks.die_lost", acks_late=True)
def die_lost(key):
    """Kill the pool process (prefork) after counting the call under
    celeriac:die:<key>: WorkerLostError, the message acknowledged."""
    _count("die", key)
    os._exit(1)


@app.task(name="tasks.fail_ignored", ignore_result=True, store_errors_even_if_ignored=True)
def fail_ignored(msg):
    """Raise ValueError(msg); the result is ignored but errors are stored."""
    raise ValueError(msg)


@app.task(name="tasks.fail_ignored_quiet", ignore_result=True)
def fail_ignored_quiet(key):
    """Count the call under celeriac:quiet:<key> and raise ValueError(key);
    nothing is stored."""
    _count("quiet", key)
    raise ValueError(key)


@app.task(name="tasks.request_attr", bind=True)
def request_attr(self, name):
    """Return self.request.<name> (a custom message header, say), or None."""
    return getattr(self.request, name, None)


@app.task(bind=True, name="tasks.stamps")
def stamps(self, *args):
    """Returns the stamps the running task's message carries."""
    return {h: (self.request.stamps or {}).get(h) for h in (self.request.stamped_headers or [])}


@app.task(name="tasks.on_error")
def on_error(request, exc, traceback):
    """An old-style errback: a worker that has it calls it in-process with
    (request, exc, traceback); it notes the failure under errback:<id>."""
    broker_redis().set(f"errback:{request.id}", f"{type(exc).__name__}:{exc}")
