# The two commands: `make demo` and `make test` (and `make bench`, the benchmark;
# `make test-fast`, the unit and integration tests without the slowest).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

# pytest's worker processes (pytest-xdist). Most tests wait on subprocesses, sockets and
# the emulator's clock rather than compute, so more workers than cores keep two cores busy;
# `make test TEST_WORKERS=auto` uses one per core instead.
TEST_WORKERS ?= 4
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

.PHONY: test test-fast lint unit demo bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,demo]'
	touch $(STAMP)

# The bench's extra (matplotlib) on top of the rest.
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check orchestrator tests bench
	$(PY) -m ruff format --check orchestrator tests bench
	$(PY) -m mypy

# The tests that count requests in windows of a second or two at the emulator (marked
# `wire`) run alone after the rest: beside three other workers on two cores, a daemon's
# sends can leave later than its window's margin (re-stamping a late grant, so the quota
# holds on the wire whatever the load, is still to be built).
test: lint
	$(PYTEST) -m "not wire"
	$(PY) -m pytest -q -m wire

# Unit and integration tests without those marked slow (scale, fuzzing, a browser): the
# check to run while working; `make test` before a commit.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow" tests/unit tests/integration

demo: $(STAMP)
	$(PY) -m orchestrator demo

# Both regimes, about 13 minutes on two cores; BENCH_ARGS passes options through
# (`make bench BENCH_ARGS="--regime backlog --quick"`; `python -m bench --help`); then the
# conversion bench (`python -m bench.convert --help`), under a minute.
bench: $(BENCH_STAMP)
	$(PY) -m bench $(BENCH_ARGS)
	$(PY) -m bench.convert

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info demo-output
