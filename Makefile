# Entry points. `make demo` and `make test` each do all their own set-up from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MEMBERS ?= 20000
export CHURN_HOME ?= $(CURDIR)/.churn
export PACHLET_ROOT ?= $(CURDIR)/.pachlet
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test test-fast specs bench lint clean browser

setup: $(STAMP)

# Re-installs only when the project's metadata changes; the package is editable.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# Debian's Chromium for the console's browser tests (no browser download).
browser:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium (browser tests)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

demo: setup
	$(BIN)/churn demo --members $(MEMBERS)

test: setup browser
	$(BIN)/python -m pytest -q

# The unit tests: no pachlet serve, no pipelines of stage subprocesses, no browser (under a minute).
test-fast: setup
	$(BIN)/python -m pytest -q -m "not e2e and not slow and not browser"

specs: setup
	$(BIN)/churn render --all

bench: setup
	$(BIN)/python bench/run.py

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) .pachlet .churn .pytest_cache .ruff_cache build dist src/*.egg-info bench/results test-artifacts
