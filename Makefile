# Local development and tests. `make dev` runs the whole add-on on http://localhost:5000;
# `make test` runs the suite against PostgreSQL + Redis, then against SQLite.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5000
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/addon_test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
export FLASK_APP := wsgi:app

.PHONY: dev test test-postgres test-sqlite bench lint manifest clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Without REDIS_URL the web process runs jobs itself on in-memory Redis (embedded mode);
# with it, a separate worker process is started beside the web server.
dev: $(VENV)/.installed
	$(VENV)/bin/flask db upgrade
	@if [ -n "$$REDIS_URL" ]; then \
		trap 'kill 0' EXIT; $(PY) worker.py & \
		$(VENV)/bin/flask run --port $(PORT); \
	else \
		$(VENV)/bin/flask run --port $(PORT); \
	fi

test: test-postgres test-sqlite

test-postgres: $(VENV)/.installed
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q

# Same suite on SQLite; browser and fault-injection tests already ran on PostgreSQL.
test-sqlite: $(VENV)/.installed
	TEST_DATABASE_URL=sqlite:// TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q -m "not browser and not resilience"

bench: $(VENV)/.installed
	$(PY) -m benchmarks.run

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check addon tests worker.py wsgi.py benchmarks

manifest: $(VENV)/.installed
	$(VENV)/bin/flask manifest write --defaults

clean:
	rm -rf $(VENV) instance .pytest_cache
