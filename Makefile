# featurelake — every target a README command. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
FL := $(VENV)/bin/featurelake
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
PYTHON ?= python3
PYTHON_VERSION := 3.11

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

java: ## Install OpenJDK 17 from apt if `java` is missing (Spark needs it)
	@if ! command -v java >/dev/null 2>&1; then \
	  echo "==> installing OpenJDK 17 (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	else echo "==> java: $$(java -version 2>&1 | head -1)"; fi

# The pins need Python 3.11 (pyproject: requires-python >=3.11,<3.12). Debian's python3 has no
# ensurepip without the python3.11-venv package, and `python3 -m venv` then fails: install it.
$(PY):
	@ver=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || { \
	  echo "error: '$(PYTHON)' is not a working Python; install Python 3.11 (apt-get install python3.11)" \
	    "or run: make PYTHON=/path/to/python3.11 ..." >&2; exit 1; }; \
	if [ "$$ver" != "$(PYTHON_VERSION)" ]; then \
	  echo "error: '$(PYTHON)' is Python $$ver; featurelake's pinned dependencies need $(PYTHON_VERSION):" \
	    "run make PYTHON=python$(PYTHON_VERSION) ..." >&2; exit 1; fi; \
	if ! $(PYTHON) -m ensurepip --version >/dev/null 2>&1; then \
	  echo "==> $(PYTHON) $$ver has no ensurepip, so venv cannot install pip:" \
	    "installing python$(PYTHON_VERSION)-venv (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python$(PYTHON_VERSION)-venv >/dev/null \
	    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } || { \
	    echo "error: apt-get could not install python$(PYTHON_VERSION)-venv; install it as root" \
	      "(apt-get install python$(PYTHON_VERSION)-venv) and re-run make" >&2; exit 1; }; \
	  $(PYTHON) -m ensurepip --version >/dev/null 2>&1 || { \
	    echo "error: '$(PYTHON)' still has no ensurepip after installing python$(PYTHON_VERSION)-venv" \
	      "(is it Debian's /usr/bin/python$(PYTHON_VERSION)?); run make PYTHON=/usr/bin/python$(PYTHON_VERSION) ..." >&2; \
	    exit 1; }; \
	fi
	@echo "==> creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version 2>&1))"
	@$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml requirements.lock | $(PY)
	@echo "==> installing featurelake into $(VENV) with pinned dependencies (~1-2 min on a fresh machine)"
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: java $(STAMP) ## Create .venv and install everything (Java 17 too, if missing)

browser: ## Install Debian's chromium from apt if /usr/bin/chromium is missing (the report's browser test)
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "==> installing chromium (apt, ~1-2 min)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "==> chromium: $$(/usr/bin/chromium --version 2>/dev/null | head -1)"; fi

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

test: install browser ## Install, start the local stack, run lint and the whole suite, stop the stack
	@$(MAKE) --no-print-directory lint
	@$(FL) services up
	@set -o pipefail; status=0; \
	  $(VENV)/bin/pytest $(PYTEST_ARGS) || status=$$?; \
	  $(FL) services down || true; \
	  exit $$status

test-unit: install ## Fast tests only (no JVM, no services, no browser)
	$(VENV)/bin/pytest -m "not spark and not postgres and not redis and not s3 and not cluster and not browser" $(PYTEST_ARGS)

terraform-check: ## terraform fmt + validate, offline (needs /opt/tf-plugins)
	bash infra/terraform/check.sh

bench: install ## Run every benchmark (minutes; prints figures for BENCHMARKS.md)
	@$(FL) services up
	@for b in bench/*.py; do echo "==> $$b"; $(PY) $$b || exit 1; done

clean: ## Remove the venv and local state (tables, registry, stack data)
	-$(FL) services down
	rm -rf $(VENV) .featurelake

.PHONY: help java install browser demo services-up services-down status lint test test-unit terraform-check bench clean
