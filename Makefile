# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_HOME ?= $(CURDIR)/.data/prefect

.PHONY: install demo up test unit faults bench bench-100k clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/bionicpro demo

up: install
	$(BIN)/bionicpro up

# 10,000 users (.data/bench, seeded once) and the default profile's history; writes .data/bench/results.json
bench: install
	$(BIN)/python bench/etl_scale.py

# The same month scenarios at 100,000 users (.data/bench-100k: seeding takes ~6 min and ~40 GB of disk)
bench-100k: install
	$(BIN)/python bench/etl_scale.py --users 100000

test: install
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest -m "not integration"

# The fault-injection suite alone (kills, outages, hanging sources); it ends with a table fault | trials | held
faults: install
	$(BIN)/python -m pytest tests/faults

clean:
	rm -rf .data
