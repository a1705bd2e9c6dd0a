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
# Where datums run (host | sandbox | container | auto); empty: PACHLET_RUNTIME, the root's setting, auto.
RUNTIME ?=
# podman on cgroups-v1 "hybrid" machines (the CI VM) needs runc; the quirk lives in this file only.
ifeq ($(CONTAINERS_CONF),)
ifneq ($(shell stat -fc %T /sys/fs/cgroup 2>/dev/null),cgroup2fs)
export CONTAINERS_CONF := $(CURDIR)/images/containers-hybrid-cgroups.conf
endif
endif

.PHONY: setup demo test test-fast specs bench lint clean browser runtimes image lock sdk212 jupyter-venv jupyter

setup: $(STAMP)

# Re-installs only when the project's metadata changes; the package is editable.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# The newest pachyderm-sdk in its own venv (the main venv holds 2.10, which jupyterlab-pachyderm 2.12.2
# pins); the 2.8+ API tests run its client in a subprocess and skip, naming it, when it is absent.
SDK212 := .venv-sdk212
sdk212: $(SDK212)/.installed
$(SDK212)/.installed:
	@test -x $(SDK212)/bin/python || $(PYTHON) -m venv $(SDK212)
	$(SDK212)/bin/python -m pip install --quiet --disable-pip-version-check 'pachyderm-sdk==2.12.2' \
	  || echo "warning: could not build $(SDK212); the pachyderm-sdk 2.12 tests will be skipped"
	@test -x $(SDK212)/bin/python && $(SDK212)/bin/python -c 'import pachyderm_sdk' && touch $@ || true

# JupyterLab with the Pachyderm extension, in its own venv (its jupyter_server pins stay out of .venv).
JUPYTER_VENV := .venv-jupyter
jupyter-venv: $(JUPYTER_VENV)/.installed
$(JUPYTER_VENV)/.installed:
	@test -x $(JUPYTER_VENV)/bin/python || $(PYTHON) -m venv $(JUPYTER_VENV)
	$(JUPYTER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  'jupyterlab>=4.2,<4.4' 'jupyterlab-pachyderm==2.12.2' 'ipykernel>=6.29' \
	  || echo "warning: could not build $(JUPYTER_VENV); the Jupyter tests will be skipped"
	@test -x $(JUPYTER_VENV)/bin/jupyter-lab && touch $@ || true

# pachlet serve (if none answers on the context's address) and JupyterLab with jupyterlab-pachyderm
# pointed at it through .churn/jupyter/config.json (never ~/.pachyderm/config.json), notebook open.
jupyter: setup jupyter-venv
	$(BIN)/churn jupyter --jupyter $(JUPYTER_VENV)/bin/jupyter-lab

# Debian's Chromium for the console's browser tests (no browser download).
browser:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium (browser tests)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

# bubblewrap (the sandbox runtime, pachlet's default on Linux) and podman + runc + mmdebstrap (the
# container runtime and `make image` without a registry), from Debian's packages when apt is there.
runtimes:
	@command -v bwrap >/dev/null && command -v podman >/dev/null && command -v mmdebstrap >/dev/null || { \
	  echo "installing bubblewrap, podman, runc, mmdebstrap (runtimes)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap podman runc \
	    mmdebstrap >/dev/null) || echo "warning: could not install them; sandbox/container tests will be skipped"; }

# Every image of images/images.json, tagged as the local specs name them. Without a registry (or with
# LOCAL_BASE=1) the base is built once with mmdebstrap. Cached by the engine between runs.
image: setup runtimes
	$(BIN)/python images/build.py $(if $(LOCAL_BASE),--local-base)

# The image's dependency lock, from this (tested) venv.
lock: setup
	$(BIN)/python images/lock.py > images/churn/requirements.lock

demo: setup $(if $(filter container,$(RUNTIME)),image)
	$(if $(RUNTIME),PACHLET_RUNTIME=$(RUNTIME)) $(BIN)/churn demo --members $(MEMBERS)

test: setup browser runtimes sdk212 jupyter-venv
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
	rm -rf $(VENV) $(SDK212) $(JUPYTER_VENV) .pachlet .churn .pytest_cache .ruff_cache build dist src/*.egg-info bench/results test-artifacts
