#!/usr/bin/env bash
# make bench: side-by-side measurements against the Python peers, on one
# private redis-server started here. Each script prints its own table.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in bench/publish.sh bench/drain.sh bench/api.sh; do
  [ -x "$s" ] && bash "$s"
done
