# `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install  ## serve the API on AGENTFLOW_HOST:AGENTFLOW_PORT (default 127.0.0.1:8000)
	$(VENV)/bin/agentflow serve

test: install  ## the whole suite: unit, HTTP and integration (local Ray + simulator)
	$(PY) -m pytest

test-fast: install  ## unit and HTTP tests only (no Ray)
	$(PY) -m pytest tests/unit tests/http

bench: install  ## every benchmark, each printing ratios against its in-process baseline
	$(PY) benchmarks/sync_latency.py

clean:
	rm -rf $(VENV) .pytest_cache
