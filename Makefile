# Local development and tests. `make dev` runs the add-on and a fake Clockify on http://127.0.0.1:5000;
# `make test` runs the suite against PostgreSQL + Redis, then against SQLite.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5000
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/addon_test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
export FLASK_APP := wsgi:app

.PHONY: dev test test-fast test-postgres test-sqlite bench lint manifest deploy-files clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The sandbox (addon/testkit/sandbox.py): the add-on in development mode plus a seeded fake
# Clockify in one process, the add-on installed into it at start; open http://127.0.0.1:$(PORT)/.
# Without REDIS_URL jobs run on a thread of that process on in-memory Redis (embedded mode); with
# it, a separate worker process is started beside it. A first run writes ADDON_ENV into a new .env
# so that `flask ...` commands agree with the server.
dev: export ADDON_ENV = development
dev: $(VENV)/.installed
	@[ -f .env ] || { echo "ADDON_ENV=development" > .env && echo "wrote .env: ADDON_ENV=development"; }
	@if [ -n "$$REDIS_URL" ]; then \
		$(VENV)/bin/flask db upgrade || exit 1; \
		trap 'kill 0' EXIT; $(PY) worker.py & \
		$(PY) -m addon.testkit.sandbox --port $(PORT); \
	else \
		$(PY) -m addon.testkit.sandbox --port $(PORT); \
	fi

test: test-postgres test-sqlite

test-postgres: $(VENV)/.installed
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q

# The quick loop while coding: no real processes, no browser, no fault injection, no fuzzing (not
# even collected: building schemathesis's cases alone costs each worker seconds), on SQLite, on
# FAST_WORKERS pytest-xdist workers (3 on 2 cores: one computes while another waits on a socket).
# Each takes its own Redis DB index below TEST_REDIS_URL's (tests/conftest.py); loadgroup keeps the
# security trap's tests on one of them. Compiled modules are cached even where
# PYTHONDONTWRITEBYTECODE is set: each worker would otherwise compile, and pytest rewrite the
# asserts of, some 500 modules again (about 5 s of each worker's start).
FAST_WORKERS ?= 3
test-fast: $(VENV)/.installed
	PYTHONDONTWRITEBYTECODE= TEST_DATABASE_URL=sqlite:// TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q -m "not slow and not browser and not resilience" \
		--ignore=tests/fuzz -n $(FAST_WORKERS) --dist loadgroup

# Same suite on SQLite; browser and fault-injection tests already ran on PostgreSQL.
test-sqlite: $(VENV)/.installed
	TEST_DATABASE_URL=sqlite:// TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q -m "not browser and not resilience"

# The real stack on 127.0.0.1 measured beside its references (under 10 minutes); needs wrk (installed
# here when missing), PostgreSQL and Redis as for `make test`. It drops and recreates BENCH_DATABASE_URL's
# database and empties BENCH_REDIS_URL's index. Results: benchmarks/results/latest.{json,md}.
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/addon_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/8

bench: $(VENV)/.installed
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && SUDO= || SUDO=sudo; \
		$$SUDO apt-get install -y wrk || { $$SUDO apt-get update && $$SUDO apt-get install -y wrk; }; }
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) BENCH_REDIS_URL=$(BENCH_REDIS_URL) $(PY) -m benchmarks.run $(BENCH_ARGS)

# Style, the layer contracts of pyproject.toml ([tool.importlinter]) and the type check.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check addon tests worker.py wsgi.py benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

manifest: $(VENV)/.installed
	$(VENV)/bin/flask manifest write --defaults

# app.json, .env.example and the table of docs/configuration.md, from VARIABLES in addon/config.py.
deploy-files: $(VENV)/.installed
	$(PY) -m addon.deploy_files

clean:
	rm -rf $(VENV) instance .pytest_cache
