"""What an execute costs the process: one parse of the spec shared by everyone, validation
checks built once per operation, one audit commit per call."""

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from addon.clockify import openapi_spec
from addon.clockify.openapi_catalog import get_catalog, load_spec
from addon.clockify.request_validation import get_validator

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
def test_one_commit_per_execute(app, client, user_token, fake_clockify, body):
    token = user_token(backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url)
    commits = []

    def count(session):
        commits.append(session)

    event.listen(Session, "after_commit", count)
    try:
        response = client.post(EXECUTE, json={**body, "confirm": True}, headers={"Authorization": f"Bearer {token}"})
    finally:
        event.remove(Session, "after_commit", count)
    assert response.status_code in (200, 422)
    assert len(commits) == 1
    assert len(fake_clockify.requests()) == (response.status_code == 200)
