# cohere-chat: build, test, lint, benchmark.  `make test` needs nothing but python3.
#
# make owns the virtualenvs it makes, and no other: `.venv-dev` (the package, editable, with
# its test tools), `.venv-demo` (the package alone, as a user installs it) and `.venv-bench`.
# It never installs into, nor removes, a virtualenv you made (`.venv` or any other):
# `make clean` removes only what make made.
PYTHON ?= python3
PREFIX ?= /usr/local
DEV := .venv-dev
DEMO := .venv-demo
BENCH_VENV := .venv-bench
SOURCES := setup.cfg setup.py man/cohere-chat.1 $(shell find cohere_cli -name '*.py')

.PHONY: install quick test fuzz lint bench demo first-contact clean

$(DEV)/.installed: setup.cfg setup.py
	test -x $(DEV)/bin/python || $(PYTHON) -m venv $(DEV)
	$(DEV)/bin/python -m pip install --quiet --upgrade pip
	$(DEV)/bin/python -m pip install --quiet -e '.[test]'
	touch $@

# The package as a user installs it (`pip install .`, no test tools, the man page with it);
# reinstalled only when the package changed, without its dependencies again. setuptools
# builds in ./build and never empties it: a module moved or removed since the last build
# would be installed still, so every install here starts without it.
$(DEMO)/.installed: $(SOURCES)
	test -x $(DEMO)/bin/python || $(PYTHON) -m venv $(DEMO)
	rm -rf build
	$(DEMO)/bin/python -m pip install --quiet $(if $(wildcard $@),--no-deps --force-reinstall) .
	touch $@

# Install the program (and its man page) under PREFIX.
install:
	rm -rf build
	$(PYTHON) -m pip install .
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/cohere-chat.1 $(DESTDIR)$(PREFIX)/share/man/man1/cohere-chat.1

# The test suite in its own virtualenv, in two tiers. `make quick`, for the edit loop: every
# test not marked `slow` (a process per case, packaging, end to end, 10k lines, the property
# test's drawn cases), in well under 30 s. `make test`: everything. pytest's exit 5 (no tests
# ran) fails both, as any non-zero status does. Three workers on two cores: the tests wait
# (sockets, subprocesses, timeouts) about as much as they compute; an idle worker takes
# tests from a busy one (worksteal), so the long ones do not end the run alone. Bytecode
# is cached even where PYTHONDONTWRITEBYTECODE is set. PYTEST_ARGS adds to either.
PYTEST := PYTHONDONTWRITEBYTECODE= $(DEV)/bin/python -m pytest -q -n 3 --dist worksteal
quick: $(DEV)/.installed
	$(PYTEST) -m "not slow" $(PYTEST_ARGS) tests

test: $(DEV)/.installed
	$(PYTEST) $(PYTEST_ARGS) tests

# Every hypothesis test, long: each with its own (larger) number of examples, random each
# run, each failure shrunk to a minimal one (minutes; `make test` runs about 50 fixed
# examples of each, and a few fixed cases of the property test).
fuzz: $(DEV)/.installed
	COHERE_CHAT_FUZZ=long $(PYTEST) -m hypothesis $(PYTEST_ARGS) tests

# Whole-process benchmarks against the stub, each beside its floor, with the budgets of
# issue 26 (docs/performance.md). The official SDK is optional: `make bench BENCH_SDK=`
# skips installing it, and a failed install leaves its comparisons out.
BENCH_SDK ?= cohere
bench:
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	rm -rf build
	$(BENCH_VENV)/bin/python -m pip install --quiet --force-reinstall --no-deps .
	$(BENCH_VENV)/bin/python -m pip install --quiet '.[remote,tokenizer]'
	$(if $(BENCH_SDK),$(BENCH_VENV)/bin/python -m pip install --quiet $(BENCH_SDK) \
		|| echo "bench: $(BENCH_SDK) did not install: the SDK comparisons are left out")
	cd benchmarks && ../$(BENCH_VENV)/bin/python bench.py $(BENCH_ARGS)

# The main job, offline: a stub on a free port and a few real pipelines against it, run by
# the package alone in .venv-demo; it ends with what to type next.
demo: $(DEMO)/.installed
	bash scripts/demo.sh $(DEMO)/bin

# The README's quick start, command by command, in a fresh clone (slow: two installs).
first-contact:
	bash scripts/first-contact.sh

# ruff everywhere; mypy strict on the package, and the tests checked too.
lint: $(DEV)/.installed
	$(DEV)/bin/ruff check cohere_cli tests benchmarks
	$(DEV)/bin/mypy --strict cohere_cli
	$(DEV)/bin/mypy tests

# Only what make made: its virtualenvs, build output and caches.
clean:
	rm -rf $(DEV) $(DEMO) $(BENCH_VENV) build dist *.egg-info .pytest_cache .hypothesis .ruff_cache
	find . -path './.venv*' -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
