# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-embedded test-services lint bench demo clean chromium algorithm

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## chromium: Debian's Chromium for the browser tests (Playwright drives it; it never downloads one)
chromium:
	@test -x /usr/bin/chromium || apt-get install -y -q chromium >/dev/null \
	  || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null) \
	  || { echo "install Debian's chromium package (apt-get install chromium)"; exit 1; }

## run: install, migrate the embedded SQLite database and serve on http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/nextup serve

## demo: demo queues and an admin account (printed) in the embedded database
demo: $(STAMP)
	$(BIN)/nextup demo

## test: the whole suite on SQLite + in-process bus, then on PostgreSQL + Redis
test: test-embedded test-services

test-embedded: $(STAMP) chromium
	$(BIN)/pytest -q

test-services: $(STAMP) chromium
	NEXTUP_TEST_DATABASE_URL=$(PG_URL) NEXTUP_TEST_REDIS_URL=$(REDIS_URL) \
	NEXTUP_TEST_REQUIRE_SERVICES=1 $(BIN)/pytest -q --ignore=tests/domain --ignore=tests/sim

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## bench: API against bare SQL, Telegram and SMS notification rates, websocket fan-out and console load time, on PostgreSQL (prints figures)
bench: $(STAMP) chromium
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/api.py
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/notify.py
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/sms.py
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/ws_fanout.py --redis redis://127.0.0.1:6379/14
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/console_load.py

clean:
	rm -rf $(VENV) nextup.sqlite3 .pytest_cache .mypy_cache .ruff_cache

## algorithm: the figures and plots of docs/algorithm.md (simulator, 20 days per profile; prints tables)
algorithm: $(STAMP)
	$(BIN)/python bench/algorithm.py --days 20
