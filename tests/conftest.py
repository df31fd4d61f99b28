"""Shared fixtures: a real database (PostgreSQL or SQLite, from TEST_DATABASE_URL), real Redis
(TEST_REDIS_URL, a dedicated DB index), the app built by the factory, and a signer whose public
key the app trusts through CLOCKIFY_PUBLIC_KEY, so every token in the tests is really verified."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet

from addon import create_app
from addon.extensions import db
from addon.testkit.databases import recreate_postgres_database
from addon.testkit.signing import Signer, generate_private_key
from addon.workers import BackgroundThread

pytest_plugins = ["addon.testkit.pytest_plugin", "addon.testkit.openapi_plugin"]

ADDON_KEY = "test-addon"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ENCRYPTION_KEY = Fernet.generate_key().decode()
SHARED_MEMORY = "/dev/shm"


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
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


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
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()


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
    conn = redis.Redis.from_url(TEST_REDIS_URL)
    conn.flushdb()
    return conn
