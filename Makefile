# Fresh machine to running system in one command: `make demo` or `make test`.
# The virtualenv lives outside the clone (~/.cache/graphmem/venv) so the large PyTorch wheel is
# installed once; the stamp re-installs when pyproject.toml or the checkout path changes.
SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/graphmem
VENV ?= $(CACHE)/venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-$(shell cat pyproject.toml | sha256sum | cut -c1-10)-$(shell echo $(CURDIR) | sha256sum | cut -c1-8)
PYTEST_ARGS ?=

.PHONY: venv system demo test test-all lint neo4j-up neo4j-down clean-venv

system:
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing Java 17 and Maven (Debian packages)"; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven; }

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.deps-* && touch $@

venv: system $(STAMP)

demo: venv  ## ingest a sample conversation and answer from memory (starts Neo4j if needed)
	$(VENV)/bin/graphmem demo

test: venv  ## the test suite against a real Neo4j (started by the tests when none is running)
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: venv  ## including slow tests
	$(PY) -m pytest -m "not gpu" $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(PY) -m mypy graphmem

neo4j-up: venv
	$(VENV)/bin/graphmem neo4j up

neo4j-down: venv
	$(VENV)/bin/graphmem neo4j down

clean-venv:
	rm -rf $(VENV)
