#!/usr/bin/env bash
# compose/smoke.sh: the docker-compose topology as local processes, and the
# original stack's walkthrough against it. No Docker needed:
#   redis-server on a free port, `celeriac serve --worker=false` (the api
#   service), two `celeriac worker`s (worker --scale 2), Flower from .venv.
# Checks: /run-task/?duration=1 -> /task-status/<id> reaches SUCCESS with
# "Task completed in 1 seconds!", and Flower's /api/workers lists both Go
# workers. Every process is stopped by its PID on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
PY=${CELERIAC_PYTHON:-$PWD/.venv/bin/python}
tmp=$(mktemp -d)
pids=()
cleanup() {
	local rc=$?
	# Reverse order: Flower, workers and the API before redis-server.
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	if [ "$rc" != 0 ]; then
		for f in "$tmp"/*.log; do [ -e "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }

command -v redis-server >/dev/null || fail "redis-server not installed (make redis)"
[ -x "$PY" ] || fail "no Python at $PY (make venv)"
"$PY" -c 'import flower' 2>/dev/null || fail "flower not installed in $PY's environment (make venv)"

freeport() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for DESCRIPTION SECONDS COMMAND...: retry COMMAND every 0.2 s.
wait_for() {
	local what=$1 secs=$2; shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || fail "timed out after ${secs}s waiting for $what"
		sleep 0.2
	done
}
get() { "$PY" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }

"$GO" build -o "$tmp/celeriac" ./cmd/celeriac

rport=$(freeport)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
pids+=($!)
export CELERY_BROKER_URL="redis://127.0.0.1:$rport/0"
export CELERY_RESULT_BACKEND="$CELERY_BROKER_URL"
unset CELERIAC_API_TOKEN
wait_for redis 10 redis-cli -p "$rport" ping

aport=$(freeport)
"$tmp/celeriac" serve --worker=false --addr "127.0.0.1:$aport" >"$tmp/api.log" 2>&1 &
pids+=($!)
for n in 1 2; do
	"$tmp/celeriac" worker -n "smoke$n@%h" -E -c 2 --heartbeat-interval 1 >"$tmp/worker$n.log" 2>&1 &
	pids+=($!)
done
fport=$(freeport)
FLOWER_UNAUTHENTICATED_API=true "$PY" -m celery --broker="$CELERY_BROKER_URL" flower --address=127.0.0.1 --port="$fport" >"$tmp/flower.log" 2>&1 &
pids+=($!)
api="http://127.0.0.1:$aport"
wait_for "the API's /healthz" 15 get "$api/healthz"

# The walkthrough: submit, then poll the status until SUCCESS.
sub=$(get "$api/run-task/?duration=1")
id=$("$PY" -c 'import json, sys; d = json.loads(sys.argv[1]); assert d["status"] == "Task submitted", d; print(d["task_id"])' "$sub") || fail "run-task answered $sub"
end=$((SECONDS + 15))
while :; do
	st=$(get "$api/task-status/$id")
	if "$PY" -c 'import json, sys; d = json.loads(sys.argv[1]); sys.exit(d["status"] != "SUCCESS")' "$st"; then break; fi
	[ "$SECONDS" -lt "$end" ] || fail "task $id did not succeed in 15 s: $st"
	sleep 0.2
done
"$PY" -c 'import json, sys; d = json.loads(sys.argv[1]); assert d == {"status": "SUCCESS", "result": "Task completed in 1 seconds!"}, d' "$st" || fail "task-status answered $st"
echo "smoke: /run-task/?duration=1 -> $st"
# Loopback without a token is the safe default: no warning.
! grep -q "without CELERIAC_API_TOKEN" "$tmp/api.log" || fail "the API on 127.0.0.1 warned about a missing token"

# Flower sees both Go workers.
has_workers() {
	local w
	w=$(get "http://127.0.0.1:$fport/api/workers?refresh=1") || return 1
	"$PY" -c 'import json, sys; d = json.loads(sys.argv[1]); n = [k for k in d if k.startswith(("smoke1@", "smoke2@"))]; sys.exit(len(n) != 2)' "$w"
}
wait_for "Flower's /api/workers to list smoke1@ and smoke2@" 20 has_workers
echo "smoke: Flower lists $(get "http://127.0.0.1:$fport/api/workers" | "$PY" -c 'import json, sys; print(", ".join(sorted(json.load(sys.stdin))))')"
echo "smoke: OK"
