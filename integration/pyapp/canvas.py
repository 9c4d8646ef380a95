"""Builds canvases with real Celery, applies them and prints the outcome.

    canvas.py SCENARIO [N]      -> {"result": ..., "error": null|{"type", "message"},
                                    "extra": ...}
    canvas.py restore-group GID -> {"result": [...], "ids": [...]}

Scenarios: chain, long-chain N, group, chord N, link, link-error,
chord-fail, nested, map, starmap, chunks. Run with cwd = this directory (tasks.py importable).
"""

import sys

from celery import chain, chord, group
from celery.result import AsyncResult, GroupResult
from kombu.utils import json as kjson

from tasks import add, app, fail, mul, xsum

TIMEOUT = 30


def out(obj):
    sys.stdout.write(kjson.dumps(obj))
    sys.stdout.write("\n")
    sys.stdout.flush()


def run(scenario, n):
    extra = None
    if scenario == "chain":
        res = chain(add.s(1, 1), add.s(2), mul.s(3)).apply_async()
    elif scenario == "long-chain":
        res = chain(add.s(0, 1), *[add.s(1) for _ in range(n - 1)]).apply_async()
    elif scenario == "group":
        res = group(add.s(i, i) for i in range(5)).apply_async()
    elif scenario == "chord":
        res = chord([add.s(i, i) for i in range(n)], xsum.s()).apply_async()
    elif scenario == "link":
        cb = mul.s(10)
        cb.freeze()
        add.apply_async((2, 2), link=cb)
        res = AsyncResult(cb.id, app=app)
    elif scenario == "link-error":
        # A one-argument errback is sent as a message with the failed
        # task's id (Celery calls errbacks of arity > 1 in-process).
        eb = fail.s()
        eb.freeze()
        failed = fail.apply_async(("x",), link_error=eb)
        extra = failed.id
        res = AsyncResult(eb.id, app=app)
    elif scenario == "chord-fail":
        eb = fail.s()
        eb.freeze()
        body = xsum.s()
        body.link_error(eb)
        res = chord([add.s(1, 1), fail.s("boom"), add.s(2, 2)], body).apply_async()
        # A fresh handle: res.get() would re-raise the header's ValueError.
        body_res = AsyncResult(res.id, app=app)
        try:
            AsyncResult(eb.id, app=app).get(timeout=TIMEOUT)
            errback = None
        except Exception as exc:  # noqa: BLE001 - the errback must fail
            errback = {"type": type(exc).__name__, "message": str(exc)}
        extra = {"errback": errback, "body_id": res.id}
        res = body_res
    elif scenario == "nested":
        res = chord(group(chain(add.s(1, 1), mul.s(2)),
                          chain(add.s(2, 2), mul.s(2)),
                          add.s(3, 3)), xsum.s()).apply_async()
    elif scenario == "chord-group-header":
        res = chord([group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)], xsum.s()).apply_async()
    elif scenario == "chord-chord-header":
        res = chord([chord([add.s(1, 1), add.s(2, 2)], xsum.s()), add.s(3, 3)],
                    xsum.s()).apply_async()
    elif scenario == "chain-group-middle":
        res = chain(add.s(1, 1), group(add.s(1), add.s(2)), xsum.s(), mul.s(2)).apply_async()
    elif scenario == "group-of-chains":
        res = group(chain(add.s(1, 1), mul.s(2)), chain(add.s(2, 2), mul.s(3)),
                    chain(add.s(0, 1), group(add.s(1), add.s(2)), xsum.s())).apply_async()
    elif scenario == "group-in-group":
        res = group(group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)).apply_async()
    elif scenario == "chain-nested-groups":
        res = chain(add.s(1, 1), group(add.s(1), group(add.s(2), add.s(3)))).apply_async()
    elif scenario == "chain-of-chords":
        res = chain(chord([add.s(1, 1), add.s(2, 2)], xsum.s()),
                    chord([add.s(1), add.s(2)], xsum.s()), mul.s(10)).apply_async()
    elif scenario == "chord-fail-nested":
        res = chord([group(add.s(1, 1), fail.s("deep")), add.s(3, 3)], xsum.s()).apply_async()
        body_res = AsyncResult(res.id, app=app)
        extra = {"body_id": res.id}
        res = body_res
    elif scenario == "chain-fail-errback":
        eb = fail.s()
        eb.freeze()
        c = chain(add.s(1, 1), fail.si("mid"), mul.s(2))
        c.link_error(eb)
        res0 = c.apply_async()
        try:
            AsyncResult(eb.id, app=app).get(timeout=TIMEOUT)
            errback = None
        except Exception as exc:  # noqa: BLE001 - the errback must fail
            errback = {"type": type(exc).__name__, "message": str(exc)}
        extra = {"errback": errback, "parent": res0.parent.id}
        res = AsyncResult(res0.id, app=app)
    elif scenario == "map":
        res = xsum.map([[1, 2], [3, 4]]).apply_async()
    elif scenario == "starmap":
        res = add.starmap([(1, 2), (3, 4)]).apply_async()
    elif scenario == "chunks":
        res = add.chunks([(i, i) for i in range(7)], 3).apply_async()
    else:
        raise SystemExit(f"canvas.py: unknown scenario {scenario}")
    try:
        return {"result": res.get(timeout=TIMEOUT), "error": None, "extra": extra}
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return {"result": None, "extra": extra,
                "error": {"type": type(exc).__name__, "message": str(exc)}}


def main():
    if sys.argv[1] == "restore-group":
        g = GroupResult.restore(sys.argv[2], app=app)
        out({"result": g.get(timeout=TIMEOUT), "ids": [r.id for r in g.results]})
        return
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    out(run(sys.argv[1], n))


if __name__ == "__main__":
    main()
