# arbtui — every target installs what it needs into ./.venv and ./node_modules first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
NODE_DEPS  := $(if $(wildcard package.json),$(NODE_STAMP),)

.PHONY: setup test lint unit demo bench chaos screenshots audit clean

setup: $(PY_STAMP) $(NODE_DEPS)

# The build tools first, at the versions pinned in constraints.txt (never "whatever is newest").
$(PY_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt pip setuptools wheel
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(BIN)/python -m tools.alpaca_spec  # Alpaca's published OpenAPI document (build/), for the contract test
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check arbtui tests bench tools
	$(BIN)/ruff format --check arbtui tests bench tools
	$(BIN)/mypy arbtui tests bench tools
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

test: lint
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit -q

demo: setup
	$(BIN)/arbtui demo

bench: setup
	$(BIN)/python -m bench $(BENCH_ARGS)

screenshots: setup
	@fc-list 2>/dev/null | grep -q "DejaVu Sans Mono" || (apt-get update && apt-get install -y fonts-dejavu-core)
	$(BIN)/python -m arbtui.tui.screenshots

chaos: setup
	$(BIN)/python -m tests.chaos

# pip-audit over every pin of constraints.txt (nothing resolved or installed). Exits 0 with one line
# when the vulnerability database is unreachable, 1 when vulnerabilities are found (AUDIT_ARGS: e.g.
# --osv-url URL, --timeout S).
audit: setup
	$(BIN)/python -m tools.audit constraints.txt $(AUDIT_ARGS)

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis arbtui/demo/contracts/.build
