"""Fixtures of the foundation tests: a controlled environment for in-process apps and for the
entry points started as subprocesses."""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet

from addon.config import VARIABLES
from addon.testkit.processes import UNREACHABLE_POSTGRES, UNREACHABLE_REDIS


@pytest.fixture
def bare_environ(monkeypatch, tmp_path):
    """No configuration variable in ``os.environ`` and a working directory with no ``.env``:
    what ``create_app`` sees is exactly what the test passes."""
    for variable in VARIABLES:
        monkeypatch.delenv(variable.name, raising=False)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def production_variables():
    """Exactly the variables production requires, none reachable: starting needs no connection."""
    return {
        "ADDON_ENV": "production",
        "BASE_URL": "https://addon.example.com",
        "DATABASE_URL": UNREACHABLE_POSTGRES,
        "REDIS_URL": UNREACHABLE_REDIS,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }


@pytest.fixture
def postgres_url():
    """The PostgreSQL server of this run, or a skip on SQLite runs."""
    url = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    if not url.startswith("postgres"):
        pytest.skip("needs TEST_DATABASE_URL on PostgreSQL")
    return url
