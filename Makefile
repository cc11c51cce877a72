# One entry point for every check. `make test` is the README's test command: it installs what it
# needs (uv, the app's venv, aws-sam-cli and checkov in venvs of their own), lints, validates,
# expands every parameter combination (deploycheck) and builds the SAM stack, then runs the whole
# pytest suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

SAM_CLI_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
CHECKOV := $(CHECKOV_VENV)/bin/checkov
BUILD_DIR := .aws-sam/build
DEPLOYCHECK_DIR := .aws-sam/deploycheck
# samconfig.toml environment of `make deploy`: default (ETpay sandbox) or production.
ENV ?= default
# Lambda's runtime is python3.13: tests and `sam build` use the same interpreter.
PYTHON313 := $(shell PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null || command -v python3.13 2>/dev/null)
PYTHON313_DIR := $(dir $(PYTHON313))
# `sam build` runs the python3.13 it finds on PATH, and pyenv's shim finds none: put ours first.
SAM_ENV := PATH="$(PYTHON313_DIR):$$PATH"
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

CHROMIUM := /usr/bin/chromium

.PHONY: help deps test unit lint validate deploycheck build deploy sam events browser clean

help:
	@echo "make local       run the whole stack on 127.0.0.1 (ETpay sandbox, AWS emulator, API), pay a demo order"
	@echo "make test        install everything, lint, validate, deploycheck + build the SAM stack, run all tests,"
	@echo "                 run the demo"
	@echo "make unit        only the fast tests (no sam build, no local stack)"
	@echo "make local-demo  the demo payment only, then exit (0 = the order ended PAID)"
	@echo "make e2e         the end-to-end tests over HTTP and in headless chromium"
	@echo "make bench       benchmarks, written to docs/BENCHMARKS.md"
	@echo "make deploycheck expand every parameter combination as CloudFormation does at deploy, then"
	@echo "                 cfn-lint + checkov over the results (switches: deploycheck.yaml)"
	@echo "make build       sam build into $(BUILD_DIR)"
	@echo "make deploy      deploycheck, sam build, sam deploy with samconfig.toml's [default] (ETpay"
	@echo "                 sandbox); ENV=production for production, ARGS=\"...\" for more sam deploy options"
	@echo "make sam ARGS=\"local invoke ...\"  any sam command, with the python3.13 sam build needs on PATH"
	@echo "make events      regenerate events/ for sam local invoke"

$(PY): requirements-dev.txt layers/etpay/requirements.txt
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

# checkov pins a dependency tree of its own too: one more venv. Its bytecode is compiled once
# here (PYTHONDONTWRITEBYTECODE is set): that halves every run's start-up.
$(CHECKOV):
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) venv --quiet --allow-existing --python $(PYTHON313) $(CHECKOV_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(CHECKOV_VENV)/bin/python checkov==$(CHECKOV_VERSION)

deps: $(PY) $(SAM) $(CHECKOV)

lint: $(PY)
	$(VENV)/bin/ruff check layers functions local tests scripts

validate: $(SAM)
	$(SAM) validate --lint

# What `sam validate --lint` cannot see: each combination of deploycheck.yaml's switches (and each
# samconfig.toml environment) through AWS::LanguageExtensions and the SAM transform, offline.
# cfn-lint is aws-sam-cli's own (the one `sam validate --lint` runs).
deploycheck: $(SAM) $(CHECKOV)
	$(SAM_VENV)/bin/python -m scripts.deploycheck --out $(DEPLOYCHECK_DIR) \
	  --cfn-lint $(SAM_VENV)/bin/cfn-lint --checkov $(CHECKOV)

build: $(SAM)
	$(SAM_ENV) $(SAM) build --build-dir $(BUILD_DIR)

deploy: deploycheck build
	$(SAM_ENV) $(SAM) deploy --template-file $(BUILD_DIR)/template.yaml \
	  --config-file $(CURDIR)/samconfig.toml --config-env $(ENV) $(ARGS)

sam: $(SAM)
	$(SAM_ENV) $(SAM) $(ARGS)

events: $(PY)
	$(PY) scripts/make_events.py

unit: $(PY)
	$(PY) -m pytest tests/unit tests/integration tests/sandbox -m "not built"

# The browser test needs Debian's chromium; as root (CI) it is installed here.
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser test needs Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

test: deps lint validate deploycheck build browser
	BUILD_DIR=$(BUILD_DIR) $(PY) -m pytest tests
	$(MAKE) --no-print-directory local-demo

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam

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
