# chatapp: `make run` to use it, `make test` to check it. Both install what is missing.
SHELL := /bin/bash
PY_VERSION ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
BUN := $(TOOLS)/node_modules/.bin/bun
PG_BIN := /usr/lib/postgresql/15/bin
CHROMIUM := /usr/bin/chromium
export PATH := $(CURDIR)/$(TOOLS)/node_modules/.bin:$(PATH)
export REFLEX_USE_SYSTEM_BUN := 1
export REFLEX_TELEMETRY_ENABLED := false
BACKEND_PORT ?= 8000
BACKEND_HOST ?= 127.0.0.1
FRONTEND_PORT ?= 3000
export BACKEND_PORT

.PHONY: run api test bench bench-search served capacity load profile abuse migrate install deps system-deps clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PY_VERSION) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(BUN):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) bun@1.4.4

install: $(VENV)/.installed $(BUN)

# Debian packages the tests need: PostgreSQL 15, Redis and Chromium (and wrk, for the served benchmarks).
system-deps:
	@if [ ! -x $(PG_BIN)/initdb ] || [ ! -x $(CHROMIUM) ] || ! command -v redis-server >/dev/null || ! command -v wrk >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql chromium redis-server wrk >/dev/null; \
	fi

migrate: install
	$(PY) -m alembic upgrade head

# The web UI (frontend :$(FRONTEND_PORT)) and the backend (:$(BACKEND_PORT)), zero configuration.
# Hot reload watches the code only: the SQLite file and the JWT secret under
# data/ change on every turn and must not restart the backend mid-request.
run: migrate
	LOG_FORMAT=$${LOG_FORMAT:-text} REFLEX_HOT_RELOAD_OVERRIDE_PATHS=$(CURDIR)/chatapp \
		$(VENV)/bin/reflex run --env dev --frontend-port $(FRONTEND_PORT) --backend-port $(BACKEND_PORT)

# Backend only: REST API, MCP server at /mcp and the Reflex backend, served by
# Granian from $(WORKERS) processes (1 if unset; more need REDIS_URL). It refuses
# to start without a JWT_SECRET of 32+ bytes, migrates, then becomes Granian
# (see chatapp/serve.py for why not `reflex run --env prod --backend-only`).
api: install
	@exec env BACKEND_HOST=$(BACKEND_HOST) WORKERS=$(WORKERS) $(PY) -m chatapp.serve

test: install system-deps
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The turn beside the peer design (a few minutes), then every plot redrawn from bench/results/*.json.
bench: install system-deps
	$(PY) bench/turn.py $(BENCH_ARGS)
	$(PY) bench/plots.py

# `make api` driven by wrk: 1, 2 and 4 workers, concurrency 1 to 32 (about 6 minutes).
served: install system-deps
	$(PY) bench/served.py $(BENCH_ARGS)

# Streamed turns in flight against a slow model, open loop, rising rate (up to 25 minutes).
capacity: install system-deps
	$(PY) bench/capacity.py $(BENCH_ARGS)

# locust: 1,000 users with think time over 10,000 conversations for 2 minutes, 4 workers.
load: install system-deps
	$(PY) bench/load.py $(BENCH_ARGS)

# py-spy on a served worker under wrk: where a plain and a tool turn's CPU goes.
profile: install system-deps
	$(PY) bench/cpu_profile.py $(BENCH_ARGS)

# Search p95 on PostgreSQL: one user with 100,000 messages among 1,000,000 (about 12 minutes).
bench-search: install system-deps
	$(PY) bench/search.py

# Login flood and 100 MB bodies against `make api`, printing server RSS and /api/health latency.
abuse: install system-deps
	$(PY) bench/abuse.py

clean:
	rm -rf $(VENV) $(TOOLS) .web .states data test-artifacts
