# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine:
# each creates the virtual environment (.venv) and installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch, installed before the project so that nothing pulls a CUDA
# build. Elsewhere, point TORCH_INDEX at PyTorch's CPU wheel index.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: install demo test test-all lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

demo: install  ## sample collection from scikit-image photos, indexed and searched
	$(BIN)/lookalike demo --out demo

test: install  ## the test suite (fast; slow checks are behind -m slow)
	$(BIN)/python -m pytest

test-all: install
	$(BIN)/python -m pytest -m "slow or not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/index_throughput.py

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache
