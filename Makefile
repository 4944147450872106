# Every target creates .venv itself: a fresh machine needs only Python 3.11, git and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test soak lint format demo mock bench bench-full clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy --strict src

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks examples
	$(BIN)/ruff format src tests benchmarks examples

test: lint
	$(BIN)/pytest -q

# The long forms of tests/reliability and the kill test (docs/reliability.md): 100,000 jobs,
# 20 SIGKILLs and restarts. Prints the RSS curve and the kill-restart counts.
soak: $(STAMP)
	$(BIN)/pytest -q -s -m soak tests/reliability tests/runner/test_kill.py

demo: $(STAMP)
	$(BIN)/batchpoll demo

mock: $(STAMP)
	$(BIN)/batchpoll mock --port 8765

# Benchmarks (docs/benchmarks.md): results/latest.md and PNGs under benchmarks/results/.
bench: $(STAMP)
	$(BIN)/python -m benchmarks quick

bench-full: $(STAMP)
	$(BIN)/python -m benchmarks full

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
