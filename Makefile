# icframework: the README's commands. Each target creates or reuses .venv and installs
# what it needs, so a fresh clone needs only `make demo` or `make test`.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 4943

.PHONY: demo test lint typecheck pytest bench frontend clean help

help:
	@echo "make demo   - install into .venv and start the replica with the reference apps"
	@echo "make test   - lint, type-check and run the whole test suite"
	@echo "make bench  - run the benchmarks and print their tables"
	@echo "make frontend - rebuild the browser bundle icframework/static/icframework/ic.js (commit it)"

# The install step says what it does and how long it took the first time on a 2-core
# machine with the packages already downloaded (34 s), shows pip's own lines as it goes
# (one per package, with a bar for each download), then how long it really took.
STEP_START = @echo "[install] $(1) (about $(2) the first time)"; date +%s > $(VENV)/.step
STEP_DONE = @echo "[install] done in $$(( $$(date +%s) - $$(cat $(VENV)/.step) )) s"

$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "[install] creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	$(call STEP_START,installing icframework and its dependencies into $(VENV) with pip,35 s)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -e '.[dev]'
	$(STEP_DONE)
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	@echo "[install] npm ci: the JavaScript packages the tests compare against"
	npm ci --no-fund --no-audit --loglevel=error
	touch $(NODE_STAMP)

demo: $(STAMP)
	$(PY) manage.py runreplica --host $(HOST) --port $(PORT) --demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

STRICT_PACKAGES := icframework/core icframework/candid icframework/identity icframework/protocol icframework/sdk

typecheck: $(STAMP)
	$(VENV)/bin/mypy icframework config
	$(VENV)/bin/mypy --strict $(STRICT_PACKAGES)

pytest: $(STAMP) $(NODE_STAMP)
	$(VENV)/bin/pytest -q --durations=20

test: lint typecheck pytest

bench: $(STAMP) $(NODE_STAMP)
	$(PY) bench/run.py

frontend: $(NODE_STAMP)
	npm run --silent build:frontend

clean:
	rm -rf $(VENV) node_modules .replica .pytest_cache .mypy_cache .ruff_cache
