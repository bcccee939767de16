# One command each: `make test` (lint + the whole suite) and `make demo`.
# Both build .venv from requirements.lock on first use; nothing is installed by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: help venv test lint typecheck pytest demo bench lock clean

help:
	@echo "make test    lint, type-check and run the whole test suite"
	@echo "make demo    a hub and three centers through outages, verified at the end (~1.5 min)"
	@echo "make bench   run the benchmarks and print their figures"
	@echo "make lock    re-resolve requirements.lock from pyproject.toml"

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# DEMO_ARGS="--duration 120" to run longer; Ctrl-C ends early and still verifies.
demo: $(STAMP)
	$(BIN)/python -m demo $(DEMO_ARGS)

# FULL=1 for the sizes the targets are stated for (100k drain, 100 edges); quick otherwise.
bench: $(STAMP)
	$(BIN)/python -m bench $(if $(FULL),--full)

lock:
	$(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet uv
	.lock-venv/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes -o requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis demo-data
