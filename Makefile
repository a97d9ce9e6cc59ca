# One-command habits: `make demo`, `make test`, `make lint`.
# Each target installs what it needs into the local virtual environment first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint runtime venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The grading runtime: a read-only virtual environment built from template_repo/requirements.txt.
runtime: $(STAMP)
	$(BIN)/mle-assess runtime install

demo: runtime
	$(BIN)/mle-assess demo --no-serve

test: runtime
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
