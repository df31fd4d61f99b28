"""Fixtures of the foundation tests: a controlled environment for in-process apps and for the
entry points started as subprocesses."""

from __future__ import annotations

import io
import json
import logging

import pytest

from addon import create_app
from addon.config import VARIABLES
from addon.extensions import db
from addon.logs import configure_logging


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
def make_app(app, base_overrides):
    """Builds fresh apps on the test database and Redis (routes can still be added to them);
    their engines are disposed afterwards. Depends on ``app`` so the schema exists and the
    tables and Redis are emptied after the test."""
    built = []

    def make(**overrides):
        fresh = create_app({**base_overrides, **overrides})
        built.append(fresh)
        return fresh

    yield make
    for fresh in built:
        with fresh.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def log_lines():
    """JSON logging into a buffer; call the fixture's value to get the parsed lines so far.
    The root logger's handlers and level are restored afterwards."""
    saved = logging.root.handlers[:], logging.root.level
    stream = io.StringIO()
    configure_logging("INFO", stream)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    lines.text = stream.getvalue
    yield lines
    logging.root.handlers[:], level = saved
    logging.root.setLevel(level)
