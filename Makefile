# `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install browser run test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# GGML_NATIVE=ON builds for the build machine's CPU; on this one that build crashed on the
# first completion (general protection fault in libggml-cpu), so the features are named.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_OPENMP=OFF

# Its own stamp: changing pyproject.toml reinstalls the project, not llama.cpp.
$(VENV)/.real-model: requirements-real-model.txt | $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet -r requirements-real-model.txt
	touch $@

install: $(VENV)/.installed $(VENV)/.real-model

# The dashboard's browser tests drive Debian's chromium through Playwright
# (`playwright install` downloads its own browser build, which cannot be had here).
CHROMIUM ?= /usr/bin/chromium

browser:  ## install Debian's chromium for tests/browser when it is missing (needs root, as in CI)
	@if [ ! -x $(CHROMIUM) ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

run: install  ## serve the API on AGENTFLOW_HOST:AGENTFLOW_PORT (default 127.0.0.1:8000)
	$(VENV)/bin/agentflow serve

test: install browser  ## the whole suite: unit, HTTP, integration (local Ray + simulator), real model and browser
	$(PY) -m pytest

test-fast: install  ## unit and HTTP tests only (no Ray)
	$(PY) -m pytest tests/unit tests/http

bench: install  ## every benchmark, each printing ratios against its in-process baseline
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) benchmarks/sync_latency.py
	$(PY) benchmarks/throughput.py --scenario all --plot
	$(PY) benchmarks/store.py
	$(PY) benchmarks/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache
