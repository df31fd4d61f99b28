"""The call sent is the call validated, confirmed and audited: each path parameter fills exactly
one segment, dot segments are refused (422) before anything is sent, and the audit row holds the
URL exactly as the fake Clockify (a real HTTP server) received it."""

from __future__ import annotations

from urllib.parse import quote, unquote

import pytest
from confusable_urls import WORKSPACE

from addon.extensions import db
from addon.models import ApiCall

EXECUTE = "/ui/api-explorer/execute"
TASKS = f"/api/v1/workspaces/{WORKSPACE}/projects/P1/tasks/"

# Values that must arrive as one segment holding exactly that value.
SEGMENT_VALUES = [
    "plain-id", "6578a1b2c3d4e5f6a7b8c9d0", "a b", "a/b", "/", "a?b", "?", "a#b", "#", "100%", "%", "%2F",
    "a%2Fb", "%20", "a;b", ";", "a.b", "...", ".a", "a.", "..%2f", "%2e.x", "\u00fcn\u00efc\u00f8d\u00e9",
    "\u65e5\u672c", "emoji \U0001f389", "~user", "a+b", "a&b=c", "a'b\"c", "<x>", "a\\b", "a,b", "a:b", "@",
    "a=b", "[x]", "{taskId}", "\u202etxt", "tab\there",
]
# Dot segments, raw or percent-encoded (any case, also encoded twice): refused.
DOT_VALUES = [".", "..", "%2e", "%2E", "%2e%2e", "%2e%2E", "%2E%2E", ".%2e", "%2E.", "%252e", "%252e%252E",
              "%25252e%25252e"]


def _rows(app):
    with app.app_context():
        rows = db.session.execute(db.select(ApiCall).order_by(ApiCall.id)).scalars().all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def post(client, user_token):
    def send(path, body):
        return client.post(path, json=body, headers={"Authorization": f"Bearer {user_token()}"})
    return send


def _assert_audited_as_sent(app, fake_clockify, operation_id: str, method: str):
    [sent] = fake_clockify.requests()
    [row] = _rows(app)
    assert (row.operation_id, row.method, sent.method) == (operation_id, method, method)
    assert row.url == fake_clockify.url + sent.target
    return sent


@pytest.mark.parametrize("value", SEGMENT_VALUES)
def test_execute_path_parameter_fills_exactly_one_segment(app, post, fake_clockify, value):
    response = post(EXECUTE, {"operationId": "deleteTask", "pathParams": {"projectId": "P1", "taskId": value},
                              "confirm": True})
    assert response.status_code == 200, response.get_json()
    sent = _assert_audited_as_sent(app, fake_clockify, "deleteTask", "DELETE")
    assert sent.path.startswith(TASKS)
    segment = sent.path.removeprefix(TASKS)
    assert "/" not in segment and unquote(segment) == value
    assert response.get_json()["request"]["url"] == fake_clockify.url + sent.target


@pytest.mark.parametrize("value", SEGMENT_VALUES + DOT_VALUES)
def test_query_values_arrive_as_given_and_audited_as_sent(app, post, fake_clockify, value):
    response = post(EXECUTE, {"operationId": "getProjects", "query": {"name": value, "page": 1}})
    assert response.status_code == 200, response.get_json()
    sent = _assert_audited_as_sent(app, fake_clockify, "getProjects", "GET")
    assert sent.path == f"/api/v1/workspaces/{WORKSPACE}/projects"
    assert sent.query == {"name": [value], "page": ["1"]}


@pytest.mark.parametrize("value", DOT_VALUES)
@pytest.mark.parametrize("name", ["projectId", "taskId"])
def test_execute_refuses_dot_segment_parameters_naming_them(app, post, fake_clockify, name, value):
    path_params = {"projectId": "P1", "taskId": "T1", name: value}
    response = post(EXECUTE, {"operationId": "deleteTask", "pathParams": path_params, "confirm": True})
    assert response.status_code == 422
    assert [(e["location"], e["field"]) for e in response.get_json()["errors"]] == [("path", name)]
    assert fake_clockify.requests() == []
    [row] = _rows(app)
    assert (row.outcome, row.url) == ("validation_failed", None)


@pytest.mark.parametrize("value", SEGMENT_VALUES)
def test_api_call_path_values_fill_exactly_one_segment(app, post, fake_clockify, value):
    path = f"/v1/workspaces/{{workspaceId}}/projects/P1/tasks/{quote(value, safe='')}"
    response = post("/api-call", {"method": "DELETE", "path": path, "confirm": True})
    assert response.status_code == 200, response.get_json()
    sent = _assert_audited_as_sent(app, fake_clockify, "deleteTask", "DELETE")
    segment = sent.path.removeprefix(TASKS)
    assert "/" not in segment and unquote(segment) == value


@pytest.mark.parametrize("path", [
    "/v1/workspaces/{workspaceId}/projects/..",
    "/v1/workspaces/{workspaceId}/projects/P1/tasks/.",
    "/v1/workspaces/{workspaceId}/projects/P1/tasks/..",
    "/v1/workspaces/{workspaceId}/projects/P1/tasks/%2e%2E",
    "/v1/workspaces/{workspaceId}/projects/P1/tasks/%2E",
    "/v1/workspaces/{workspaceId}/projects/P1/tasks/.%2e",
    "/v1/workspaces/{workspaceId}/projects/P1/tasks/%252e%252e",
    f"/v1/workspaces/{WORKSPACE}/./projects",
    "/v1/../v1/workspaces/{workspaceId}/projects",
    "/v1/workspaces/{workspaceId}/projects/%2E%2E/tasks/T1",
    "/./v1/workspaces/{workspaceId}/projects",
    "/v1/workspaces/{workspaceId}/projects/..?page=1",
])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_api_call_refuses_dot_segments(post, fake_clockify, method, path):
    response = post("/api-call", {"method": method, "path": path, "confirm": True})
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["path"]
    assert fake_clockify.requests() == []
