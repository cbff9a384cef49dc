# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv from pyproject.toml.
PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit layer bench-import clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m honeyhive_serverless_dev.demo

test: lint typecheck unit

lint: $(STAMP)
	$(VENV)/bin/ruff check layer handlers tests
	$(VENV)/bin/ruff format --check layer handlers tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

# dist/honeyhive-serverless-layer-py3.X-<arch>.zip for Python 3.10-3.13 and both architectures, plus
# dist/layers.json; prints the size table.
layer: $(STAMP)
	$(VENV)/bin/hh-serverless build-layer --out dist

# Cost of `import honeyhive_serverless` and of the first get_tracer(), medians over fresh processes.
bench-import: $(STAMP)
	$(PY) -m honeyhive_serverless_dev.bench_import

clean:
	rm -rf $(VENV) build dist *.egg-info
