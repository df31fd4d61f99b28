"""API Studio calls that reach Clockify (the fake one): the answer, the token used, the audit
row and the metric; plus the refusals that only the outbound side can make (429, 503)."""

import json

import pytest
from prometheus_client import REGISTRY

from addon.extensions import db
from addon.models import ApiCall, Installation
from addon.outbound import get_rate_limiter
from addon.testkit.fake_clockify import Fault

WORKSPACE = "ws-studio-1"
EXECUTE = "/ui/api-explorer/execute"


@pytest.fixture
def token(user_token, fake_clockify):
    """An OWNER's token whose backendUrl/reportsUrl point at the fake Clockify."""
    return user_token(backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url)


@pytest.fixture
def post(client, token):
    def send(path, body, bearer=None):
        return client.post(path, json=body, headers={"Authorization": f"Bearer {bearer or token}"})
    return send


def _metric(operation, status):
    return REGISTRY.get_sample_value("addon_api_calls_total", {"operation": operation, "status": status}) or 0.0


def _rows(app):
    with app.app_context():
        rows = db.session.execute(db.select(ApiCall).order_by(ApiCall.id)).scalars().all()
        db.session.expunge_all()
        return rows


def test_execute_returns_clockifys_answer(app, post, token, fake_clockify):
    fake_clockify.seed(WORKSPACE, "projects", [{"id": "p1", "name": "Apollo"}, {"id": "p2", "name": "Gemini"}])
    before = _metric("getProjects", "200")
    response = post(EXECUTE, {"operationId": "getProjects", "query": {"page": 1, "archived": False}})
    assert response.status_code == 200
    data = response.get_json()
    assert data["status"] == 200
    assert [p["name"] for p in data["body"]] == ["Apollo", "Gemini"]
    assert data["headers"]["Last-Page"] == "true" and "Content-Type" in data["headers"]
    sent_url = f"{fake_clockify.api_url}/v1/workspaces/{WORKSPACE}/projects?archived=false&page=1"
    assert data["request"] == {"method": "GET", "query": {"page": 1, "archived": False}, "url": sent_url}
    assert isinstance(data["duration_ms"], float)
    assert token not in response.get_data(as_text=True)

    [sent] = fake_clockify.requests()
    assert sent.headers["x-addon-token"] == token
    assert sent.query == {"page": ["1"], "archived": ["false"]}

    [row] = _rows(app)
    assert (row.outcome, row.status_code, row.operation_id, row.token_kind) == ("ok", 200, "getProjects", "user")
    assert row.duration_ms is not None and row.request["pathParams"] == {"workspaceId": WORKSPACE}
    assert (row.method, row.path, row.user_id) == ("GET", f"/v1/workspaces/{WORKSPACE}/projects", "user-1")
    assert _metric("getProjects", "200") == before + 1


@pytest.mark.parametrize("path", [
    "/v1/workspaces/ws-studio-1/projects?name=Apollo&page=1",
    "/v1/workspaces/{workspaceId}/projects?name=Apollo&page=1",
])
def test_api_call_takes_template_or_concrete_paths(post, fake_clockify, path):
    fake_clockify.seed(WORKSPACE, "projects", [{"id": "p1", "name": "Apollo"}])
    response = post("/api-call", {"method": "get", "path": path})
    assert response.status_code == 200 and response.get_json()["status"] == 200
    [sent] = fake_clockify.requests()
    assert sent.path == f"/api/v1/workspaces/{WORKSPACE}/projects"
    assert sent.query == {"name": ["Apollo"], "page": ["1"]}


def test_confirmed_write_reaches_clockify(app, post, fake_clockify):
    body = {"name": "Apollo", "billable": True, "memberships": [{"userId": "u1"}]}
    response = post(EXECUTE, {"operationId": "createNewProject", "body": body, "confirm": True})
    assert response.status_code == 200
    data = response.get_json()
    assert data["status"] == 201 and data["body"]["body"] == body
    [sent] = fake_clockify.requests(method="POST")
    assert sent.body == body and sent.headers["content-type"] == "application/json"
    assert _rows(app)[0].request["body"] == body


def test_delete_by_path_with_confirm(post, fake_clockify):
    response = post("/api-call", {"method": "DELETE", "path": "/v1/workspaces/ws-studio-1/projects/p1",
                                  "confirm": True})
    assert response.status_code == 200
    assert [r.path for r in fake_clockify.requests(method="DELETE")] == [f"/api/v1/workspaces/{WORKSPACE}/projects/p1"]


def test_reports_go_to_the_reports_host(post, fake_clockify):
    body = {"dateRangeStart": "2026-01-01T00:00:00Z", "dateRangeEnd": "2026-01-31T23:59:59Z", "detailedFilter": {}}
    response = post(EXECUTE, {"operationId": "generateDetailedReport", "body": body, "confirm": True})
    assert response.status_code == 200
    expected = f"{fake_clockify.reports_url}/v1/workspaces/{WORKSPACE}/reports/detailed"
    assert response.get_json()["request"]["url"] == expected
    [sent] = fake_clockify.requests()
    assert sent.path == f"/reports/v1/workspaces/{WORKSPACE}/reports/detailed"


def test_path_values_are_encoded(post, fake_clockify):
    post(EXECUTE, {"operationId": "getProject", "pathParams": {"projectId": "a/b?c"}})
    [sent] = fake_clockify.requests()
    assert sent.path == f"/api/v1/workspaces/{WORKSPACE}/projects/a%2Fb%3Fc"


def test_clockify_error_status_is_passed_through(app, post, fake_clockify):
    fake_clockify.inject("*/projects/missing", Fault.status(404, {"message": "Project not found", "code": 501}))
    response = post(EXECUTE, {"operationId": "getProject", "pathParams": {"projectId": "missing"}})
    assert response.status_code == 200
    data = response.get_json()
    assert data["status"] == 404 and data["body"]["message"] == "Project not found"
    [row] = _rows(app)
    assert (row.outcome, row.status_code) == ("clockify_error", 404)


def test_clockify_429_is_shown_not_retried(post, fake_clockify):
    fake_clockify.inject("*/projects", Fault.rate_limited("7"))
    data = post(EXECUTE, {"operationId": "getProjects"}).get_json()
    assert data["status"] == 429 and data["headers"]["Retry-After"] == "7"
    assert len(fake_clockify.requests()) == 1


def test_failed_write_is_not_retried(post, fake_clockify):
    fake_clockify.inject("*/projects", Fault.status(503), method="POST")
    data = post(EXECUTE, {"operationId": "createNewProject", "body": {"name": "Xy"}, "confirm": True}).get_json()
    assert data["status"] == 503
    assert len(fake_clockify.requests(method="POST")) == 1


def test_empty_budget_is_429_with_retry_after(app, post, fake_clockify):
    with app.app_context():
        get_rate_limiter().penalize(WORKSPACE, 20)
    before = _metric("getProjects", "rate_limited")
    response = post(EXECUTE, {"operationId": "getProjects"})
    assert response.status_code == 429
    assert response.get_json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 21
    assert fake_clockify.requests() == []
    [row] = _rows(app)
    assert row.outcome == "rate_limited" and row.status_code is None
    assert _metric("getProjects", "rate_limited") == before + 1


def test_a_slot_due_shortly_is_waited_for(app, post, fake_clockify):
    with app.app_context():
        get_rate_limiter().penalize(WORKSPACE, 0.2)
    response = post(EXECUTE, {"operationId": "getProjects"})
    assert response.status_code == 200 and len(fake_clockify.requests()) == 1


def test_unreachable_clockify_is_503(app, post, fake_clockify):
    fake_clockify.inject("*/projects", Fault.drop())
    response = post(EXECUTE, {"operationId": "getProjects"})
    assert response.status_code == 503 and response.get_json()["error"] == "clockify_unavailable"
    assert _rows(app)[0].outcome == "clockify_unavailable"


# Where Clockify (or the user) could put the token back into an answer: (body, headers, query).
ECHOES = {
    "a body value and a key": (lambda t: {"seen": f"token={t}", t: 1}, {}, {}),
    "deep in a list": (lambda t: [{"a": [{"b": [t]}]}], {}, {}),
    "beside text JSON escapes": (lambda t: {"note": f"é\n\"{t}\"\u2028"}, {}, {}),
    "a plain string body": (lambda t: f"Bearer {t}", {}, {}),
    "an answered header": (lambda t: {"ok": True}, lambda t: {"Location": f"https://x.invalid/?t={t}"}, {}),
    "a query value the user typed": (lambda t: [], {}, lambda t: {"name": t}),
}


@pytest.mark.parametrize("case", ECHOES)
def test_echoed_token_is_masked(case, post, token, fake_clockify):
    body, headers, query = ECHOES[case]
    fake_clockify.inject("*/projects", Fault.status(200, body(token), headers=headers(token) if headers else None))
    response = post(EXECUTE, {"operationId": "getProjects", "query": query(token) if query else {}})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert token not in text and "[REDACTED]" in text


def test_an_answer_without_the_token_is_unchanged(post, token, fake_clockify):
    answer = [{"id": "p1", "name": "é \"quoted\" \\ back"}]
    fake_clockify.inject("*/projects", Fault.status(200, answer))
    response = post(EXECUTE, {"operationId": "getProjects"})
    assert response.get_json()["body"] == answer and "[REDACTED]" not in response.get_data(as_text=True)


def test_nan_body_is_400(client, token):
    """NaN is not JSON: the one body parser refuses it before anything else."""
    raw = b'{"operationId": "createNewProject", "confirm": true, "body": {"name": "x", "estimate": NaN}}'
    response = client.post(EXECUTE, data=raw, content_type="application/json",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400 and response.get_json()["error"] == "malformed_json"


@pytest.fixture
def studio_admin_app(base_overrides, installation, fake_clockify):
    """An app that lets admins use the installation token; the installation points at the fake."""
    from addon import create_app

    allowing = create_app({**base_overrides, "STUDIO_ALLOW_INSTALLATION_TOKEN": "true"})
    with allowing.app_context():
        row = db.session.execute(db.select(Installation).filter_by(workspace_id=WORKSPACE)).scalar_one()
        row.api_url, row.reports_url = fake_clockify.api_url, fake_clockify.reports_url
        db.session.commit()
    return allowing


def test_admin_may_run_with_the_installation_token(app, studio_admin_app, token, fake_clockify):
    with studio_admin_app.app_context():
        installation_token = db.session.execute(
            db.select(Installation).filter_by(workspace_id=WORKSPACE)).scalar_one().installation_token
    body = {"operationId": "getProjects", "useInstallationToken": True}
    response = studio_admin_app.test_client().post(EXECUTE, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    [sent] = fake_clockify.requests()
    assert sent.headers["x-addon-token"] == installation_token
    assert installation_token not in response.get_data(as_text=True)
    assert _rows(app)[0].token_kind == "installation"


def test_without_opt_in_even_admins_use_their_own_token(studio_admin_app, token, fake_clockify):
    response = studio_admin_app.test_client().post(EXECUTE, json={"operationId": "getProjects"},
                                                   headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert fake_clockify.requests()[0].headers["x-addon-token"] == token


def test_audit_never_stores_the_token(app, post, token, fake_clockify):
    post(EXECUTE, {"operationId": "getProjects", "query": {"name": token}})
    for row in _rows(app):
        assert token not in json.dumps(row.request) and token not in (row.error or "")
