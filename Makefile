# Two commands matter: `make dev` (everything locally, with demo traffic) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
PY313 ?= $(shell (pyenv root 2>/dev/null | sed 's|$$|/versions/3.13.0/bin/python3|') ; command -v python3.13 2>/dev/null)
VENV := .venv
BQVENV := .venv-bq
BIN := $(VENV)/bin
PYTEST := $(BIN)/pytest
UNIT_WORKERS ?= 2
SDK_DIR := tests/e2e/sdk

.PHONY: help setup dev test test-unit test-integration test-e2e test-infra test-faults check lint typecheck plan-lint fmt bench bench-burst clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(VENV)/.stamp: requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required for the app venv (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

$(BQVENV)/.stamp: requirements-bqemulator.txt requirements-bqemulator-extensions.txt
	@py=""; for c in $(PY313); do [ -x "$$c" ] && py="$$c" && break; done; \
	if [ -z "$$py" ]; then echo "error: Python 3.13 is needed for the BigQuery emulator (pyenv 3.13.0 or python3.13 on PATH)" >&2; exit 2; fi; \
	"$$py" -m venv $(BQVENV)
	$(BQVENV)/bin/pip install -q --disable-pip-version-check -r requirements-bqemulator.txt
	$(BQVENV)/bin/pip install -q --disable-pip-version-check -r requirements-bqemulator-extensions.txt 2>&1 | grep -v "requires duckdb" || true
	$(BQVENV)/bin/python -c 'import duckdb_extensions as d; [d.import_extension(e) for e in ("icu", "ducklake", "spatial")]'
	touch $@

$(SDK_DIR)/node_modules/.stamp: $(SDK_DIR)/package.json $(SDK_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "error: Node.js 18+ and npm are needed for the JavaScript SDK tests" >&2; exit 2; }
	cd $(SDK_DIR) && npm install --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.stamp $(BQVENV)/.stamp ## create both venvs (cached; redone when requirements change)

dev: setup ## run the whole platform on emulators with demo traffic (Ctrl-C stops all)
	$(BIN)/cdp dev $(ARGS)

check: lint typecheck plan-lint ## ruff, mypy strict, the shipped tracking plan

plan-lint: $(VENV)/.stamp ## cdp plan lint on the shipped tracking plan
	$(BIN)/cdp plan lint

lint: $(VENV)/.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.stamp
	$(BIN)/mypy

fmt: $(VENV)/.stamp ## format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup $(SDK_DIR)/node_modules/.stamp check ## every test: unit, integration, end-to-end, the fault suite's short form, infra
	$(PYTEST) -n $(UNIT_WORKERS) tests/unit  # pure: in parallel, one process per core
	$(PYTEST) tests/integration
	$(PYTEST) tests/e2e  # its own session: the integration emulators are stopped by then
	@# The fault suite mostly waits out its faults: the infra tests (CPU) run meanwhile.
	@$(MAKE) --no-print-directory test-infra > .test-infra.log 2>&1 & infra=$$!; \
	$(PYTEST) -s tests/faults; faults=$$?; wait $$infra; infra_status=$$?; \
	echo "--- make test-infra (run beside the fault suite)"; cat .test-infra.log; rm -f .test-infra.log; \
	[ $$faults -eq 0 ] && [ $$infra_status -eq 0 ]

test-unit: $(VENV)/.stamp ## pure tests with fakes (seconds, in parallel)
	$(PYTEST) -n $(UNIT_WORKERS) tests/unit

test-integration: setup ## adapters and functions on the emulators
	$(PYTEST) tests/integration

test-e2e: setup $(SDK_DIR)/node_modules/.stamp ## the whole local stack driven as a user would
	$(PYTEST) tests/e2e

test-infra: $(VENV)/.stamp ## the Pulumi program under pulumi.runtime mocks (own process)
	@if ls tests/infra/test_*.py >/dev/null 2>&1; then $(PYTEST) -p no:cacheprovider tests/infra; else echo "no infra tests yet"; fi

bench: setup ## benchmarks, printed as ratios against a baseline measured in the same run
	@if [ -d bench ]; then $(BIN)/python -m bench; else echo "no benchmarks yet"; fi

test-faults: setup ## the whole fault suite: faults of minutes on its own local stack (make test runs a short form)
	CDP_FAULTS_FULL=1 $(PYTEST) -s tests/faults

bench-burst: setup ## a 3,500-event burst through the whole local stack (fails on missed targets)
	$(BIN)/python -m bench.burst

clean: ## remove venvs and local state
	rm -rf $(VENV) $(BQVENV) .dev .pytest_cache .mypy_cache .ruff_cache
