# cohere-chat: build, test, lint, benchmark.  `make test` needs nothing but python3.
PYTHON ?= python3
VENV ?= .venv
PREFIX ?= /usr/local
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test fuzz lint bench demo clean

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Install the program (and its man page) under PREFIX.
install:
	$(PYTHON) -m pip install .
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/cohere-chat.1 $(DESTDIR)$(PREFIX)/share/man/man1/cohere-chat.1

# The whole test suite in its own virtualenv; pytest's exit 5 (no tests ran) fails too.
# Three workers on two cores: the tests wait (sockets, subprocesses, timeouts) about as
# much as they compute. Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set.
test: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n 3 tests

# The property test of the hardening issues, long: many random cases, each failure shrunk to
# a minimal one (minutes; `make test` runs a few fixed cases of it).
fuzz: $(STAMP)
	COHERE_CHAT_FUZZ=long $(BIN)/python -m pytest -q tests/test_property.py

# Whole-process benchmarks against the stub, beside the official SDK (docs/performance.md).
BENCH_VENV := .venv-bench
bench:
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet . cohere
	cd benchmarks && ../$(BENCH_VENV)/bin/python bench.py $(BENCH_ARGS)

# The main job, offline: a stub on a free port and a few real pipelines against it.
demo: $(STAMP)
	bash scripts/demo.sh $(BIN)

# ruff everywhere; mypy strict on the package, and the tests checked too.
lint: $(STAMP)
	$(BIN)/ruff check cohere_cli tests benchmarks
	$(BIN)/mypy --strict cohere_cli
	$(BIN)/mypy tests

clean:
	rm -rf $(VENV) .venv-bench build dist *.egg-info .pytest_cache .hypothesis .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
