# celeriac — the two commands are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
PY ?= python3
VENV := .venv
BIN := bin/celeriac
export CELERIAC_REQUIRE_REDIS := 1
export CELERIAC_REQUIRE_RABBITMQ := 1
export CELERIAC_PYTHON := $(CURDIR)/$(VENV)/bin/python
export CELERIAC_REQUIRE_COMPOSE := 1
# go.mod's toolchain line names the Go release to build with; the module
# proxy serves it, and `auto` lets the go command fetch it on first use.
export GOTOOLCHAIN := auto

.PHONY: all build run flower test deps redis rabbitmq venv compose-tool vet unit integration smoke fuzz vulncheck soak bench bench-tools lint clean screenshots chromium

all: build

## build: the release binary. nomsgpack leaves out gin's MessagePack binding
## (ugorji/go/codec: 6 MB of the binary, never used: the API binds JSON only;
## celeriac's own msgpack is internal/codec's), -trimpath -s -w drop paths and
## debug info (stack traces keep their function names and lines), and
## CGO_ENABLED=0 makes it static. Binary size is what a worker's idle RSS
## mostly is: the kernel maps the binary's pages as its code runs.
BUILD_FLAGS := -tags nomsgpack -trimpath -ldflags='-s -w'
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto $(BUILD_FLAGS) -o $(BIN) ./cmd/celeriac

## run: build and start `celeriac serve`: HTTP API on 127.0.0.1:8000, Go worker, embedded broker (no Redis needed).
## While it serves, its broker URL is in $(BROKER_URL_FILE), which `make flower` reads.
BROKER_URL_FILE ?= bin/broker-url
FLOWER_PORT ?= 5555
run: build
	$(BIN) serve --broker-url-file $(BROKER_URL_FILE)

## flower: Flower 2.2 from .venv (created if needed) against the broker of the
## running `make run`, whatever port it got, on http://localhost:$(FLOWER_PORT).
flower:
	@test -x $(VENV)/bin/celery || $(MAKE) --no-print-directory venv
	@test -s $(BROKER_URL_FILE) || { echo "make flower: no $(BROKER_URL_FILE): start \`make run\` first (in another terminal)" >&2; exit 1; }
	@echo "Flower on http://localhost:$(FLOWER_PORT), broker $$(cat $(BROKER_URL_FILE) | sed -E 's#//[^@/]*@#//***@#')"
	exec $(VENV)/bin/celery --broker="$$(cat $(BROKER_URL_FILE))" flower --address=127.0.0.1 --port=$(FLOWER_PORT)

## test: install what the tests need, then vet, staticcheck, unit tests (-race),
## integration tests, the compose smoke test, short fuzzing, govulncheck.
test: deps vet lint unit integration smoke fuzz vulncheck

deps: redis rabbitmq venv compose-tool

redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@redis-server --version

## rabbitmq: Debian's rabbitmq-server, which internal/rabbittest starts as a
## private node on free loopback ports (its init script is not used).
rabbitmq:
	@test -x /usr/lib/rabbitmq/bin/rabbitmq-server || { \
	  echo "installing rabbitmq-server (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq rabbitmq-server >/dev/null; }

## compose-tool: Debian's docker-compose (v1.29), used by compose/compose_test.go
## to validate compose/docker-compose.yml (`config -q`; no Docker engine needed).
compose-tool:
	@docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || { \
	  echo "installing docker-compose (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; }

venv: $(VENV)/.installed

$(VENV)/.installed: integration/requirements.txt
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r integration/requirements.txt
	touch $@

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.venv/*'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags integration ./integration/...

## lint: staticcheck, from the module proxy at a pinned version.
STATICCHECK_VERSION := v0.8.2
lint:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags integration ./integration/...

unit:
	$(GO) test -race -count=1 ./...

integration:
	$(GO) test -race -count=1 -tags integration -timeout 20m ./integration/...

## soak: the fault tests (integration/fault_test.go) at full size: 10,000
## tasks per kill -9 scenario, a 1,000,000-task backlog drained while the
## API is under load, a 20 s Redis outage. make test runs them in a short
## form (~1 min). Without -race, test and celeriac binary alike (the race
## detector would dominate the timing and the memory samples); tens of
## minutes. Full log in bin/soak.log.
soak: redis venv
	@mkdir -p bin
	set -o pipefail; CELERIAC_SOAK=1 $(GO) test -count=1 -tags integration -timeout 90m -v -run '^TestFault' ./integration/ 2>&1 \
	  | tee bin/soak.log | grep --line-buffered -E '^(=== RUN|--- |ok|FAIL|PASS)|fault: '

## smoke: the docker-compose topology as local processes (redis-server, API,
## two Go workers, Flower) and the original walkthrough against it (~6 s).
smoke: redis venv
	GO=$(GO) bash compose/smoke.sh

## fuzz: each fuzz target for a fixed number of executions (about 10 s
## each here). Not a duration: Go 1.26's fuzz coordinator can fail a
## duration-bounded run with a spurious "context deadline exceeded" as
## time runs out (golang/go#75804, fixed in Go 1.27). FUZZTIME=30s (or
## 1000000x) overrides all four.
FUZZTIME ?=
fuzztime = $(or $(FUZZTIME),$(1))
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(call fuzztime,100000x) ./internal/pyjson
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMessage$$' -fuzztime $(call fuzztime,40000x) ./celery
	$(GO) test -run '^$$' -fuzz '^FuzzParseCron$$' -fuzztime $(call fuzztime,50000x) ./beat
	$(GO) test -run '^$$' -fuzz '^FuzzWorkerMessage$$' -fuzztime $(call fuzztime,5000x) ./worker

## vulncheck: govulncheck against the Go vulnerability database, which the module
## proxy serves as golang.org/x/vulndb; indexed once (~1 min) into $(VULNDB).
## Fails on any called vulnerability, standard library included (go.mod's
## toolchain line pins the Go release). ~30 s.
VULN_VERSION := v1.9.0
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB := $(HOME)/.cache/celeriac/vulndb-$(VULNDB_VERSION)
vulncheck:
	@test -f $(VULNDB)/index/db.json || { \
	  echo "indexing golang.org/x/vulndb@$(VULNDB_VERSION) into $(VULNDB)"; \
	  dir=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
	  rm -rf $(VULNDB).tmp && mkdir -p $$(dirname $(VULNDB)) && \
	  $(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$dir/data/osv" -out $(VULNDB).tmp && \
	  mv $(VULNDB).tmp $(VULNDB); }
	set -o pipefail; $(GO) run golang.org/x/vuln/cmd/govulncheck@$(VULN_VERSION) -db file://$(VULNDB) -format json ./... | $(GO) run ./internal/tools/vulnfilter

## bench: celeriac against its peers (Python Celery, asynq, FastAPI, Redis'
## own ceiling) in one run on one private redis-server (and, for the amqp
## section, a private RabbitMQ node); writes bench/results/*.jsonl and
## regenerates docs/performance.md and docs/bench-*.png. BENCH_QUICK=1 for
## a small run, BENCH_N=… for N, BENCH_SECTIONS="amqp" for some sections.
bench: build deps bench-tools
	bash bench/run.sh

## bench-tools: jq (bench/run.sh writes and reads its JSON records with it);
## redis-benchmark and redis-cli come with the redis-server package.
bench-tools:
	@command -v jq >/dev/null 2>&1 || { \
	  echo "installing jq (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq jq >/dev/null; }

## screenshots: Flower's pages with a Go worker, taken by headless Chromium
## in the Flower integration test, into docs/ (not part of make test).
screenshots: deps chromium
	mkdir -p docs
	CELERIAC_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -tags integration -run '^TestFlower$$' ./integration/

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf bin $(VENV)
