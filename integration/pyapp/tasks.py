"""Celery app and tasks that the Go integration tests talk to.

Run by ``python -m celery -A tasks worker`` (cwd = this directory) and
imported by ``client.py``. Everything is configured from the environment:

    CELERY_BROKER_URL            broker (default redis://127.0.0.1:6379/0)
    CELERY_RESULT_BACKEND        result backend (default: the broker URL)
    CELERIAC_ACKS_LATE           "1"/"true" -> task_acks_late
    CELERIAC_TRACK_STARTED       "1"/"true" -> task_track_started
    CELERIAC_VISIBILITY_TIMEOUT  float seconds -> broker visibility_timeout
    CELERIAC_PREFETCH_MULTIPLIER int -> worker_prefetch_multiplier
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
    result_extended=True,
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

# Redis list that tasks.record appends to.
RECORD_KEY = "celeriac:record"

_redis = None


def broker_redis():
    """A redis-py client for the broker's Redis (created once per process)."""
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(BROKER_URL)
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
