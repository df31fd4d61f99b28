"""Shared fixtures: a real database (PostgreSQL or SQLite, from TEST_DATABASE_URL), real Redis
(TEST_REDIS_URL, a dedicated DB index), the app built by the factory, and a signer whose public
key the app trusts through CLOCKIFY_PUBLIC_KEY, so every token in the tests is really verified."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import sqlalchemy as sa
from cryptography.fernet import Fernet

from addon import create_app
from addon.extensions import db
from addon.testkit.databases import recreate_postgres_database
from addon.testkit.signing import Signer, generate_private_key
from addon.workers import BackgroundThread

pytest_plugins = ["addon.testkit.pytest_plugin", "addon.testkit.openapi_plugin"]

ADDON_KEY = "test-addon"
ENCRYPTION_KEY = Fernet.generate_key().decode()
SHARED_MEMORY = "/dev/shm"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


def _isolate_xdist_worker() -> None:
    """Under pytest-xdist, point TEST_REDIS_URL and a PostgreSQL TEST_DATABASE_URL of this process
    at the worker's own Redis DB index and database, before anything reads them: every test
    empties both after itself. Worker ``gwN`` takes the DB index N below the given one (Redis has
    16, counted from 0) and the database named with ``_gwN`` appended. The environment, not just
    this module, so that tests reading the variables and the processes they start agree."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    number = int(worker.removeprefix("gw"))
    redis_url = urlsplit(os.environ.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL))
    index = int(redis_url.path.lstrip("/") or 0) - number
    if index < 0:
        raise pytest.UsageError(f"TEST_REDIS_URL: no Redis DB index left for xdist worker {worker}")
    os.environ["TEST_REDIS_URL"] = urlunsplit(redis_url._replace(path=f"/{index}"))
    database_url = os.environ.get("TEST_DATABASE_URL", "")
    if database_url.startswith("postgres"):
        database = sa.engine.make_url(database_url)
        os.environ["TEST_DATABASE_URL"] = database.set(database=f"{database.database}_{worker}") \
            .render_as_string(hide_password=False)


_isolate_xdist_worker()
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
# The modules whose tests use the security trap (tests/security/conftest.py ``listeners``): it
# binds fixed ports (80, 443) of 127.0.0.2, which one process at a time can hold.
TRAP_MODULES = ("tests/security/test_host_policy.py", "tests/security/test_outbound_paths.py")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Refuse what pytest-xdist would get wrong: a test using the trap outside ``TRAP_MODULES``
    (a second worker's listeners would fail to bind), and two tests with one id (xdist schedules
    by id: only the first would run)."""
    strays = {item.nodeid.split("::")[0] for item in items if "listeners" in getattr(item, "fixturenames", ())}
    if strays - set(TRAP_MODULES):
        raise pytest.UsageError(f"add {sorted(strays - set(TRAP_MODULES))} to TRAP_MODULES (tests/conftest.py)")
    duplicates = sorted(nodeid for nodeid, count in Counter(item.nodeid for item in items).items() if count > 1)
    if duplicates:
        raise pytest.UsageError(f"tests sharing an id: {duplicates}")


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with the tests of ``TRAP_MODULES`` as one group, run on one worker.

    xdist (3.8) groups by the ``xdist_group`` mark by renaming ``item._nodeid``, which pytest 9 no
    longer reads: marked tests are scattered. The group is therefore told by module path here."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class TrapGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.split("::")[0] in TRAP_MODULES:
                return "trap"
            return super()._split_scope(nodeid)

    return TrapGroupScheduling(config, log)


@pytest.fixture(scope="session")
def _database_url(tmp_path_factory) -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    if url in ("sqlite://", "sqlite:///:memory:"):
        # A file, so forked workers and gunicorn subprocesses see the same database; on tmpfs when
        # the machine has one, because on disk every commit of the suite waits for an fsync.
        if os.path.isdir(SHARED_MEMORY):
            directory = Path(tempfile.mkdtemp(prefix="addon-test-db-", dir=SHARED_MEMORY))
            yield f"sqlite:///{directory / 'test.db'}"
            shutil.rmtree(directory, ignore_errors=True)
        else:
            yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    if url.startswith("postgres"):
        # Start every session from an empty database, whatever an earlier run left behind.
        recreate_postgres_database(url)
    yield url


@pytest.fixture(scope="session")
def signer() -> Signer:
    """Signs tokens the test app trusts (its public key is the app's CLOCKIFY_PUBLIC_KEY)."""
    return Signer(generate_private_key(), ADDON_KEY, backend_url="https://api.clockify.me/api",
                  reports_url="https://reports.api.clockify.me")


@pytest.fixture(scope="session")
def base_overrides(_database_url, signer) -> dict:
    """Settings of the test app; tests building their own app start from these."""
    return {
        "ADDON_ENV": "test",
        "BASE_URL": "https://addon.example.com",
        "ADDON_KEY": ADDON_KEY,
        "DATABASE_URL": _database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "TOKEN_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "CLOCKIFY_PUBLIC_KEY": signer.public_pem,
        "CLOCKIFY_ALLOWED_API_DOMAINS": "*.clockify.me,clockify.me,127.0.0.1",
        "WEBHOOK_REQUEST_BACKOFF_BASE": "0.01",
        "WEBHOOK_REQUEST_BACKOFF_CAP": "0.05",
        # Burst workers in tests: a job waiting for more events would only slow them down.
        "WEBHOOK_BATCH_LINGER_MS": "0",
    }


@pytest.fixture(scope="session")
def app(base_overrides):
    """The app, with the schema built by the real migrations."""
    from flask_migrate import upgrade

    app = create_app(base_overrides)
    _test_redis().flushdb()
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@functools.cache
def _test_redis() -> redis.Redis:
    """One client (and connection pool) for the whole session: a client per test would connect
    per test, and redis-py's handshake (CLIENT SETINFO, with its version read from the package
    metadata each time) costs milliseconds of CPU."""
    return redis.Redis.from_url(TEST_REDIS_URL)


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Empty every table and the test Redis DB after each test that used the app."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
    _test_redis().flushdb()


@pytest.fixture(autouse=True)
def _processes_only_in_slow_tests(request, monkeypatch):
    """A test that starts a process is marked ``slow``: ``make test-fast`` leaves those out and
    must stay under a minute."""
    if any(request.node.get_closest_marker(marker) for marker in ("slow", "resilience", "browser")):
        return

    def refuse(self, args, *rest, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process ({args!r}): mark it @pytest.mark.slow")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture(autouse=True)
def _no_background_thread_left():
    """Stop the background threads (jobs watcher, embedded worker) that the apps of a test started
    on their first request. An app outside ``test`` starts them, and nothing else ends them while
    the app lives: left running, they would go on reading their app's database and Redis, and
    logging, during the tests that follow."""
    before = set(threading.enumerate())
    yield
    started = [t for t in threading.enumerate() if isinstance(t, BackgroundThread) and t not in before]
    for thread in started:
        thread.stop(timeout=10)
    assert [t.name for t in started if t.is_alive()] == []


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    """An app context for tests that use the models or the store directly."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def redis_conn():
    conn = _test_redis()
    conn.flushdb()
    return conn
