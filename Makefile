# Every target creates the virtual environment and installs what it needs, so the
# README's two commands (make demo, make test) work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: demo test lint proto bench clean chromium promtool

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo needs the runtime only (what `pipx install englog` gives); the dev extras
# (tests, linters, browser driver) come with `make test`.
$(RUNTIME_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/englog demo

# The browser tests (tests/browser) drive Debian's Chromium through Playwright (its own
# browser download is not used): install it when missing, refreshing the package lists
# only if the first try fails.
chromium:
	@command -v chromium >/dev/null 2>&1 || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# promtool (Debian's prometheus package) checks and unit-tests deploy/prometheus/alerts.yml,
# and the Prometheus server scrapes a real englog in tests/integration/test_prometheus.py.
# Without it (no apt, no network) those tests skip and say why, rather than fail the run.
promtool:
	@command -v promtool >/dev/null 2>&1 || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; } || \
	  echo "promtool could not be installed: the Prometheus tests will be skipped"

# The whole suite in one run on four workers (pytest-xdist, `--dist loadgroup`): most
# tests wait on processes, sockets and disks more than they compute, so four share the
# two cores well. The chaos tests form one group and run one at a time, as do the
# browser tests (one server and Chromium for all of them); see tests/conftest.py.
TEST_WORKERS ?= 4

test: $(STAMP) chromium promtool
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup tests

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
