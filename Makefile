# carewatch: `make demo` runs the main job on a local stack, `make test` passes the tests.
# Both set up everything on a fresh machine: the virtual environment, Python packages,
# Debian packages (Java, Maven, Prometheus, Alertmanager) and Kafka's jars.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test lint typecheck pytest demo stack-up stack-down stack-status clean

$(STAMP): pyproject.toml constraints.txt
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev,rocksdb,bench]'
	@touch $(STAMP)

setup: $(STAMP)
	$(BIN)/carewatch stack install

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy streams connectors drills

pytest: setup
	$(BIN)/pytest

test: setup lint typecheck pytest

# The live demo: the local stack, two workers in replay mode, simulated traffic and a
# board, until Ctrl-C. Options: make demo DEMO_ARGS="--scenario outage --speed 120"
# (see carewatch demo --help and docs/enrichment.md).
DEMO_ARGS ?=
demo: setup
	$(BIN)/carewatch demo $(DEMO_ARGS)

stack-up: setup
	$(BIN)/carewatch stack up
stack-down: $(STAMP)
	$(BIN)/carewatch stack down
stack-status: $(STAMP)
	$(BIN)/carewatch stack status

clean:
	-$(BIN)/carewatch stack down
	rm -rf $(VENV) .carewatch .mypy_cache .ruff_cache .pytest_cache

# The benchmark (BENCHMARKS.md): its own broker, a seeded log, one table, JSON in
# bench/results/. BENCH_ARGS="--quick" for the small version, "--events 200000" etc.
.PHONY: bench
bench: setup
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev,rocksdb,bench]'
	$(BIN)/carewatch bench $(BENCH_ARGS)

# The outage scenario against the real Alertmanager (docs/demo.md): the oldest-wait and
# burn-rate alerts fire, then resolve; about 7 minutes, so make test skips it.
.PHONY: demo-outage
demo-outage: setup
	CAREWATCH_DEMO_OUTAGE=1 $(BIN)/pytest -s tests/demo/test_outage.py

# The reliability drills (RELIABILITY.md): their own broker, real workers, one table, JSON
# in drills/results/. DRILLS_ARGS="--quick" for the tests' sizes, "--soak-minutes 10" etc.
.PHONY: drills
DRILLS_ARGS ?=
drills: setup
	$(BIN)/python -m drills $(DRILLS_ARGS)
