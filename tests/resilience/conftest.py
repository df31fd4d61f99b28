"""Fault injection against real processes: gunicorn, ``python worker.py``, a private
redis-server and a FaultProxy in front of PostgreSQL. Every process is stopped (its whole
session) when the test ends, whatever happened."""

from __future__ import annotations

import pytest

from addon.testkit.fault_stack import PrivateRedis, ProcessPool

# Settings of the processes under test: a manifest small enough that no webhook needs registering
# through Clockify's API, and a sweep every second so recoveries show within the test.
STACK_SETTINGS = {
    "WEBHOOK_EVENTS": "NEW_TIME_ENTRY,NEW_PROJECT,NEW_TAG,NEW_CLIENT",
    "WEBHOOK_SWEEP_SECONDS": "1",
    "LOG_LEVEL": "INFO",
}


@pytest.fixture(autouse=True)
def _postgres_only(base_overrides):
    if not base_overrides["DATABASE_URL"].startswith("postgres"):
        pytest.skip(reason="fault injection runs against PostgreSQL (several processes write at once)")


@pytest.fixture
def pool(tmp_path):
    """Starts processes for the test and stops every one (with everything it started) afterwards."""
    with ProcessPool(tmp_path / "logs") as processes:
        yield processes


@pytest.fixture
def private_redis(pool) -> PrivateRedis:
    """A redis-server of this test alone, on a free port, without persistence."""
    return PrivateRedis(pool).start()


@pytest.fixture
def stack_env(app, base_overrides) -> dict:
    """Variables of the processes under test (on the test database, which ``app`` migrated)."""
    return {**{k: str(v) for k, v in base_overrides.items()}, **STACK_SETTINGS}
