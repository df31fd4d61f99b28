"""Fixtures for fuzzing: an installed workspace whose tokens the fuzzers sign requests with."""

from __future__ import annotations

import time

import pytest
from schemathesis.pytest.plugin import SchemathesisFunction

from addon import create_app
from addon.extensions import db
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Give the schemathesis test of each operation its own node id (``test[GET /health]``).

    pytest 9.2 builds an item's id from its original name and parametrize callspec, which
    schemathesis's items do not have: they all get the function's bare id, and pytest-xdist,
    which schedules tests by id, would run the first operation only."""
    for item in items:
        if isinstance(item, SchemathesisFunction) and item.operation_label and item._id.params is None:
            item._id = item._id.with_params(item.operation_label)


@pytest.fixture
def kit(app, signer, fake_clockify) -> ClockifySimulator:
    """Plays Clockify against the session app (test client: every answer is checked); the
    installations it makes point at the fake Clockify, so nothing leaves 127.0.0.1."""
    return ClockifySimulator(signer, FlaskTransport(app.test_client()), api_url=fake_clockify.api_url)


# One event per webhook route, so the installation holds a token for each route.
ROUTE_EVENTS = ("NEW_TIME_ENTRY", "NEW_PROJECT", "USER_JOINED_WORKSPACE", "EXPENSE_CREATED", "NEW_APPROVAL_REQUEST",
                "ASSIGNMENT_CREATED")


@pytest.fixture
def installed(kit):
    """A workspace installed through INSTALLED, with a webhook token for every route
    (``route_tokens``: route path -> token)."""
    installed = kit.install("ws-fuzz", "addon-fuzz", settings={"auto_bootstrap": False}, events=ROUTE_EVENTS)
    assert installed.reply.status_code == 200, installed.reply.body
    installed.route_tokens = {installed.webhook_paths[e]: installed.webhook_tokens[e] for e in ROUTE_EVENTS}
    return installed


@pytest.fixture(scope="module")
def development_app(app, base_overrides):
    """The app as in development (operator views registered), on the test database and Redis."""
    development = create_app({**base_overrides, "ADDON_ENV": "development"})
    yield development
    with development.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def user_token(signer, installed, fake_clockify) -> str:
    """An owner's user token of the installed workspace whose hosts are the fake Clockify's."""
    return signer.make_token(workspaceId=installed.workspace_id, addonId=installed.addon_id, user="user-fuzz",
                             workspaceRole="OWNER", theme="DEFAULT", language="EN",
                             backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url,
                             exp=int(time.time()) + 1800)
