"""Python twins of celeriac's built-in tasks, for a mixed Go + Python fleet.

Both fleets consume the same queue, so every task the API sends by default
must exist here too (tasks.flaky is Go-only: the API never sends it unless
--allow-tasks names it).
"""
import os
import time

from celery import Celery

broker = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
app = Celery("tasks", broker=broker,
             backend=os.environ.get("CELERY_RESULT_BACKEND", broker))
app.conf.worker_send_task_events = True


@app.task(name="tasks.sample_task")
def sample_task(duration):
    """The original FastAPI stack's task."""
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


@app.task(name="tasks.fail")
def fail(msg):
    raise ValueError(msg)


@app.task(name="tasks.echo")
def echo(*args, **kwargs):
    return [list(args), kwargs]
