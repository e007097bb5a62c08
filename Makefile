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

install: $(VENV)/.installed

# The dashboard's browser tests drive Debian's chromium through Playwright
# (`playwright install` downloads its own browser build, which cannot be had here).
CHROMIUM ?= /usr/bin/chromium

browser:  ## install Debian's chromium for tests/browser when it is missing (needs root, as in CI)
	@if [ ! -x $(CHROMIUM) ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

run: install  ## serve the API on AGENTFLOW_HOST:AGENTFLOW_PORT (default 127.0.0.1:8000)
	$(VENV)/bin/agentflow serve

test: install browser  ## the whole suite: unit, HTTP, integration (local Ray + simulator) and browser
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
