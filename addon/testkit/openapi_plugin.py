"""Pytest plugin: every answer a Flask test client receives is checked against the add-on's
OpenAPI document. Load with ``pytest_plugins = ["addon.testkit.openapi_plugin"]``.

A session fixture makes ``CheckedClient`` the test client class of every Flask app (the
session app and the ones tests build); an undocumented answer raises at the call, and a test
that swallowed that exception (a thread, a broad ``except``) fails at teardown.
"""

from __future__ import annotations

import pytest
from flask import Flask

from .openapi_responses import CheckedClient


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.openapi_call_failed = report.failed
    return report


@pytest.fixture(scope="session", autouse=True)
def _openapi_checked_clients():
    previous = Flask.test_client_class
    Flask.test_client_class = CheckedClient
    yield
    Flask.test_client_class = previous


@pytest.fixture(autouse=True)
def _no_undocumented_responses(request):
    CheckedClient.problems.clear()
    yield
    problems = list(CheckedClient.problems)
    CheckedClient.problems.clear()
    if problems and not getattr(request.node, "openapi_call_failed", False):
        pytest.fail("answers missing from addon/web/addon-openapi.json:\n" + "\n".join(problems), pytrace=False)
