# signal9-asset-sync: every target sets up what it needs from the project's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXTRAS := dev,local,infra,bench
STAGE  ?= dev

.PHONY: setup demo test lint typecheck unit integration infra-test audit package synth bench clean

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

setup: $(STAMP) node_modules/.package-lock.json  ## venv with every extra, and the CDK CLI

demo: $(STAMP)  ## the real sync end to end on loopback (moto's server + Alpaca stand-in)
	$(BIN)/asset-sync demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict infra scripts $(wildcard bench)

test: setup lint typecheck  ## lint, types and every test suite (unit, integration, infra)
	$(BIN)/pytest -n 2 --dist loadgroup

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration -n 2

infra-test: setup
	$(BIN)/pytest tests/infra

audit: $(STAMP)  ## known vulnerabilities in the Lambda's pinned dependencies (see the script)
	$(BIN)/python scripts/audit_pins.py requirements/lambda.txt

package: $(STAMP)  ## dist/lambda.zip for python3.12 on arm64 (pip --platform, no Docker)
	$(BIN)/python scripts/package_lambda.py

synth: setup package  ## cdk.out/ for stage STAGE (default dev; no Docker, no AWS account needed)
	npx --no-install cdk synth --quiet -c stage=$(STAGE)

bench: $(STAMP)  ## docs/benchmarks.md and its plot
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) node_modules build dist cdk.out .mypy_cache .ruff_cache .pytest_cache
