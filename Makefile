# celeriac — the two commands are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
PY ?= python3
VENV := .venv
BIN := bin/celeriac
export CELERIAC_REQUIRE_REDIS := 1
export CELERIAC_PYTHON := $(CURDIR)/$(VENV)/bin/python
export CELERIAC_REQUIRE_COMPOSE := 1

.PHONY: all build run test deps redis venv compose-tool vet unit integration smoke fuzz bench bench-tools lint clean screenshots chromium

all: build

build:
	$(GO) build -o $(BIN) ./cmd/celeriac

## run: build and start `celeriac serve`: HTTP API on :8000, Go worker, embedded broker (no Redis needed).
run: build
	$(BIN) serve

## test: install what the tests need, then vet, unit tests (-race), integration tests,
## the compose smoke test, short fuzzing.
test: deps vet unit integration smoke fuzz

deps: redis venv compose-tool

redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@redis-server --version

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

unit:
	$(GO) test -race -count=1 ./...

integration:
	$(GO) test -race -count=1 -tags integration -timeout 20m ./integration/...

## smoke: the docker-compose topology as local processes (redis-server, API,
## two Go workers, Flower) and the original walkthrough against it (~6 s).
smoke: redis venv
	GO=$(GO) bash compose/smoke.sh

FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/pyjson
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMessage$$' -fuzztime $(FUZZTIME) ./celery

## bench: celeriac against its peers (Python Celery, asynq, FastAPI, Redis'
## own ceiling) in one run on one private redis-server; writes
## bench/results/*.jsonl and regenerates docs/performance.md and
## docs/bench-*.png. BENCH_QUICK=1 for a small run, BENCH_N=… for N.
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
