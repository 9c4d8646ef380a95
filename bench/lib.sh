# Sourced by bench/run.sh (after cd to the repo root): checks the peers,
# makes $tmp, and start_redis starts a private redis-server on a free
# loopback port, setting $url and $port; start_rabbit a private RabbitMQ
# node (bench/rabbitnode, built into $tmp), setting $amqp_url, and
# stop_rabbit stops it. Everything it started is stopped on exit, by PID.
PY=${CELERIAC_PYTHON:-$PWD/.venv/bin/python}
REDIS=${CELERIAC_REDIS_SERVER:-redis-server}
me=$(basename "$0")
command -v "$REDIS" >/dev/null || { echo "$me: $REDIS not found" >&2; exit 1; }
for t in redis-benchmark redis-cli jq; do
  command -v $t >/dev/null || { echo "$me: $t not found (apt-get install redis-tools jq)" >&2; exit 1; }
done
[ -x "$PY" ] || { echo "$me: no Python at $PY (run make venv)" >&2; exit 1; }

tmp=$(mktemp -d)
redis_pid=
rabbit_pid=
cleanup() {
  stop_rabbit
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

start_redis() {
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$REDIS" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
    --logfile "$tmp/redis.log" --daemonize no &
  redis_pid=$!
  url="redis://127.0.0.1:$port/0"
  local i
  for i in $(seq 100); do
    "$PY" -c "import redis; redis.Redis.from_url('$url').ping()" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$me: redis-server did not start" >&2
  exit 1
}

start_rabbit() {
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || [ -n "${CELERIAC_RABBITMQ_BIN:-}" ] ||
    { echo "$me: rabbitmq-server not found (apt-get install rabbitmq-server, or leave amqp out of BENCH_SECTIONS)" >&2; exit 1; }
  "$tmp/rabbitnode" >"$tmp/rabbit.url" 2>"$tmp/rabbit.log" &
  rabbit_pid=$!
  local i
  for i in $(seq 600); do # the node boots in about 20 s
    if [ -s "$tmp/rabbit.url" ]; then
      amqp_url=$(head -n 1 "$tmp/rabbit.url")
      return 0
    fi
    kill -0 "$rabbit_pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "$me: the RabbitMQ node did not start:" >&2
  tail -n 20 "$tmp/rabbit.log" >&2
  exit 1
}

# stop_rabbit: SIGTERM makes rabbitnode stop the node and remove its files.
stop_rabbit() {
  if [ -n "$rabbit_pid" ]; then
    kill "$rabbit_pid" 2>/dev/null || true
    wait "$rabbit_pid" 2>/dev/null || true
    rabbit_pid=
  fi
}

rabbitmq_version() { dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown; }

redis_version() { "$REDIS" --version | awk '{sub("v=", "", $3); print $3}'; }
py_versions() { "$PY" -c 'import celery, kombu, redis; print("celery", celery.__version__, "kombu", kombu.__version__, "redis-py", redis.__version__)'; }

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {
  local i
  for i in $(seq 200); do
    "$PY" -c "import urllib.request; urllib.request.urlopen('$1', timeout=1)" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$me: $1 did not answer" >&2
  exit 1
}
