# The hub's tasks. `make demo` and `make test` each do their own installation.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SRC := hub connectors tests examples $(wildcard bench)

.DEFAULT_GOAL := help
.PHONY: help install demo serve sandbox fmt lint type test test-sqlite test-postgres test-contract test-integration schemas validate check clean

help: ## Show the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-17s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "hub needs Python 3.11+ (found %s)" % sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP) ## Create .venv and install the hub with its dev tools

demo: install ## Books sandbox + hub (SQLite, inline) + sample Razorpay traffic: watch deliveries land
	$(BIN)/hub demo

serve: install ## Run `hub serve` with ./hub.yaml (or the defaults)
	$(BIN)/hub serve

sandbox: install ## Serve the vendor sandboxes on 127.0.0.1:8090
	$(BIN)/hub sandbox

fmt: install ## Format the code
	$(BIN)/ruff format $(SRC)
	$(BIN)/ruff check --fix $(SRC)

lint: install ## ruff check and format check
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)

type: install ## mypy --strict on hub/ and connectors/
	$(BIN)/mypy

test: install ## The whole test suite, on SQLite and then on PostgreSQL (127.0.0.1:5432/test)
	HUB_TEST_STORE=sqlite $(BIN)/pytest
	HUB_TEST_STORE=postgresql $(BIN)/pytest

test-sqlite: install ## The whole test suite on SQLite only (no PostgreSQL needed)
	HUB_TEST_STORE=sqlite $(BIN)/pytest

test-postgres: install ## The whole test suite on PostgreSQL (HUB_TEST_POSTGRES_URL to point elsewhere)
	HUB_TEST_STORE=postgresql $(BIN)/pytest

test-contract: install ## Connector contract tests only
	$(BIN)/pytest -m contract

test-integration: install ## Tests that need real services
	$(BIN)/pytest -m integration

schemas: install ## Regenerate hub/schemas/{config,recipe}.json from the code
	$(BIN)/hub schemas

validate: install ## Validate the example recipes against the installed connectors
	$(BIN)/hub recipes validate recipes/

check: lint type test validate ## Everything CI runs

clean: ## Remove the venv and local state
	rm -rf $(VENV) .hub .hub-demo .pytest_cache .mypy_cache .ruff_cache
