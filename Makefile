# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv from pyproject.toml.
PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CDK_STAMP := cdk/node_modules/.installed
# The CDK CLI from cdk/package-lock.json, kept off the network (no telemetry, notices or version checks).
CDK := cd cdk && CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=1 \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 NODE_NO_WARNINGS=1 node_modules/.bin/cdk

.PHONY: demo test check lint typecheck unit suite layer lock dist bench bench-import synth deploy-local docs clean

# One line per step: the installs are quiet, and the first one takes about a minute.
$(STAMP): pyproject.toml constraints/dev.txt
	@echo "setup 1/3: creating the virtual environment $(VENV)"
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	@echo "setup 2/3: upgrading pip"
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "setup 3/3: installing honeyhive-serverless with its dev, cli and cdk extras (about a minute the first time)"
	@$(PY) -m pip install --quiet -e '.[dev,cli,cdk]' -c constraints/dev.txt
	@touch $(STAMP)

$(CDK_STAMP): cdk/package.json cdk/package-lock.json
	npm ci --prefix cdk --no-audit --no-fund --no-update-notifier
	touch $(CDK_STAMP)

demo: $(STAMP)
	PYTHONPATH=tools $(PY) -m repo_tools.demo

# Everything: lint, types, and every tier of the suite (unit, integration, e2e).
test: lint typecheck suite

# The inner loop, about a minute: lint, types and the unit tier (the import contract is a unit test).
check: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check layer handlers tests cdk bench tools
	$(VENV)/bin/ruff format --check layer handlers tests cdk bench tools

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

suite: $(STAMP) $(CDK_STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

# dist/honeyhive-serverless-layer-py3.X-<arch>.zip and its SBOM (.cdx.json) for every Python 3.10-3.15 this
# machine has and both architectures, plus dist/layers.json; prints the size table. The same command users run.
layer: $(STAMP)
	$(VENV)/bin/hh-serverless build-layer --out dist

# Refresh the layer's lock (exact third-party versions and hashes) from pyproject.toml's runtime
# dependencies and the aws and llm extras; commit the result. Resolved for Python 3.10, the oldest the
# layer serves, and without markers: the builder's pip would judge a marker by its own interpreter, not
# the layer's Python (a 3.10 backport such as exceptiongroup is then listed for all). The layer tests
# build and load every Python's layer from this one lock.
# Only releases at least LOCK_MIN_AGE old are taken (uv's --exclude-newer, counted back from now): a
# compromised or broken release is usually found and yanked within days of its upload. Why a week, and
# how to take a fix that cannot wait: CONTRIBUTING.md.
LOCK := layer/honeyhive_serverless_dev/layer_files/layer-requirements.txt
LOCK_MIN_AGE := 7 days
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --extra aws --extra llm --python-version 3.10 \
		--exclude-newer "$(LOCK_MIN_AGE)" --generate-hashes --no-header --quiet --upgrade -o $(LOCK)

# The sdist and the wheel, as published (dist/honeyhive_serverless-<version>.tar.gz and -py3-none-any.whl).
dist: $(STAMP)
	$(PY) -m build --outdir dist .

# This project against honeyhive==1.7.0, side by side: BENCHMARKS.md, bench/results.json, bench/benchmarks.png.
bench: $(STAMP)
	PYTHONPATH=tools $(PY) -m repo_tools.bench

# The example CDK app synthesized by the real CLI, then linted.
synth: $(STAMP) $(CDK_STAMP)
	$(CDK) synth --no-notices --quiet
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- cdk/cdk.out/HoneyHiveServerlessExample.template.json

# Bootstrap and deploy the example app to a moto server on loopback; prints what was deployed.
deploy-local: $(STAMP) $(CDK_STAMP)
	cd cdk && ../$(PY) deploy_local.py

# docs/configuration.md, the configuration reference, written again from variables.py and config.py
# (a unit test fails while the committed one differs).
docs: $(STAMP)
	$(PY) -m honeyhive_serverless_dev.config_reference docs/configuration.md

# Cost of `import honeyhive_serverless` and of the first get_tracer(), medians over fresh processes.
bench-import: $(STAMP)
	PYTHONPATH=tools $(PY) -m repo_tools.bench_import

clean:
	rm -rf $(VENV) build dist *.egg-info
