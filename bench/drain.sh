#!/usr/bin/env bash
# Worker drain rate: a queue pre-filled with N tasks.add(i, i) messages
# (results on, result_extended on both sides) is drained by
#   - the Go worker (the celeriac binary, -c $GO_C),
#   - Python Celery, prefork pool -c 2,
#   - Python Celery, threads pool -c 10,
# one after another on the same private redis-server. Each run is timed from
# the worker's first BRPOP until the queue is empty and all N results exist
# (worker start-up is reported apart). Run from anywhere; takes ~1-2 min.
#
#   N=10000 N_PY=5000 GO_C=8 bash bench/drain.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000}
N_PY=${N_PY:-$N} # fewer for the Python runs if they are slow; rates are per second
GO_C=${GO_C:-8}
source bench/lib.sh

# Compile first so that build time is not part of anything measured.
go build -o "$tmp/celeriac" ./cmd/celeriac
go build -o "$tmp/drainbench" ./bench/drainbench

start_redis

results="$tmp/results"
bench() { # name n [dir] -- command...
  local name=$1 n=$2 dir=$3
  shift 4
  "$tmp/drainbench" -broker "$url" -n "$n" -name "$name" -dir "$dir" -- "$@" >>"$results" 2>"$tmp/$name.log" || {
    echo "drain.sh: $name failed:" >&2
    tail -n 30 "$tmp/$name.log" >&2
    exit 1
  }
}
pyapp=$PWD/integration/pyapp
celery_worker=("$PY" -m celery -A tasks worker --loglevel=WARNING --without-mingle --without-gossip --without-heartbeat -Q celery)

bench go "$N" "$PWD" -- "$tmp/celeriac" worker --broker "$url" -c "$GO_C" --loglevel warning -n "go-drain@%h"
bench py_prefork "$N_PY" "$pyapp" -- "${celery_worker[@]}" -P prefork -c 2 -n "py-prefork@%h"
bench py_threads "$N_PY" "$pyapp" -- "${celery_worker[@]}" -P threads -c 10 -n "py-threads@%h"

field() { awk -v k="$1" -v f="$2" '$1 == k { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$results"; }

echo "worker drain rate: pre-filled queue of tasks.add(i, i), results stored (result_extended), redis $(redis_version) on 127.0.0.1:$port, $(nproc) CPUs"
echo "python: $(py_versions)"
printf '  %-34s %7s %11s %10s %12s\n' worker tasks "start-up s" "drain s" "tasks/s"
for k in go py_prefork py_threads; do
  case $k in
    go) label="Go   celeriac worker -c $GO_C" ;;
    py_prefork) label="Py   celery worker -P prefork -c 2" ;;
    py_threads) label="Py   celery worker -P threads -c 10" ;;
  esac
  printf '  %-34s %7s %11s %10s %12s\n' "$label" "$(field $k n)" "$(field $k startup_s)" "$(field $k drain_s)" "$(field $k rate)"
done
awk -v g="$(field go rate)" -v p="$(field py_prefork rate)" -v t="$(field py_threads rate)" 'BEGIN {
  printf "ratio Go/Python: vs prefork -c 2 %.1fx, vs threads -c 10 %.1fx\n", g/p, g/t
}'
