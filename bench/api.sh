#!/usr/bin/env bash
# HTTP API throughput: GET /run-task/?duration=0 on `celeriac serve` (Gin)
# against the seed's FastAPI app under uvicorn (bench/fastapi), both
# publishing to the same private redis-server, measured by the same Go
# load generator (bench/apibench) in the same run. No worker consumes, so
# only the API and the publish are measured. FastAPI and uvicorn are
# installed from PyPI into their own venv, ~/.cache/celeriac/venv-fastapi
# ($CELERIAC_FASTAPI_VENV), never into the integration venv.
#
#   C=64 D=10s bash bench/api.sh
set -euo pipefail
cd "$(dirname "$0")/.."

C=${C:-64}
D=${D:-10s}
source bench/lib.sh
start_redis

venv=${CELERIAC_FASTAPI_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/celeriac/venv-fastapi}
if [ ! -x "$venv/bin/uvicorn" ] || [ bench/fastapi/requirements.txt -nt "$venv/.installed" ]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r bench/fastapi/requirements.txt
  touch "$venv/.installed"
fi

go build -o "$tmp/celeriac" ./cmd/celeriac
go build -o "$tmp/apibench" ./bench/apibench
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {
  local i
  for i in $(seq 200); do
    "$PY" -c "import urllib.request; urllib.request.urlopen('$1', timeout=1)" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "api.sh: $1 did not answer" >&2; exit 1
}
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; cleanup; }
trap stop_all EXIT

gport=$(free_port)
"$tmp/celeriac" serve --broker "$url" --addr "127.0.0.1:$gport" --worker=false --loglevel warning >"$tmp/gin.log" 2>&1 &
pids+=($!)
fport=$(free_port)
(cd bench/fastapi && CELERY_BROKER_URL="$url" exec "$venv/bin/uvicorn" main:app \
  --host 127.0.0.1 --port "$fport" --log-level warning --no-access-log) >"$tmp/fastapi.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$gport/healthz"
wait_http "http://127.0.0.1:$fport/docs"

results="$tmp/results"
"$tmp/apibench" -label gin -url "http://127.0.0.1:$gport/run-task/?duration=0" -c "$C" -d "$D" >>"$results"
"$tmp/apibench" -label fastapi -url "http://127.0.0.1:$fport/run-task/?duration=0" -c "$C" -d "$D" >>"$results"

field() { awk -v k="$1" -v f="$2" '$1 == k { print $f }' "$results"; }
echo "HTTP API: GET /run-task/?duration=0, $C connections for $D, redis $(redis_version) on 127.0.0.1:$port"
echo "fastapi: $("$venv/bin/python" -c 'import fastapi, uvicorn, celery; print("fastapi", fastapi.__version__, "uvicorn", uvicorn.__version__, "celery", celery.__version__)') (1 uvicorn worker, as in the seed)"
printf '  %-28s %10s req/s   p50 %7s ms   p99 %7s ms   errors %s\n' \
  "Go   celeriac serve (Gin)" "$(field gin 2)" "$(field gin 3)" "$(field gin 4)" "$(field gin 5)" \
  "Py   FastAPI + uvicorn" "$(field fastapi 2)" "$(field fastapi 3)" "$(field fastapi 4)" "$(field fastapi 5)"
awk -v a="$(field gin 2)" -v b="$(field fastapi 2)" -v c="$(field gin 4)" -v d="$(field fastapi 4)" 'BEGIN {
  printf "ratio Gin/FastAPI: req/s %.1fx (target >= 10x), p99 latency %.2fx (FastAPI p99 / Gin p99 = %.1fx)\n", a/b, c/d, d/c
}'
