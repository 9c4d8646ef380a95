"""Plots for docs/performance.md from one make bench run.

    plot.py RESULTS_DIR DOCS_DIR

Reads RESULTS_DIR/*.jsonl (the records of bench/run.sh) and writes
DOCS_DIR/bench-throughput.png (drain rate vs concurrency: celeriac with and
without events, asynq, the Python pools as reference lines) and
DOCS_DIR/bench-latency.png (CDFs of enqueue -> start and enqueue ->
result). Runs in the bench-only venv (bench/requirements.txt).
"""

import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(d):
    recs = []
    for f in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        with open(f) as fh:
            for line in fh:
                line = line.strip()
                if line:
                    recs.append(json.loads(line))
    return recs


def throughput(recs, out):
    drains = [r for r in recs if r.get("kind") == "drain" and r.get("procs", 1) in (1, None)]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    series = [
        ("celeriac worker", lambda r: r["impl"] == "go" and not r.get("events"), "o-", "tab:green"),
        ("celeriac worker -E (events)", lambda r: r["impl"] == "go" and r.get("events"), "s--", "tab:olive"),
        ("asynq (fastest queue setting)", lambda r: r["impl"] == "asynq", "^-", "tab:blue"),
    ]
    for label, pred, style, color in series:
        # The fastest run per concurrency (asynq runs each with two queue settings).
        best = {}
        for r in drains:
            if pred(r) and r["rate"] > best.get(r["conc"], 0):
                best[r["conc"]] = r["rate"]
        pts = sorted(best.items())
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label, color=color)
    py = {"py_prefork": "Celery prefork -c 2", "py_threads": "Celery threads -c 10", "py_solo": "Celery solo"}
    colors = iter(["tab:red", "tab:orange", "tab:purple"])
    for impl, label in py.items():
        r = next((r for r in drains if r["impl"] == impl), None)
        if r:
            ax.axhline(r["rate"], linestyle=":", color=next(colors), label=f"{label} ({r['rate']:.0f}/s)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrency (goroutines / asynq workers)")
    ax.set_ylabel("tasks/s (results stored)")
    ax.set_title("Draining a pre-filled queue of tasks.add, one redis-server")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench-throughput.png"), dpi=110)
    plt.close(fig)


def latency(recs, out):
    lats = [r for r in recs if r.get("kind") == "latency"]
    if not lats:
        return
    # With several rounds, plot for each worker the round whose result
    # (or, for asynq, start) p99 is the median one.
    groups = {}
    for r in lats:
        groups.setdefault((r["impl"], r.get("events", True)), []).append(r)
    chosen = []
    for runs in groups.values():
        key = "result_ms" if "result_ms" in runs[0] and runs[0]["result_ms"] else "start_ms"
        runs = sorted(runs, key=lambda r: r[key]["p99"])
        chosen.append(runs[(len(runs) - 1) // 2])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    colors = {("go", "start_cdf"): "tab:green", ("go", "result_cdf"): "tab:blue",
              ("asynq", "start_cdf"): "tab:red", ("floor", "result_cdf"): "tab:gray",
              ("go_p1", "result_cdf"): "tab:purple"}
    names = {"go": "celeriac", "asynq": "asynq", "floor": "floor (no celeriac code)",
             "go_p1": "celeriac GOMAXPROCS=1"}
    for r in chosen:
        for key, label in (("start_cdf", "enqueue -> task start"),
                           ("result_cdf", "enqueue -> result seen by client")):
            if not r.get(key):
                continue
            color = colors.get((r["impl"], key), "tab:gray")
            label = f"{names.get(r['impl'], r['impl'])}: {label}"
            style = ":" if r["impl"] == "floor" else "-"
            if r["impl"] == "go" and not r.get("events", True):
                color, style = "tab:cyan", "--"
                label += " (no -E)"
            qs = r[key]
            ys = [i / (len(qs) - 1) for i in range(len(qs))]
            ax.plot(qs, ys, style, label=label, color=color)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of tasks")
    ax.axvline(1, color="gray", linestyle=":", linewidth=1)
    ax.axvline(5, color="gray", linestyle=":", linewidth=1)
    ax.set_title("Latency CDF at a steady 1,000 tasks/s (median round)")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench-latency.png"), dpi=110)
    plt.close(fig)


def main():
    recs = load(sys.argv[1])
    throughput(recs, sys.argv[2])
    latency(recs, sys.argv[2])
    print("wrote", os.path.join(sys.argv[2], "bench-throughput.png"), os.path.join(sys.argv[2], "bench-latency.png"))


if __name__ == "__main__":
    main()
