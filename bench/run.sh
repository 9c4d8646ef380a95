#!/usr/bin/env bash
# make bench: celeriac against its peers, in one run, on one private
# redis-server started here:
#   redis    redis-benchmark LPUSH/RPOP/SET (Redis' own ceiling)
#   publish  Go client (sequential, batched) vs Python send_task/apply_async vs asynq Enqueue
#   drain    pre-filled queue drained by the Go worker (concurrency sweep, events
#            on/off, 1/2/4 processes) vs Python Celery prefork/threads/solo vs asynq
#   amqp     the same drain with RabbitMQ as the broker (a private node started
#            here, results in the Redis above): Go worker vs Python prefork -c 2
#   latency  enqueue → task start and → result visible, at a steady rate
#   memory   idle RSS of `celeriac worker` and `celeriac serve`, worker RSS under a backlog
#   api      Gin (`celeriac serve`) vs the seed's FastAPI + uvicorn
#   micro    go test -bench of the codec
# Every measurement is one JSON line in bench/results/<section>.jsonl;
# bench/gendoc then writes docs/performance.md from them and bench/plot.py
# draws docs/bench-*.png (matplotlib, in a bench-only venv).
#
#   BENCH_QUICK=1 make bench                 # small N, a couple of minutes
#   BENCH_N=100000 make bench                # the full run (default N)
#   BENCH_SECTIONS="drain latency" bash bench/run.sh   # some sections only
#   BENCH_NODOC=1 ...                        # do not rewrite docs/
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

if [ -n "${BENCH_QUICK:-}" ]; then
  N=${BENCH_N:-5000} N_PY=${BENCH_N_PY:-1000} N_ASYNQ=${BENCH_N_ASYNQ:-3000} N_AMQP=${BENCH_N_AMQP:-5000}
  SWEEP=${BENCH_SWEEP:-"1 8 64"} EVENTS_SWEEP="8" PROCS="1 2"
  PUB_N=5000 PUB_N_PY=1000 BACKLOG=100000 API_D=3s LAT_D=3s LAT_ROUNDS=1 RB_N=20000
else
  N=${BENCH_N:-100000} N_PY=${BENCH_N_PY:-8000} N_ASYNQ=${BENCH_N_ASYNQ:-50000} N_AMQP=${BENCH_N_AMQP:-50000}
  SWEEP=${BENCH_SWEEP:-"1 2 4 8 16 32 64"} EVENTS_SWEEP="1 8 64" PROCS="1 2 4 8"
  PUB_N=50000 PUB_N_PY=8000 BACKLOG=1000000 API_D=10s LAT_D=5s LAT_ROUNDS=5 RB_N=100000
fi
# Latency rounds wait for a quiet machine (see section_latency).
LAT_JITTER_MAX=${BENCH_LAT_JITTER_MAX:-1} LAT_TRIES=${BENCH_LAT_TRIES:-$([ -n "${BENCH_QUICK:-}" ] && echo 1 || echo 4)}
SECTIONS=${BENCH_SECTIONS:-"redis publish drain amqp latency memory api micro"}
GO_C=${BENCH_GO_C:-8}
out=bench/results
mkdir -p "$out"
# A run of every section starts from nothing; a partial run (BENCH_SECTIONS)
# replaces only its own sections' files.
[ -z "${BENCH_SECTIONS:-}" ] && rm -f "$out"/*.jsonl

echo "== building"
# The binary as `make build` makes it (release flags).
make --no-print-directory build BIN="$tmp/celeriac" >/dev/null
for t in drainbench publishbench latencybench apibench rabbitnode; do go build -o "$tmp/$t" "./bench/$t"; done
(cd bench/asynqbench && go build -o "$tmp/asynqbench" .)
start_redis
# What the run was: machine, versions, parameters.
meta() {
  local cpu
  cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
  jq -nc --arg cpu "$cpu" --arg ncpu "$(nproc)" --arg redis "$(redis_version)" --arg py "$(py_versions)" \
    --arg go "$(go version | awk '{print $3}')" --arg date "$(date -u +%Y-%m-%dT%H:%MZ)" \
    --arg quick "${BENCH_QUICK:-}" --arg n "$N" --arg npy "$N_PY" --arg nasynq "$N_ASYNQ" \
    --arg pubn "$PUB_N" --arg pubnpy "$PUB_N_PY" --arg backlog "$BACKLOG" --arg apid "$API_D" --arg latd "$LAT_D" --arg latr "$LAT_ROUNDS" --arg latj "$LAT_JITTER_MAX" --arg latt "$LAT_TRIES" \
    --arg commit "$(git rev-parse --short HEAD)" --arg rabbit "$(rabbitmq_version)" --arg namqp "$N_AMQP" \
    '{kind:"meta", cpu:$cpu, ncpu:($ncpu|tonumber), redis:$redis, rabbitmq:$rabbit, n_amqp:($namqp|tonumber), python:$py, go:$go, date:$date, quick:($quick != ""),
      n:($n|tonumber), n_py:($npy|tonumber), n_asynq:($nasynq|tonumber), pub_n:($pubn|tonumber), pub_n_py:($pubnpy|tonumber),
      backlog:($backlog|tonumber), api_d:$apid, lat_d:$latd, lat_rounds:($latr|tonumber), lat_jitter_max:($latj|tonumber), lat_tries:($latt|tonumber), commit:$commit}'
}
meta >"$out/meta.jsonl"

flush() { redis-cli -u "$url" FLUSHDB >/dev/null; }

section_redis() {
  echo "== redis-benchmark (-n $RB_N)"
  : >"$out/redis.jsonl"
  local c p line
  for cp in "1 1" "50 1" "50 16"; do
    read -r c p <<<"$cp"
    redis-benchmark -h 127.0.0.1 -p "$port" -n "$RB_N" -c "$c" -P "$p" -t lpush,rpop,set --csv -q 2>/dev/null |
      tail -n +2 | tr -d '"' | while IFS=, read -r test rps _; do
        jq -nc --arg t "$test" --arg c "$c" --arg p "$p" --arg r "$rps" \
          '{kind:"redis", test:$t, clients:($c|tonumber), pipeline:($p|tonumber), rps:($r|tonumber)}'
      done >>"$out/redis.jsonl"
  done
  flush
}

section_publish() {
  echo "== publish (Go $PUB_N, Python $PUB_N_PY)"
  : >"$out/publish.jsonl"
  "$tmp/publishbench" -broker "$url" -n "$PUB_N" -batch 500 >>"$out/publish.jsonl"
  "$tmp/asynqbench" -redis "$url" -mode publish -n "$PUB_N" >>"$out/publish.jsonl"
  "$PY" bench/py_publish.py --broker "$url" --n "$PUB_N_PY" --mode send_task >>"$out/publish.jsonl"
  "$PY" bench/py_publish.py --broker "$url" --n "$PUB_N_PY" --mode apply_async --backend >>"$out/publish.jsonl"
  flush
}

# record FILE COMMAND...: run a bench tool, append its JSON line to FILE
# with the 1-minute load average as it started (a shared machine's
# neighbours come and go within a section).
record() {
  local file=$1 load
  shift
  load=$(cut -d' ' -f1 /proc/loadavg)
  if ! "$@" >"$tmp/record.json" 2>"$tmp/drain.log"; then
    echo "failed: $*" >&2
    tail -n 30 "$tmp/drain.log" >&2
    exit 1
  fi
  jq -c --arg l "$load" '. + {load1: ($l|tonumber)}' "$tmp/record.json" >>"$file"
}

drain() { # drainbench flags... -- command...
  record "$out/drain.jsonl" "$tmp/drainbench" -broker "$url" "$@"
  tail -n 1 "$out/drain.jsonl" | jq -r '"  \(.impl) c=\(.conc) procs=\(.procs) events=\(.events): \(.rate|floor) tasks/s, \(.redis_calls_per_task*100|floor/100) redis calls/task (load \(.load1))"'
}

# asynq_drain C [-strict]: asynq's drain at concurrency C.
asynq_drain() {
  record "$out/drain.jsonl" "$tmp/asynqbench" -redis "$url" -mode drain -n "$N_ASYNQ" -c "$@"
  tail -n 1 "$out/drain.jsonl" | jq -r '"  asynq c=\(.conc) queues=\(.queues): \(.rate|floor) tasks/s, \(.redis_calls_per_task*100|floor/100) redis calls/task (load \(.load1))"'
}

section_drain() {
  echo "== drain (Go N=$N, Python N=$N_PY, asynq N=$N_ASYNQ)"
  : >"$out/drain.jsonl"
  local gow=("$tmp/celeriac" worker --broker "$url" --loglevel warning --without-control)
  local c p
  # Each concurrency runs celeriac and then asynq, back to back, so that
  # the two see the same machine (a neighbour that starts late in the
  # section must not weigh on one of them only). asynq is measured at its
  # best: with both queue settings (weighted Queues, StrictPriority),
  # each after 1,000 untimed warm-up tasks; gendoc compares with the
  # fastest.
  for c in $SWEEP; do
    drain -n "$N" -impl go -conc "$c" -- "${gow[@]}" -c "$c" -n "go%i@%h"
    asynq_drain "$c"
    asynq_drain "$c" -strict
  done
  for c in $EVENTS_SWEEP; do
    drain -n "$N" -impl go -conc "$c" -events -- "${gow[@]}" -c "$c" -E -n "go%i@%h"
  done
  for p in $PROCS; do
    [ "$p" = 1 ] && continue # the sweep has it
    drain -n "$N" -impl go -conc "$GO_C" -procs "$p" -- "${gow[@]}" -c "$GO_C" -n "go%i@%h"
  done
  # The same worker held to one core: on 2 cores Redis needs the other.
  drain -n "$N" -impl go_p1 -conc "$GO_C" -- env GOMAXPROCS=1 "${gow[@]}" -c "$GO_C" -n "go%i@%h"
  local pyw=("$PY" -m celery -A tasks worker --loglevel=WARNING --without-mingle --without-gossip --without-heartbeat -Q celery)
  local pyapp=$PWD/integration/pyapp
  drain -n "$N_PY" -impl py_prefork -conc 2 -dir "$pyapp" -- "${pyw[@]}" -P prefork -c 2 -n "py%i@%h"
  drain -n "$N_PY" -impl py_threads -conc 10 -dir "$pyapp" -- "${pyw[@]}" -P threads -c 10 -n "py%i@%h"
  drain -n "$N_PY" -impl py_solo -conc 1 -dir "$pyapp" -- "${pyw[@]}" -P solo -n "py%i@%h"
  flush
}

# The drain on RabbitMQ: a private node (bench/rabbitnode), the Go worker
# and Python prefork -c 2 one after the other, tasks.add, results to the
# Redis above for both. The node is stopped at the end of the section.
section_amqp() {
  echo "== amqp drain (Go N=$N_AMQP, Python N=$N_PY)"
  : >"$out/amqp.jsonl"
  start_rabbit
  local gow=("$tmp/celeriac" worker --broker "$amqp_url" --result-backend "$url" --loglevel warning --without-control)
  local pyw=("$PY" -m celery -A tasks worker --loglevel=WARNING --without-mingle --without-gossip --without-heartbeat -Q celery)
  local sum='"  \(.impl) c=\(.conc) on RabbitMQ: \(.rate|floor) tasks/s (load \(.load1))"'
  record "$out/amqp.jsonl" "$tmp/drainbench" -broker "$amqp_url" -results "$url" -n "$N_AMQP" -impl go -conc "$GO_C" -- \
    "${gow[@]}" -c "$GO_C" -n "go%i@%h"
  tail -n 1 "$out/amqp.jsonl" | jq -r "$sum"
  record "$out/amqp.jsonl" "$tmp/drainbench" -broker "$amqp_url" -results "$url" -n "$N_PY" -impl py_prefork -conc 2 \
    -dir "$PWD/integration/pyapp" -- "${pyw[@]}" -P prefork -c 2 -n "py%i@%h"
  tail -n 1 "$out/amqp.jsonl" | jq -r "$sum"
  stop_rabbit
  flush
}

# Latency is mostly this VM's wake-up noise, which comes and goes, so it is
# measured in rounds: each round runs the floor (a stand-in worker with no
# celeriac code) and the Go worker with and without events, and held to one
# core (GOMAXPROCS=1), back to back,
# so that each sees the same weather; gendoc reports medians over rounds.
section_latency() {
  echo "== latency (1000 tasks/s, $LAT_ROUNDS rounds of $LAT_D each)"
  : >"$out/latency.jsonl"
  local r lat=("$tmp/latencybench" -broker "$url" -rate 1000 -d "$LAT_D" -conc "$GO_C")
  local try j
  for r in $(seq "$LAT_ROUNDS"); do
    # A round starts when the machine is quiet: a 1 ms sleep must wake
    # at most LAT_JITTER_MAX ms late at p99, or the round waits 10 s and
    # measures again (at most LAT_TRIES times; every try is recorded).
    for try in $(seq "$LAT_TRIES"); do
      j=$("$tmp/latencybench" -jitter -round "$r" -d 2s)
      if [ "$try" = "$LAT_TRIES" ] || jq -e --argjson max "$LAT_JITTER_MAX" '.oversleep_ms.p99 <= $max' <<<"$j" >/dev/null; then
        break
      fi
      jq -c '.kind = "jitter_busy"' <<<"$j" >>"$out/latency.jsonl"
      echo "  round $r: the machine is busy ($(jq -r '.oversleep_ms.p99' <<<"$j") ms p99 wake-up delay); waiting 10 s"
      sleep 10
    done
    jq -c --argjson n "$try" '. + {tries: $n}' <<<"$j" >>"$out/latency.jsonl"
    "${lat[@]}" -round "$r" -floor >>"$out/latency.jsonl"
    flush
    "${lat[@]}" -round "$r" -impl go -- \
      "$tmp/celeriac" worker --broker "$url" --loglevel warning -c "$GO_C" -E -n "lat@%h" >>"$out/latency.jsonl"
    flush
    "${lat[@]}" -round "$r" -impl go -events=false -- \
      "$tmp/celeriac" worker --broker "$url" --loglevel warning -c "$GO_C" -n "lat@%h" >>"$out/latency.jsonl"
    flush
    "${lat[@]}" -round "$r" -impl go_p1 -events=false -- env GOMAXPROCS=1 \
      "$tmp/celeriac" worker --broker "$url" --loglevel warning -c "$GO_C" -n "lat@%h" >>"$out/latency.jsonl"
    flush
  done
  "$tmp/asynqbench" -redis "$url" -mode latency -rate 1000 -d "$LAT_D" -c "$GO_C" >>"$out/latency.jsonl"
  jq -c 'select(.kind == "latency") | {impl, round, events, start_p99: .start_ms.p99, result_p50: .result_ms.p50, result_p99: .result_ms.p99}' "$out/latency.jsonl"
  flush
}

rss_kb() { awk '/^VmRSS:/ { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# rss_tree_kb PID: VmRSS of PID and all its descendants (prefork children).
rss_tree_kb() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do total=$((total + $(rss_kb "$p"))); done
  echo "$total"
}
memrec() { jq -nc --arg p "$1" --arg s "$2" --arg k "$3" --arg t "${4:-0}" '{kind:"memory", proc:$p, state:$s, rss_kb:($k|tonumber), t_s:($t|tonumber)}' >>"$out/memory.jsonl"; }
# memparts PROC PID: PID's RSS split into anonymous memory (heap, stacks)
# and file-backed pages (the binary's code and data, as they were touched).
memparts() {
  local a f
  a=$(awk '/^RssAnon:/ { print $2 }' "/proc/$2/status") f=$(awk '/^RssFile:/ { print $2 }' "/proc/$2/status")
  jq -nc --arg p "$1" --arg a "$a" --arg f "$f" '{kind:"rss_parts", proc:$p, anon_kb:($a|tonumber), file_kb:($f|tonumber)}' >>"$out/memory.jsonl"
}

section_memory() {
  echo "== memory (backlog $BACKLOG)"
  : >"$out/memory.jsonl"
  local pid i
  jq -nc --arg b "$(stat -c %s "$tmp/celeriac")" '{kind:"binary", bytes:($b|tonumber)}' >>"$out/memory.jsonl"
  "$tmp/celeriac" worker --broker "$url" --loglevel warning -c "$GO_C" -n mem@%h &
  pid=$!
  sleep 3
  memrec worker idle "$(rss_kb $pid)"
  memparts worker $pid
  kill $pid; wait $pid || true
  "$tmp/celeriac" serve --broker "$url" --addr 127.0.0.1:0 --loglevel warning >/dev/null &
  pid=$!
  sleep 3
  memrec serve idle "$(rss_kb $pid)"
  memparts serve $pid
  kill $pid; wait $pid || true
  (cd integration/pyapp && CELERY_BROKER_URL="$url" CELERY_RESULT_BACKEND="$url" exec "$PY" -m celery -A tasks worker --loglevel=WARNING -P prefork -c 2 -n pymem@%h) >/dev/null 2>&1 &
  pid=$!
  sleep 6
  memrec py_prefork_c2 idle "$(rss_tree_kb $pid)"
  kill $pid; wait $pid || true
  flush
  "$tmp/publishbench" -broker "$url" -fill -n "$BACKLOG" -batch 2000 -queue celery
  echo "  backlog: $(redis-cli -u "$url" LLEN celery) messages, redis used_memory $(redis-cli -u "$url" INFO memory | awk -F: '/^used_memory_human/ {print $2}' | tr -d '\r')"
  "$tmp/celeriac" worker --broker "$url" --loglevel warning -c "$GO_C" -n mem@%h &
  pid=$!
  for i in $(seq 1 12); do
    sleep 1
    memrec worker backlog "$(rss_kb $pid)" "$i"
  done
  kill $pid; wait $pid || true
  jq -r 'select(.kind=="binary") | "  binary: \(.bytes/1048576|.*10|floor/10) MB"' "$out/memory.jsonl"
  jq -r 'select(.kind=="memory") | "  \(.proc) \(.state) t=\(.t_s)s: \(.rss_kb/1024|.*10|floor/10) MB"' "$out/memory.jsonl"
  flush
}

section_api() {
  echo "== api ($API_D per run)"
  : >"$out/api.jsonl"
  local venv=${CELERIAC_FASTAPI_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/celeriac/venv-fastapi}
  if [ ! -x "$venv/bin/uvicorn" ] || [ bench/fastapi/requirements.txt -nt "$venv/.installed" ]; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r bench/fastapi/requirements.txt
    touch "$venv/.installed"
  fi
  local gport fport gpid fpid
  gport=$(free_port)
  "$tmp/celeriac" serve --broker "$url" --addr "127.0.0.1:$gport" --worker=false --loglevel warning >"$tmp/gin.log" 2>&1 &
  gpid=$!
  fport=$(free_port)
  (cd bench/fastapi && CELERY_BROKER_URL="$url" exec "$venv/bin/uvicorn" main:app \
    --host 127.0.0.1 --port "$fport" --log-level warning --no-access-log) >"$tmp/fastapi.log" 2>&1 &
  fpid=$!
  wait_http "http://127.0.0.1:$gport/healthz"
  wait_http "http://127.0.0.1:$fport/docs"
  local ab=("$tmp/apibench" -c 50 -d "$API_D")
  "${ab[@]}" -label gin -route "GET /run-task/" -url "http://127.0.0.1:$gport/run-task/?duration=0" >>"$out/api.jsonl"
  flush
  "${ab[@]}" -label gin -route "POST /api/v1/tasks/{name}" -method POST -body '{"args": [0]}' \
    -url "http://127.0.0.1:$gport/api/v1/tasks/tasks.sample_task" >>"$out/api.jsonl"
  flush
  "${ab[@]}" -label fastapi -route "GET /run-task/" -url "http://127.0.0.1:$fport/run-task/?duration=0" >>"$out/api.jsonl"
  kill $gpid $fpid; wait $gpid $fpid 2>/dev/null || true
  jq -r '"  \(.impl) \(.route): \(.rps|floor) req/s p50 \(.p50_ms) ms p99 \(.p99_ms) ms errors \(.errors)"' "$out/api.jsonl"
  flush
}

# benchjson PREFIX: go test -bench output → one JSON record per benchmark.
benchjson() {
  awk -v pre="$1" '/^Benchmark/ {
    name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
    ns = b = a = 0
    for (i = 3; i < NF; i++) {
      if ($(i+1) == "ns/op") ns = $i
      if ($(i+1) == "B/op") b = $i
      if ($(i+1) == "allocs/op") a = $i
    }
    printf "{\"kind\":\"micro\",\"name\":\"%s%s\",\"ns_op\":%s,\"b_op\":%s,\"allocs_op\":%s}\n", pre, name, ns, b, a
  }'
}

section_micro() {
  echo "== micro-benchmarks"
  go test -run '^$' -bench 'EncodeMessage|DecodeMessage' -benchmem -count 1 ./celery |
    benchjson "" >"$out/micro.jsonl"
  go test -run '^$' -bench '^Benchmark(Decode|Encode)$' -benchmem -count 1 ./internal/pyjson |
    benchjson pyjson. >>"$out/micro.jsonl"
  # msgpack and YAML against JSON on the same task body.
  go test -run '^$' -bench '^Benchmark(Decode|Encode)$' -benchmem -count 1 ./internal/codec |
    benchjson codec. >>"$out/micro.jsonl"
  jq -r '"  \(.name): \(.ns_op) ns/op \(.allocs_op) allocs/op"' "$out/micro.jsonl"
}

: >"$out/load.jsonl"
for s in $SECTIONS; do
  # The machine may be shared: record how busy it was as each section began.
  jq -nc --arg s "$s" --arg l "$(cut -d' ' -f1 /proc/loadavg)" '{kind:"load", section:$s, load1:($l|tonumber)}' >>"$out/load.jsonl"
  "section_$s"
done

[ -n "${BENCH_NODOC:-}" ] && exit 0
echo "== docs/performance.md and plots"
go run ./bench/gendoc -results "$out" -out docs/performance.md
bench_venv=${CELERIAC_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/celeriac/bench-venv}
if [ ! -x "$bench_venv/bin/python" ] || [ bench/requirements.txt -nt "$bench_venv/.installed" ]; then
  python3 -m venv "$bench_venv"
  "$bench_venv/bin/pip" install -q --disable-pip-version-check -r bench/requirements.txt
  touch "$bench_venv/.installed"
fi
"$bench_venv/bin/python" bench/plot.py "$out" docs
