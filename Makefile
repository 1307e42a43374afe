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
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev,rocksdb]'
	@touch $(STAMP)

setup: $(STAMP)
	$(BIN)/carewatch stack install

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy streams connectors

pytest: setup
	$(BIN)/pytest

test: setup lint typecheck pytest

demo: setup
	$(BIN)/carewatch stack up
	$(BIN)/carewatch topics create
	@echo
	@echo "carewatch local stack is up:"
	@echo "  Kafka bootstrap   127.0.0.1:19092   (topics care.events.v1, care.sla.v1, care.deadletter.v1)"
	@echo "  Prometheus        http://127.0.0.1:19090"
	@echo "  Alertmanager      http://127.0.0.1:19094"
	@echo "  logs              .carewatch/*/"
	@echo "  stop it with      $(BIN)/carewatch stack down"

stack-up: setup
	$(BIN)/carewatch stack up
stack-down: $(STAMP)
	$(BIN)/carewatch stack down
stack-status: $(STAMP)
	$(BIN)/carewatch stack status

clean:
	-$(BIN)/carewatch stack down
	rm -rf $(VENV) .carewatch .mypy_cache .ruff_cache .pytest_cache
