# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/hub
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15
# The PostgreSQL pass's own Redis database: the two passes run side by side.
REDIS_TEST_URL_PG ?= redis://127.0.0.1:6379/14
# TEST_SERIAL=1 runs the two passes of `make test` one after the other.
TEST_SERIAL ?=

.PHONY: run test test-sqlite test-postgres lint bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make run: set everything up (virtualenv, install, migrate, demo data) and start the hub.
run: $(VENV)/.installed
	$(BIN)/hub up

## make test: every test, on SQLite with the in-memory layer and on PostgreSQL and Redis. The two passes
## run side by side, each mostly on one core; the PostgreSQL pass's output follows the SQLite pass's.
test: $(VENV)/.installed-dev
ifeq ($(TEST_SERIAL),)
	@log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	$(MAKE) --no-print-directory test-postgres REDIS_TEST_URL=$(REDIS_TEST_URL_PG) > "$$log" 2>&1 & pg=$$!; \
	$(MAKE) --no-print-directory test-sqlite; sqlite=$$?; \
	wait $$pg; postgres=$$?; \
	echo "=== the PostgreSQL pass (it ran beside the SQLite pass) ==="; cat "$$log"; \
	echo "=== make test: SQLite pass exit $$sqlite, PostgreSQL pass exit $$postgres ==="; \
	test $$sqlite -eq 0 && test $$postgres -eq 0
else
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres
endif

test-sqlite: $(VENV)/.installed-dev
	HUB_DATABASE_URL= HUB_REDIS_URL= HUB_TEST_REDIS_URL=$(REDIS_TEST_URL) $(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-postgres: $(VENV)/.installed-dev
	@HUB_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m tests.services_check; status=$$?; \
	if [ $$status -eq 2 ]; then exit 0; elif [ $$status -ne 0 ]; then exit $$status; fi; \
	HUB_DATABASE_URL=$(PG_TEST_URL) HUB_REDIS_URL= HUB_TEST_REDIS_URL=$(REDIS_TEST_URL) HUB_TEST_PASS=postgres \
		$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var
