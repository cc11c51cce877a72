# One entry point for every check. `make test` is the README's test command: it installs what it
# needs (uv, the app's venv, aws-sam-cli in its own venv), lints, validates and builds the SAM
# stack, then runs the whole pytest suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SAM_CLI_VERSION := 1.170.0
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
BUILD_DIR := .aws-sam/build
# Lambda's runtime is python3.13: tests and `sam build` use the same interpreter.
PYTHON313 := $(shell PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null || command -v python3.13 2>/dev/null)
PYTHON313_DIR := $(dir $(PYTHON313))
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

CHROMIUM := /usr/bin/chromium

.PHONY: help deps test unit lint validate build events lock browser clean

help:
	@echo "make local       run the whole stack on 127.0.0.1 (ETpay sandbox, AWS emulator, API), pay a demo order"
	@echo "make test        install everything, lint, validate + build the SAM stack, run all tests, run the demo"
	@echo "make unit        only the fast tests (no sam build, no local stack)"
	@echo "make local-demo  the demo payment only, then exit (0 = the order ended PAID and its webhook arrived)"
	@echo "make e2e         the end-to-end tests over HTTP and in headless chromium"
	@echo "make bench       benchmarks, written to docs/BENCHMARKS.md"
	@echo "make build       sam build into $(BUILD_DIR)"
	@echo "make events      regenerate events/ for sam local invoke"
	@echo "make lock        re-lock the layer's dependencies (layers/etpay/requirements.txt) after editing requirements.in"

$(PY): requirements-dev.txt layers/etpay/requirements.in
	@test -n "$(PYTHON313)" || { echo "python3.13 not found (pyenv install 3.13)"; exit 1; }
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) venv --quiet --allow-existing --python $(PYTHON313) $(VENV)
	$(UV) pip install --quiet --python $(PY) -r requirements-dev.txt
	@touch $(PY)

# aws-sam-cli pins its own boto3: it gets a venv of its own so it never fights the app's.
$(SAM):
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) venv --quiet --allow-existing --python $(PYTHON313) $(SAM_VENV)
	$(UV) pip install --quiet --python $(SAM_VENV)/bin/python aws-sam-cli==$(SAM_CLI_VERSION)

deps: $(PY) $(SAM)

lint: $(PY)
	$(VENV)/bin/ruff check layers functions local tests scripts

validate: $(SAM)
	$(SAM) validate --lint

build: $(SAM)
	PATH="$(PYTHON313_DIR):$$PATH" $(SAM) build --build-dir $(BUILD_DIR)

events: $(PY)
	$(PY) scripts/make_events.py

# The layer's lock: every transitive dependency pinned and hashed, for Lambda's Python and CPU.
# botocore and its own dependencies are left out: the Lambda runtime ships them.
LAYER_LOCK_EXCLUDED := botocore python-dateutil six
lock:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) pip compile layers/etpay/requirements.in --quiet --generate-hashes --python $(PYTHON313) \
	  --python-platform x86_64-manylinux_2_28 $(LAYER_LOCK_EXCLUDED:%=--no-emit-package %) \
	  --custom-compile-command "make lock" -o layers/etpay/requirements.txt

unit: $(PY)
	$(PY) -m pytest tests/unit tests/integration tests/sandbox -m "not built"

# The browser test needs Debian's chromium; as root (CI) it is installed here.
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser test needs Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

test: deps lint validate build browser
	BUILD_DIR=$(BUILD_DIR) $(PY) -m pytest tests
	$(MAKE) --no-print-directory local-demo

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam

# -- the docker-free local stack (local/): ETpay sandbox, moto, the template's API and functions --
.PHONY: local local-demo e2e

# Serves on 127.0.0.1 (API 3000, ETpay sandbox 8700, moto 5055) after one demo payment; Ctrl-C stops it.
local: deps
	$(PY) -m local

# The demo payment end to end, then exit 0 (paid) or 1.
local-demo: deps
	$(PY) -m local --demo-only

# End to end over HTTP, and one real browser (Debian's chromium).
e2e: deps browser
	$(PY) -m pytest tests/e2e

# Benchmarks (docs/BENCHMARKS.md): the built functions against bare-boto3 baselines, cold and warm,
# and our ETpay client against etpay-sdk 1.0.1, which lives only in its own bench venv.
BENCH_SDK_VENV := bench/.venv-sdk
.PHONY: bench
bench: deps build
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) venv --quiet --allow-existing --python $(PYTHON313) $(BENCH_SDK_VENV)
	$(UV) pip install --quiet --python $(BENCH_SDK_VENV)/bin/python etpay-sdk==1.0.1 requests
	$(PY) bench/run.py
