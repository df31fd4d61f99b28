"""What an execute costs the process: one parse of the spec shared by everyone, validation
documents built once per operation and parameter set, one audit commit per call."""

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
    operation = catalog.get("getProjects")
    declared = spec["paths"][operation.path]["get"]
    # The validation view copies only what it patches: parameters and schemas are the same objects.
    assert validator._spec["paths"][operation.path]["get"]["parameters"] is declared["parameters"]
    assert validator._spec["components"]["schemas"] is catalog.schemas


def test_validation_documents_are_built_once_per_operation_and_parameters_sent():
    validator, operation = get_validator(), get_catalog().get("getProjects")
    first = validator._openapi_for(operation, frozenset({"page"}))
    assert validator._openapi_for(operation, frozenset({"page"})) is first
    assert validator._openapi_for(operation, frozenset({"page", "name"})) is not first
    declared = (first.spec / "paths" / operation.path / "get" / "parameters").read_value()
    kept = {p["name"] for p in declared}
    assert kept == {"workspaceId", "page"}


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
