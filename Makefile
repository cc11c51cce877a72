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

.PHONY: help deps test unit lint validate build events clean

help:
	@echo "make test      install everything, lint, validate + build the SAM stack, run all tests"
	@echo "make unit      only the fast tests (no sam build)"
	@echo "make build     sam build into $(BUILD_DIR)"
	@echo "make events    regenerate events/ for sam local invoke"

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

deps: $(PY) $(SAM)

lint: $(PY)
	$(VENV)/bin/ruff check layers functions local tests scripts

validate: $(SAM)
	$(SAM) validate --lint

build: $(SAM)
	PATH="$(PYTHON313_DIR):$$PATH" $(SAM) build --build-dir $(BUILD_DIR)

events: $(PY)
	$(PY) scripts/make_events.py

unit: $(PY)
	$(PY) -m pytest tests -m "not built"

test: deps lint validate build
	BUILD_DIR=$(BUILD_DIR) $(PY) -m pytest tests

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam
