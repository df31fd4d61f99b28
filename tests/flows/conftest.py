"""Fixtures of the flow tests: the flows called as plain functions, in an app context (the
database, Redis, the settings) and outside any request."""

from __future__ import annotations

import pytest
from flask import has_request_context

from addon.extensions import db


@pytest.fixture
def plain(app):
    """An app context and no request: what a flow has when a command or a test calls it."""
    with app.app_context():
        assert not has_request_context()
        yield
        db.session.remove()


@pytest.fixture
def settings(app):
    return app.config["SETTINGS"]
