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
source bench/lib.sh
start_redis

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

echo "client publish rate: $N x tasks.add(i, i) to one queue, redis $(redis_version) on 127.0.0.1:$port"
echo "python: $(py_versions)"
printf '  %-52s %10s msgs/s\n' \
  "Go   Client.SendTask, sequential" "$go_seq" \
  "Go   Broker.PublishBatch, $BATCH per batch (incl. encoding)" "$go_batch" \
  "Py   app.send_task, no result backend" "$py_send" \
  "Py   task.apply_async, Redis result backend" "$py_apply"
awk -v a="$go_seq" -v b="$go_batch" -v c="$py_send" -v d="$py_apply" 'BEGIN {
  printf "ratio Go/Python: sequential/send_task %.1fx, batch/send_task %.1fx, sequential/apply_async+backend %.1fx\n", a/c, b/c, a/d
}'
