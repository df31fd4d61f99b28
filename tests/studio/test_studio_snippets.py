"""API Studio's "Copy as" (``POST /ui/api-explorer/snippets``): the generated code, run for real
against the fake Clockify, reaches the same operation with the same parameters as Execute does,
with the user's API key instead of the add-on token; the checks are Execute's, nothing is sent
and nothing is audited."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from addon.clockify.snippets import API_KEY_PLACEHOLDER
from addon.extensions import db
from addon.models import ApiCall

WORKSPACE = "ws-studio-1"
SNIPPETS = "/ui/api-explorer/snippets"
API_KEY = "my-personal-api-key"

CALLS = [
    pytest.param({"operationId": "getProjects",
                  "query": {"name": "O'Neil & Co/ü ?#%", "archived": False, "page": 2, "page-size": 50}},
                 id="query-with-awkward-text"),
    pytest.param({"operationId": "getProjects", "query": {"clients": ["c1", "c 2"], "contains-client": True}},
                 id="repeated-query"),
    pytest.param({"operationId": "createNewProject",
                  "body": {"name": "Apollo «ü» \"quoted\" 'single' $HOME `x`", "billable": True, "isPublic": False,
                           "color": "#03A9F4", "hourlyRate": {"amount": 1250}}}, id="post-body"),
    pytest.param({"operationId": "updateClient", "pathParams": {"id": "c 1/é?"}, "body": {"name": "Acme"}},
                 id="put-awkward-path"),
    pytest.param({"operationId": "generateSharedReportV1", "pathParams": {"id": "r-1"}}, id="reports-host"),
]


@pytest.fixture
def token(user_token, fake_clockify):
    return user_token(backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url)


def _snippets(client, token, call):
    response = client.post(SNIPPETS, json=call, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _wire(recorded):
    return recorded.method, recorded.path, recorded.query, recorded.body


def _sent_by_execute(client, token, fake_clockify, call):
    fake_clockify.clear_requests()
    response = client.post("/ui/api-explorer/execute", json={**call, "confirm": True},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    [sent] = fake_clockify.requests()
    fake_clockify.clear_requests()
    return sent


def _run(command: list[str]):
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("call", CALLS)
def test_the_python_snippet_reaches_the_same_operation_with_the_same_parameters(client, token, fake_clockify, call):
    expected = _sent_by_execute(client, token, fake_clockify, call)
    code = _snippets(client, token, call)["python"]
    assert token not in code and code.count(API_KEY_PLACEHOLDER) == 1
    _run([sys.executable, "-c", code.replace(API_KEY_PLACEHOLDER, API_KEY)])
    [sent] = fake_clockify.requests()
    assert _wire(sent) == _wire(expected)
    assert sent.headers["x-api-key"] == API_KEY and "x-addon-token" not in sent.headers


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("call", CALLS)
def test_the_curl_snippet_sends_the_same_call(client, token, fake_clockify, call):
    expected = _sent_by_execute(client, token, fake_clockify, call)
    code = _snippets(client, token, call)["curl"]
    _run(["sh", "-c", code.replace(API_KEY_PLACEHOLDER, API_KEY) + " --silent --output /dev/null"])
    [sent] = fake_clockify.requests()
    assert _wire(sent) == _wire(expected) and sent.headers["x-api-key"] == API_KEY


def _node_has_fetch() -> bool:
    node = shutil.which("node")
    if node is None:
        return False
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip().lstrip("v")
    return int(version.split(".")[0] or 0) >= 18


@pytest.mark.slow
@pytest.mark.skipif(not _node_has_fetch(), reason="Node 18+ (with fetch) is not installed")
@pytest.mark.parametrize("call", CALLS)
def test_the_javascript_snippet_sends_the_same_call(client, token, fake_clockify, call):
    expected = _sent_by_execute(client, token, fake_clockify, call)
    code = _snippets(client, token, call)["javascript"]
    _run(["node", "--input-type=module", "-e", code.replace(API_KEY_PLACEHOLDER, API_KEY)])
    [sent] = fake_clockify.requests()
    assert _wire(sent) == _wire(expected) and sent.headers["x-api-key"] == API_KEY


def test_the_snippet_uses_the_real_host_and_the_exact_url(client, user_token):
    token = user_token()  # the signer's Clockify URLs: https://api.clockify.me/api and the reports host
    data = _snippets(client, token, {"operationId": "getProjects", "query": {"name": "a b&c", "archived": True}})
    # (the test client sends JSON with sorted keys: archived comes first)
    assert data["url"] == f"https://api.clockify.me/api/v1/workspaces/{WORKSPACE}/projects?archived=true&name=a+b%26c"
    assert data["curl"].startswith(f"curl -X GET '{data['url']}'")
    assert "X-Api-Key: <your API key>" in data["curl"] and "X-Api-Key" in data["javascript"]
    report = _snippets(client, token, {"operationId": "generateSharedReportV1", "pathParams": {"id": "r1"}})
    assert report["url"].startswith("https://reports.api.clockify.me/")


@pytest.mark.parametrize(("call", "status", "error"), [
    ({"operationId": "noSuchOperation"}, 404, "unknown_operation"),
    ({"operationId": "getProjects", "pathParams": {"workspaceId": "ws-other-9"}}, 403, "workspace_mismatch"),
    ({"operationId": "getProjects", "query": {"page": "abc"}}, 422, "validation_failed"),
    ({"operationId": "createNewProject", "body": {}}, 422, "validation_failed"),
    ({}, 422, "validation_failed"),
])
def test_a_call_execute_would_refuse_gets_the_same_refusal(client, token, call, status, error):
    response = client.post(SNIPPETS, json=call, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_nothing_is_sent_nor_audited_and_writes_need_no_confirmation(app, client, token, fake_clockify):
    data = _snippets(client, token, {"operationId": "createNewProject", "body": {"name": "Apollo"}})
    assert data["method"] == "POST"
    assert fake_clockify.requests() == []
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(ApiCall)).scalar() == 0


def test_a_token_is_required(client, installation):
    assert client.post(SNIPPETS, json={"operationId": "getProjects"}).status_code == 401
