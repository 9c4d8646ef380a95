#!/usr/bin/env bash
# Client publish rate: the Go celery.Client (SendTask one by one, and
# Broker.PublishBatch) against Python Celery (send_task / apply_async in a
# loop), publishing N tasks.add messages to one queue of a private
# redis-server that nothing consumes. Run from anywhere; takes ~30 s.
#
#   N=20000 BATCH=500 bash bench/publish.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-20000}
BATCH=${BATCH:-500}
PY=${CELERIAC_PYTHON:-$PWD/.venv/bin/python}
REDIS=${CELERIAC_REDIS_SERVER:-redis-server}

command -v "$REDIS" >/dev/null || { echo "publish.sh: $REDIS not found" >&2; exit 1; }
[ -x "$PY" ] || { echo "publish.sh: no Python at $PY (run make venv)" >&2; exit 1; }

tmp=$(mktemp -d)
redis_pid=
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$REDIS" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
  --logfile "$tmp/redis.log" --daemonize no &
redis_pid=$!
url="redis://127.0.0.1:$port/0"
for _ in $(seq 100); do
  "$PY" -c "import redis, sys; redis.Redis.from_url('$url').ping()" 2>/dev/null && break
  sleep 0.1
done
"$PY" -c "import redis; redis.Redis.from_url('$url').ping()" >/dev/null

# Compile first so that build time is not part of anything measured.
go build -o /dev/null ./bench/publishbench

results="$tmp/results"
go run ./bench/publishbench -broker "$url" -n "$N" -batch "$BATCH" >>"$results"
"$PY" bench/py_publish.py --broker "$url" --n "$N" --mode send_task >>"$results"
"$PY" bench/py_publish.py --broker "$url" --n "$N" --mode apply_async --backend >>"$results"

rate() { awk -v k="$1" '$1 == k { print $2 }' "$results"; }
go_seq=$(rate go_sequential)
go_batch=$(rate go_batch)
py_send=$(rate py_send_task)
py_apply=$(rate py_apply_async_backend)

echo "client publish rate: $N x tasks.add(i, i) to one queue, redis $("$REDIS" --version | awk '{sub("v=", "", $3); print $3}') on 127.0.0.1:$port"
echo "python: $("$PY" -c 'import celery, kombu, redis; print("celery", celery.__version__, "kombu", kombu.__version__, "redis-py", redis.__version__)')"
printf '  %-52s %10s msgs/s\n' \
  "Go   Client.SendTask, sequential" "$go_seq" \
  "Go   Broker.PublishBatch, $BATCH per batch (incl. encoding)" "$go_batch" \
  "Py   app.send_task, no result backend" "$py_send" \
  "Py   task.apply_async, Redis result backend" "$py_apply"
awk -v a="$go_seq" -v b="$go_batch" -v c="$py_send" -v d="$py_apply" 'BEGIN {
  printf "ratio Go/Python: sequential/send_task %.1fx, batch/send_task %.1fx, sequential/apply_async+backend %.1fx\n", a/c, b/c, a/d
}'
