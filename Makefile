# signal9-asset-sync: every target sets up what it needs from the project's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXTRAS := dev,local,infra,bench
STAGE  ?= dev
# `make lock`: hash-pinned requirements for CPython 3.12 wheels only, written by uv (dev extra).
UV_COMPILE := $(BIN)/uv pip compile --quiet --generate-hashes --only-binary :all: \
	--python-version 3.12 --custom-compile-command 'make lock'

.PHONY: setup demo test lint typecheck unit integration infra-test audit package lock \
	old-runtime-env synth bench clean mutation

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

test: setup old-runtime-env lint typecheck  ## lint, types and every suite (unit, integration, infra)
	$(BIN)/pytest -n 2 --dist loadgroup

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration -n 2

infra-test: setup old-runtime-env
	$(BIN)/pytest tests/infra

old-runtime-env: $(STAMP)  ## .venv-old-runtime: python3.12 with boto3 1.34 / urllib3 1.26 (artifact test)
	$(BIN)/python scripts/old_runtime_env.py

audit: $(STAMP)  ## known vulnerabilities in the Lambda's pinned dependencies (see the script)
	$(BIN)/python scripts/audit_pins.py requirements/lambda.txt

package: $(STAMP)  ## dist/lambda.zip for python3.12 on arm64 (pip --platform, no Docker)
	$(BIN)/python scripts/package_lambda.py

lock: $(STAMP)  ## requirements/lambda.txt (and old-runtime.txt) with hashes, from the .in files
	$(UV_COMPILE) --python-platform aarch64-manylinux_2_28 -c requirements/constraints.txt \
		requirements/lambda.in -o requirements/lambda.txt
	$(UV_COMPILE) --python-platform x86_64-manylinux_2_28 \
		requirements/old-runtime.in -o requirements/old-runtime.txt

synth: setup package  ## cdk.out/ for stage STAGE (default dev; no Docker, no AWS account needed)
	npx --no-install cdk synth --quiet -c stage=$(STAGE)

MUTATION_STAMP := $(VENV)/.mutation-stamp
$(MUTATION_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[mutation]'
	touch $(MUTATION_STAMP)

# Not part of `make test`. Fewer examples per property test: each mutant reruns its tests.
mutation: $(MUTATION_STAMP)  ## mutmut on logic/ with the unit tests; fails below 90% killed
	rm -rf mutants
	HYPOTHESIS_EXAMPLES_SCALE=0.25 $(BIN)/mutmut run --max-children 2
	$(BIN)/python scripts/mutation_score.py --min 0.90

bench: $(STAMP)  ## docs/benchmarks.md and its plot
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) node_modules build dist cdk.out .mypy_cache .ruff_cache .pytest_cache \
		.venv-old-runtime .venv-old-runtime.lock
