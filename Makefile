# featurelake — every target a README command. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
FL := $(VENV)/bin/featurelake
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

java: ## Install OpenJDK 17 from apt if `java` is missing (Spark needs it)
	@if ! command -v java >/dev/null 2>&1; then \
	  echo "==> installing OpenJDK 17 (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	else echo "==> java: $$(java -version 2>&1 | head -1)"; fi

$(STAMP): pyproject.toml requirements.lock
	@echo "==> creating $(VENV) and installing featurelake with pinned dependencies (~1-2 min on a fresh machine)"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: java $(STAMP) ## Create .venv and install everything (Java 17 too, if missing)

demo: install ## Run the main job end to end on embedded defaults (no settings file needed)
	$(FL) demo run

services-up: install ## Start the local stack: PostgreSQL, Redis cluster, S3 server, Spark master+worker
	$(FL) services up

services-down: ## Stop the local stack
	$(FL) services down

status: ## Show the local stack's health
	$(FL) services status

lint: install ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install ## Install, start the local stack, run lint and the whole suite, stop the stack
	@$(MAKE) --no-print-directory lint
	@$(FL) services up
	@set -o pipefail; status=0; \
	  $(VENV)/bin/pytest $(PYTEST_ARGS) || status=$$?; \
	  $(FL) services down || true; \
	  exit $$status

test-unit: install ## Fast tests only (no JVM, no services)
	$(VENV)/bin/pytest -m "not spark and not postgres and not redis and not s3 and not cluster" $(PYTEST_ARGS)

terraform-check: ## terraform fmt + validate, offline (needs /opt/tf-plugins)
	bash infra/terraform/check.sh

bench: install ## Run every benchmark (minutes; prints figures for BENCHMARKS.md)
	@$(FL) services up
	@for b in bench/*.py; do echo "==> $$b"; $(PY) $$b || exit 1; done

clean: ## Remove the venv and local state (tables, registry, stack data)
	-$(FL) services down
	rm -rf $(VENV) .featurelake

.PHONY: help java install demo services-up services-down status lint test test-unit terraform-check bench clean
