# The two set-up commands from README.md: `make demo` and `make test`.
# Each creates .venv, installs the package and, when missing, the Debian
# packages that provide prometheus/promtool and alertmanager/amtool.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-docker lint tools venv generate check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

tools:
	sh scripts/install-tools.sh

lint: venv
	$(BIN)/ruff check agent exporters tests benchmarks
	$(BIN)/ruff format --check agent exporters tests benchmarks
	$(BIN)/mypy

generate: venv
	$(BIN)/opslens generate
	$(BIN)/python -m agent.generate.alert_catalogue --write

check: venv tools
	$(BIN)/opslens generate --check
	$(BIN)/python -m agent.generate.alert_catalogue --check
	$(BIN)/opslens check

test: venv tools lint check
	$(BIN)/pytest -q

# Where a Docker engine runs: the generated compose stack, checked by `docker compose`.
test-docker: venv
	$(BIN)/pytest -q -m docker

demo: venv tools
	$(BIN)/opslens up --demo

bench: venv tools
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .opslens .pytest_cache .mypy_cache .ruff_cache
