"""Python Celery publish rate, for bench/publish.sh.

    py_publish.py --broker URL --n N --mode send_task|apply_async [--backend]

Publishes N tasks.add(i, i) messages to --queue (nothing consumes it) and
prints one JSON line for bench/gendoc. With --backend the app has the
Redis result backend of a typical deployment, so every send also
subscribes to the task's result channel, as Celery does.
"""

import argparse
import json
import time

import redis
from celery import Celery


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--broker", required=True)
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--mode", choices=("send_task", "apply_async"), required=True)
    p.add_argument("--backend", action="store_true")
    p.add_argument("--queue", default="bench.publish")
    a = p.parse_args()

    app = Celery("bench", broker=a.broker,
                 backend=a.broker if a.backend else None)
    app.conf.update(task_serializer="json", accept_content=["json"])

    @app.task(name="tasks.add")
    def add(x, y):
        return x + y

    if a.mode == "send_task":
        def send(i):
            return app.send_task("tasks.add", args=(i, i), queue=a.queue)
    else:
        def send(i):
            return add.apply_async((i, i), queue=a.queue)

    r = redis.Redis.from_url(a.broker)
    send(0)  # warm up: connections, queue declaration
    r.delete(a.queue)

    start = time.perf_counter()
    for i in range(a.n):
        send(i)
    elapsed = time.perf_counter() - start

    got = r.llen(a.queue)
    if got != a.n:
        raise SystemExit(f"py_publish: {got} messages in {a.queue}, want {a.n}")
    r.delete(a.queue)
    name = a.mode + ("_backend" if a.backend else "")
    print(json.dumps({"kind": "publish", "impl": "python", "mode": name,
                      "n": a.n, "rate": a.n / elapsed}))


if __name__ == "__main__":
    main()
