# Every target creates the virtual environment and installs what it needs, so the
# README's two commands (make demo, make test) work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint proto bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/englog demo

# The browser tests (tests/browser) drive Debian's Chromium through Playwright (its own
# browser download is not used): install it when missing, refreshing the package lists
# only if the first try fails.
chromium:
	@command -v chromium >/dev/null 2>&1 || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Benchmarks against Celery + Redis; not part of `make test` (no timed assertions there).
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

proto: $(STAMP)
	PYTHON=$(BIN)/python ./scripts/gen_proto.sh

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
