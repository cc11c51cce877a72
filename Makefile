# One entry point for every check. `make test` is the README's test command: it installs what it
# needs (uv, the app's venv, aws-sam-cli and checkov in venvs of their own), lints, validates,
# expands every parameter combination (deploycheck) and builds the SAM stack, then runs the whole
# pytest suite.
#
# `make help` lists every target: it prints the `## ` comment on each target's line, so a target
# without one is missing from it (tests/repo/test_makefile.py checks every .PHONY target has one).
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
# Lambda's runtime is python3.13: tests and `sam build` use the same interpreter. pyenv's 3.13.0 or
# a python3.13 on PATH; without one, scripts/python313.sh has uv provide one (or says what to do).
# `make PYTHON313= ...` pretends there is none.
PYTHON313 := $(shell PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null || command -v python3.13 2>/dev/null)
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
# In a recipe: py="$$($(FIND_PYTHON313))" && ... (fails, with its explanation, when there is none).
FIND_PYTHON313 := scripts/python313.sh "$(PYTHON313)" "$(UV)"
# uv itself, when it is missing: pip's, else a plain explanation.
NEED_UV := $(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv || { \
	echo "make needs uv: see https://docs.astral.sh/uv/getting-started/installation/ (pipx install uv)"; exit 1; }
export SAM_CLI_TELEMETRY := 0
# Python keeps its bytecode (__pycache__/, ignored by git and left out by sam build): a run does not
# compile again what the last one compiled, pytest's rewritten test modules included. Whoever set
# PYTHONDONTWRITEBYTECODE for their shell, make's recipes do not inherit it.
unexport PYTHONDONTWRITEBYTECODE

CHROMIUM := /usr/bin/chromium

.PHONY: help deps test unit repo lint validate deploycheck build deploy-preflight deploy sam events lock browser clean

help: ## this list
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-zA-Z0-9_-]+):.*## (.*)$$/\1|\2/' \
	  | awk -F'|' '{ printf "make %-12s %s\n", $$1, $$2 }'

$(PY): requirements-dev.txt layers/etpay/requirements.in
	@$(NEED_UV)
	py="$$($(FIND_PYTHON313))" && $(UV) venv --quiet --allow-existing --python "$$py" $(VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -r requirements-dev.txt
	@touch $(PY)

# aws-sam-cli pins its own boto3: it gets a venv of its own so it never fights the app's.
$(SAM):
	@$(NEED_UV)
	py="$$($(FIND_PYTHON313))" && $(UV) venv --quiet --allow-existing --python "$$py" $(SAM_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(SAM_VENV)/bin/python aws-sam-cli==$(SAM_CLI_VERSION)

# checkov pins a dependency tree of its own too: one more venv. Its bytecode is compiled once here,
# at install: that halves every run's start-up.
$(CHECKOV):
	@$(NEED_UV)
	py="$$($(FIND_PYTHON313))" && $(UV) venv --quiet --allow-existing --python "$$py" $(CHECKOV_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(CHECKOV_VENV)/bin/python checkov==$(CHECKOV_VERSION)

deps: $(PY) $(SAM) $(CHECKOV) ## the app's venv (.venv), aws-sam-cli's (.venv-sam) and checkov's (.venv-checkov), with uv

# mypy --strict on what ships, the local stack and the operator CLI, the default level on the
# tooling; lint-imports holds the layer's rings (pyproject.toml's [tool.importlinter] contracts).
lint: $(PY) ## ruff, mypy (--strict on layers/ functions/ local/ ops/) and the import contracts of the rings
	$(VENV)/bin/ruff check layers functions local ops tests bench scripts
	$(VENV)/bin/mypy --strict layers/etpay functions local ops
	$(VENV)/bin/mypy tests bench scripts
	PYTHONPATH=layers/etpay $(VENV)/bin/lint-imports

validate: $(SAM) ## sam validate --lint
	$(SAM) validate --lint

# What `sam validate --lint` cannot see: each combination of deploycheck.yaml's switches (and each
# samconfig.toml environment) through AWS::LanguageExtensions and the SAM transform, offline.
# cfn-lint is aws-sam-cli's own (the one `sam validate --lint` runs).
deploycheck: $(SAM) $(CHECKOV) ## expand every parameter combination as CloudFormation does at deploy, then cfn-lint + checkov (switches: deploycheck.yaml)
	$(SAM_VENV)/bin/python -m scripts.deploycheck --out $(DEPLOYCHECK_DIR) \
	  --cfn-lint $(SAM_VENV)/bin/cfn-lint --checkov $(CHECKOV)

# sam build runs `python3.13 -m pip`, and pyenv's shim finds none: the interpreter's own directory
# goes first on PATH, for every sam command.
SAM_RUN = py="$$($(FIND_PYTHON313))" && PATH="$$(dirname "$$py"):$$PATH" $(SAM)

build: $(SAM) ## sam build into .aws-sam/build
	$(SAM_RUN) build --build-dir $(BUILD_DIR)

# A region, credentials and a working sam first, in a second and without calling AWS
# (scripts/deploy_preflight.py), then the long checks: deploycheck and sam build run only once
# the preflight passed, even with make -j.
deploy-preflight: $(PY) $(SAM) ## what make deploy checks first: an AWS region, AWS credentials and sam (nothing sent to AWS)
	ARGS='$(subst ','\'',$(ARGS))' $(PY) scripts/deploy_preflight.py --env $(ENV) --sam $(SAM)

deploy: deploy-preflight ## preflight, deploycheck, sam build, sam deploy with samconfig.toml's [default] (ETpay sandbox); ENV=production, ARGS="..." for more options
	$(MAKE) --no-print-directory deploycheck build
	$(SAM_RUN) deploy --template-file $(BUILD_DIR)/template.yaml \
	  --config-file $(CURDIR)/samconfig.toml --config-env $(ENV) $(ARGS)

sam: $(SAM) ## any sam command, e.g. make sam ARGS="local invoke ...", with the python3.13 sam build needs on PATH
	$(SAM_RUN) $(ARGS)

events: $(PY) ## regenerate events/ for sam local invoke
	PYTHONPATH=layers/etpay $(PY) -m scripts.make_events

# The layer's lock: every transitive dependency pinned and hashed, for Lambda's Python and CPU.
# botocore and its own dependencies are left out: the Lambda runtime ships them.
LAYER_LOCK_EXCLUDED := botocore python-dateutil six
lock: ## re-lock the layer's dependencies (layers/etpay/requirements.txt) after editing requirements.in
	@$(NEED_UV)
	py="$$($(FIND_PYTHON313))" && $(UV) pip compile layers/etpay/requirements.in --quiet --generate-hashes \
	  --python "$$py" --python-platform x86_64-manylinux_2_28 $(LAYER_LOCK_EXCLUDED:%=--no-emit-package %) \
	  --custom-compile-command "make lock" -o layers/etpay/requirements.txt

# The fast tiers: the pure rules (tests/unit) and everything on moto in-process (tests/integration).
# Nothing else is installed for them: no aws-sam-cli, no build, no local stack.
unit: $(PY) ## the fast tests: domain, use cases, adapters and handlers on moto (no sam, no build, no local stack)
	$(PY) -m pytest tests/unit tests/integration -n auto -p no:schemathesis -p no:anyio

# How long each quick tier takes on this machine, measured now and written with the date and the
# load into docs/TESTING.md (the docs give no other timing: tests/repo/test_docs_timings.py).
.PHONY: tier-timings
tier-timings: $(PY) ## measure the quick test tiers here and write their timings, dated, into docs/TESTING.md
	$(PY) -m scripts.tier_timings $(ARGS)

# Repository checks: the docs, the runbook's commands (against `sam --help`), the lock files, the
# template's shape. aws-sam-cli for the runbook's sam options.
repo: $(PY) $(SAM) ## repository checks: docs, runbook, lock files, template shape
	$(PY) -m pytest tests/repo

# The browser test needs Debian's chromium; as root (CI) it is installed here.
browser: ## Debian's chromium, for the browser test (installed when run as root)
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser test needs Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

# Branch coverage of the layer (what the functions run) is printed at the end of the run.
test: deps lint validate deploycheck build browser ## install everything, lint, validate, deploycheck, build the SAM stack, run all tests, run the demo
	BUILD_DIR=$(BUILD_DIR) $(PY) -m pytest tests --cov=layers --cov-branch --cov-report=term-missing
	$(MAKE) --no-print-directory local-demo

clean: ## remove the venvs and the sam build
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam

# -- the docker-free local stack (local/): ETpay sandbox, moto, the template's API and functions --
# They need the app's venv only: aws-sam-cli is never used by them.
.PHONY: local local-demo local-reset scenario e2e

# Serves on 127.0.0.1 (API 3000, ETpay sandbox 8700, moto 5055, merchant page 8800, webhooks 8900)
# after one demo payment; Ctrl-C stops it. COUNTRY=mx runs it as ETpay Mexico (Currency=MXN), cl
# (the default) as Chile. PERSIST=1 keeps the orders across restarts (DynamoDB Local's files in
# .local/state); make local-reset deletes them.
COUNTRY ?= cl
LOCAL_CURRENCY = $(or $(if $(filter cl CL,$(COUNTRY)),CLP),$(if $(filter mx MX,$(COUNTRY)),MXN),$(error COUNTRY must be cl (Chile) or mx (Mexico), not "$(COUNTRY)"))
LOCAL_PERSIST = $(if $(filter 1 yes true,$(PERSIST)),--persist)

local: $(PY) ## run the whole stack on 127.0.0.1, pay a demo order, keep serving; COUNTRY=mx for Mexico, PERSIST=1 keeps orders
	$(PY) -m local --currency $(LOCAL_CURRENCY) $(LOCAL_PERSIST)

local-demo: $(PY) ## the demo payment only, then exit (0 = the order ended PAID and its webhook arrived); COUNTRY=mx for Mexico
	$(PY) -m local --demo-only --currency $(LOCAL_CURRENCY)

local-reset: ## forget what make local PERSIST=1 kept (.local/state): the next start is clean
	rm -rf .local/state

scenario: $(PY) ## one local scenario, e.g. make scenario NAME=double-payment (make local lists them); exit 0 = PASS
	@test -n "$(NAME)" || { echo "make scenario NAME=...: failed-payment, double-payment, lost-notification, webhook-down, session-expires"; exit 2; }
	$(PY) -m local scenario $(NAME) --currency $(LOCAL_CURRENCY)

e2e: $(PY) browser ## the end-to-end tests over HTTP and in headless chromium
	$(PY) -m pytest tests/e2e

# -- the operators' command line (ops/README.md): the review queue, resolutions, orders, redelivery,
# signed with SigV4 from the operator's AWS identity --
.PHONY: ops
ops: $(PY) ## the operator CLI (ops/README.md), e.g. make ops ARGS="--stack NAME reviews"
	$(PY) -m ops $(ARGS)

# Benchmarks (docs/BENCHMARKS.md): the seven built functions against bare-boto3 baselines (cold,
# warm, their memory sizes and costs), our ETpay client against etpay-sdk 1.0.1 (which lives only in
# its own bench venv), the notification-to-webhook latency and the reconciler at scale; each part's
# duration is in the report. `python -m bench --only PART` runs one part (python -m bench --help).
BENCH_SDK_VENV := bench/.venv-sdk
.PHONY: profile
profile: $(PY) ## where warm invocations spend CPU, e.g. make profile FUNCTIONS="PaymentsFunction NotificationsFunction"
	@test -n "$(FUNCTIONS)" || { echo 'make profile FUNCTIONS="PaymentsFunction ...": the template'"'"'s function names'; exit 2; }
	PYTHONPATH=layers/etpay $(PY) -m bench.profile $(FUNCTIONS) $(ARGS)
.PHONY: bench
bench: deps build ## benchmarks, written to docs/BENCHMARKS.md
	@$(NEED_UV)
	py="$$($(FIND_PYTHON313))" && $(UV) venv --quiet --allow-existing --python "$$py" $(BENCH_SDK_VENV)
	$(UV) pip install --quiet --python $(BENCH_SDK_VENV)/bin/python etpay-sdk==1.0.1 requests
	PYTHONPATH=layers/etpay $(PY) -m bench $(ARGS)
