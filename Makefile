# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two installs: serving needs the package alone; tests, lint and plots need the `dev` extra.
RUN_STAMP := $(VENV)/.run-stamp
DEV_STAMP := $(VENV)/.dev-stamp
# The suite's own database: created when missing, refused when it holds anything the suite
# did not put there (tests/suite_database.py). Never point this at data you want to keep.
PG_URL ?= postgres://postgres@127.0.0.1:5432/nextup_test
REDIS_URL ?= redis://127.0.0.1:6379/15
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: run test test-unit test-embedded test-services test-theory lint bench demo clean chromium promtool algorithm

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[dev]'
	touch $(RUN_STAMP) $(DEV_STAMP)

## chromium: Debian's Chromium for the browser tests (Playwright drives it; it never downloads one)
chromium:
	@test -x /usr/bin/chromium || apt-get install -y -q chromium >/dev/null \
	  || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null) \
	  || { echo "install Debian's chromium package (apt-get install chromium)"; exit 1; }

## promtool: Debian's prometheus package, for promtool (tests/monitoring checks the alerting rules)
promtool:
	@command -v promtool >/dev/null || apt-get install -y -q --no-install-recommends prometheus >/dev/null \
	  || (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends prometheus >/dev/null) \
	  || { echo "install Debian's prometheus package (apt-get install prometheus) for promtool"; exit 1; }

## run: install, migrate the embedded SQLite database and serve on http://127.0.0.1:8000
run: $(RUN_STAMP)
	$(BIN)/nextup serve

## demo: demo queues and an admin account (printed) in the embedded database
demo: $(RUN_STAMP)
	$(BIN)/nextup demo

## test: the whole suite on SQLite + in-process bus, then on PostgreSQL + Redis, then the
## simulator's check against queueing theory; each runs whatever the ones before did, and
## the target fails at the end if any failed
test: $(DEV_STAMP) chromium promtool
	@status=0; \
	$(MAKE) --no-print-directory test-embedded || status=1; \
	$(MAKE) --no-print-directory test-services || status=1; \
	$(MAKE) --no-print-directory test-theory || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: a half failed (see above)"; fi; \
	exit $$status

# Tests that need no server, database, bus or browser: the pure domain, in-memory fakes
# (tests/unit), the message catalogue, SMS keywords, charts, settings and the Makefile.
# Seconds, not minutes: what to run after each change. A file that imports the bot or the
# whole CLI (the parsers' fuzz tests, the README's) pays seconds of aiogram import: not here.
UNIT_TESTS := tests/domain tests/unit tests/messages tests/test_phones.py tests/test_settings.py \
  tests/sms/test_keywords.py tests/web/test_charts.py tests/test_makefile.py

## test-unit: the fast tests alone (no server, database or browser; under 30 s)
test-unit: $(DEV_STAMP)
	$(BIN)/pytest -q $(UNIT_TESTS)

# The check of the simulator against Erlang C is minutes of arithmetic on both CPUs (seeded:
# its result is the same on every run): a target of its own, run last by `make test`. Run
# beside the services half it saved three minutes, but the load it added made a timing-
# bound Telegram test miss its 5 s, so it waits its turn.
THEORY_TESTS := tests/sim/test_erlang_c.py

test-embedded: $(DEV_STAMP) chromium promtool
	$(BIN)/pytest -q --durations=15 --ignore=$(THEORY_TESTS)

## test-theory: the simulator against queueing theory (Erlang C; minutes)
test-theory: $(DEV_STAMP)
	$(BIN)/pytest -q $(THEORY_TESTS)

# The unit tests do not touch the database, and neither do the simulator, the fuzzing of
# parsers, promtool's checks of the alerting rules and the staff's printed help card; the
# packaging tests build the wheel and serve from it. None is worth a second run.
ONCE_TESTS := tests/sim tests/packaging tests/security/test_fuzz.py \
  tests/monitoring/test_monitoring_pack.py tests/web/test_help_card.py tests/browser/test_help_card.py

test-services: $(DEV_STAMP) chromium promtool
	NEXTUP_TEST_DATABASE_URL=$(PG_URL) NEXTUP_TEST_REDIS_URL=$(REDIS_URL) \
	NEXTUP_TEST_REQUIRE_SERVICES=1 $(BIN)/pytest -q --durations=15 \
	  $(addprefix --ignore=,$(UNIT_TESTS) $(ONCE_TESTS))

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

## bench: API against bare SQL and as the line grows, a 20-queue mix on two servers with Redis, Telegram and SMS notification rates, websocket fan-out, console load time and command start-up, on PostgreSQL (prints figures)
bench: $(DEV_STAMP) chromium
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/api.py
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/mix.py --redis redis://127.0.0.1:6379/14
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/notify.py
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/sms.py
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/ws_fanout.py --redis redis://127.0.0.1:6379/14
	NEXTUP_BENCH_DATABASE_URL=$(PG_URL) $(BIN)/python bench/console_load.py
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) nextup.sqlite3 .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

## algorithm: the figures and plots of docs/algorithm.md (simulator, 20 days per profile; prints tables)
algorithm: $(DEV_STAMP)
	$(BIN)/python bench/algorithm.py --days 20

## horizon: the two-hour forecast against the simulated future, per profile (prints a table)
.PHONY: horizon
horizon: $(DEV_STAMP)
	$(BIN)/python bench/horizon.py --days 14

## bench-simulate: the simulator's cost per patient, M/M/1 over 30 h and 3000 h (prints figures and a verdict)
.PHONY: bench-simulate
bench-simulate: $(DEV_STAMP)
	$(BIN)/python bench/simulate.py
