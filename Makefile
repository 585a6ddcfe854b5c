# Two commands: `make demo` and `make test`. Both install what they need into .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest chromium clean-var lock bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.run-deps

## demo: embedded Postgres + Redis under ./var (unless DATABASE_URL / REDIS_URL are set), migrate, seed, run
demo: $(VENV)/.run-deps
	$(BIN)/python -m vectis.demo

## test: ruff, mypy, then pytest (unit, integration, browser)
test: $(VENV)/.dev-deps chromium lint typecheck pytest

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev-deps
	$(BIN)/mypy

# pytest runs on 4 xdist workers (pyproject's addopts); `make pytest PYTEST_ARGS="-n 0"` runs it serially.
PYTEST_ARGS ?=
pytest: $(VENV)/.dev-deps chromium
	$(BIN)/pytest $(PYTEST_ARGS)

# Browser tests drive Debian's Chromium; install it when missing and we may (never `playwright install`).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

## bench: every benchmark at smoke scale, then one table of figures; `make bench BENCH_ARGS=--full` for MSP scale
BENCH_ARGS ?=
bench: $(VENV)/.dev-deps
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## lock: re-pin requirements after editing requirements*.in
lock: $(VENV)/.dev-deps
	$(BIN)/pip-compile -q --strip-extras --no-header requirements.in -o requirements.txt
	$(BIN)/pip-compile -q --strip-extras --no-header requirements-dev.in -o requirements-dev.txt

clean-var:
	rm -rf var
