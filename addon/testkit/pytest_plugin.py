"""Pytest fixtures of the test kit. Load with ``pytest_plugins = ["addon.testkit.pytest_plugin"]``."""

from __future__ import annotations

import pytest

from .fake_clockify import FakeClockify


@pytest.fixture
def fake_clockify():
    """A started ``FakeClockify`` on a free port of 127.0.0.1, stopped after the test."""
    with FakeClockify() as fake:
        yield fake
