"""What an execute costs the process: one parse of the spec shared by everyone, validation
checks built once per operation, two statements per call (the installation read and the audit
row), each committed on its own, and no database connection held while Clockify answers."""

import threading
import time

import pytest
from sqlalchemy import event

from addon.clockify import openapi_spec
from addon.clockify.openapi_catalog import get_catalog, load_spec
from addon.clockify.request_validation import get_validator
from addon.extensions import db
from addon.testkit.fake_clockify import Fault

EXECUTE = "/ui/api-explorer/execute"


def test_the_catalog_and_the_validator_share_one_parsed_spec():
    spec = openapi_spec.load()
    assert load_spec() is spec
    validator, catalog = get_validator(), get_catalog()
    # The validation view copies only what it patches: the paths and the schemas are the same objects.
    assert validator._spec["paths"] is spec["paths"]
    assert validator._spec["components"]["schemas"] is catalog.schemas


def test_checks_are_built_once_per_operation(monkeypatch):
    validator, operation = get_validator(), get_catalog().get("getProjects")
    checks = validator._checks_for(operation)
    assert validator._checks_for(operation) is checks
    declared = load_spec()["paths"][operation.path]["get"]["parameters"]
    assert [c.name for c in checks.parameters] == [p["name"] for p in declared]
    built = []
    factories = validator._openapi
    for factory in (factories.schema_validators_factory, factories.style_deserializers_factory):
        monkeypatch.setattr(factory, "create", lambda *args, **kwargs: built.append(args))
    errors = validator.validate(operation, "https://api.clockify.me/api", {"workspaceId": "ws1"},
                                {"page": "x", "name": "a", "archived": True}, None, None)
    assert [e.field for e in errors] == ["page"]
    assert built == []  # nothing is built per call


@pytest.mark.parametrize("body", [
    {"operationId": "getProjects", "query": {"page": 1}},
    {"operationId": "getProjects", "query": {"page": "x"}},
    {"operationId": "createNewProject", "body": {"name": "X"}},
])
def test_two_statements_per_execute_each_committed_on_its_own(app, client, user_token, fake_clockify, body):
    token = user_token(backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url)
    statements = []

    def seen(connection, cursor, statement, parameters, context, executemany):
        statements.append((statement.split()[0].upper(), connection.get_execution_options().get("isolation_level")))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        response = client.post(EXECUTE, json={**body, "confirm": True}, headers={"Authorization": f"Bearer {token}"})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert response.status_code in (200, 422)
    # No BEGIN, COMMIT or ROLLBACK around either: each is its own transaction.
    assert statements == [("SELECT", "AUTOCOMMIT"), ("INSERT", "AUTOCOMMIT")]
    assert len(fake_clockify.requests()) == (response.status_code == 200)


def test_no_database_connection_is_held_while_clockify_answers(app, client, user_token, fake_clockify):
    token = user_token(backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url)
    fake_clockify.inject("*/projects", Fault.slow(1.0))
    with app.app_context():
        pool = db.engine.pool
    answers = []
    call = threading.Thread(target=lambda: answers.append(client.post(
        EXECUTE, json={"operationId": "getProjects"}, headers={"Authorization": f"Bearer {token}"})))
    call.start()
    time.sleep(0.3)  # the call has long reached the fake, which holds its answer 1 s
    held, deadline = [], time.monotonic() + 0.4
    while time.monotonic() < deadline:
        held.append(pool.checkedout())
        time.sleep(0.01)
    call.join(timeout=10)
    assert answers[0].status_code == 200
    assert held and max(held) == 0
