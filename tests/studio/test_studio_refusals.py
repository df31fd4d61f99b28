"""Every refusal of /ui/api-explorer/execute and /api-call happens before Clockify is called,
is answered with its contract status and code, and is audited."""

import pytest
from prometheus_client import REGISTRY

from addon.extensions import db
from addon.models import ApiCall

EXECUTE = "/ui/api-explorer/execute"


def _calls_metric(operation, status):
    return REGISTRY.get_sample_value("addon_api_calls_total", {"operation": operation, "status": status}) or 0.0


def _audit_rows(app):
    with app.app_context():
        rows = db.session.execute(db.select(ApiCall).order_by(ApiCall.id)).scalars().all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def post(client, auth_headers):
    def send(path, body, headers=None):
        return client.post(path, json=body, headers=headers or auth_headers)
    return send


def test_unknown_operation_id_is_404_with_suggestions(app, post):
    before = _calls_metric("unknown", "unknown_operation")
    response = post(EXECUTE, {"operationId": "getProjectz"})
    assert response.status_code == 404
    data = response.get_json()
    assert data["error"] == "unknown_operation"
    assert "getProjects" in [s["operationId"] for s in data["suggestions"]]
    assert _calls_metric("unknown", "unknown_operation") == before + 1
    [row] = _audit_rows(app)
    assert (row.outcome, row.operation_id, row.status_code, row.user_id) == ("unknown_operation", None, None, "user-1")


def test_unknown_path_is_404_with_suggestions(post):
    response = post("/api-call", {"method": "GET", "path": "/v1/workspaces/ws-studio-1/projectz"})
    assert response.status_code == 404
    data = response.get_json()
    assert data["error"] == "unknown_operation"
    assert data["suggestions"][0]["operationId"] == "getProjects"


def test_known_path_with_another_method_is_404(post):
    response = post("/api-call", {"method": "PATCH", "path": "/v1/workspaces/{workspaceId}/projects"})
    assert response.status_code == 404 and response.get_json()["error"] == "unknown_operation"


@pytest.mark.parametrize(("path", "body"), [
    (EXECUTE, {"operationId": "getProjects", "pathParams": {"workspaceId": "ws-other-9"}}),
    ("/api-call", {"method": "GET", "path": "/v1/workspaces/ws-other-9/projects"}),
])
def test_another_workspace_is_403(app, post, path, body):
    response = post(path, body)
    assert response.status_code == 403 and response.get_json()["error"] == "workspace_mismatch"
    assert _audit_rows(app)[0].outcome == "workspace_mismatch"


@pytest.mark.parametrize(("path", "body"), [
    (EXECUTE, {"operationId": "createNewProject", "body": {"name": "X"}}),
    (EXECUTE, {"operationId": "createNewProject", "body": {"name": "X"}, "confirm": "yes"}),
    ("/api-call", {"method": "POST", "path": "/v1/workspaces/{workspaceId}/projects", "body": {"name": "X"}}),
    ("/api-call", {"method": "DELETE", "path": "/v1/workspaces/ws-studio-1/projects/p1"}),
])
def test_write_without_confirm_is_428(app, post, path, body):
    before = _calls_metric(_operation(body), "confirmation_required")
    response = post(path, body)
    assert response.status_code == 428
    assert response.get_json()["error"] == "confirmation_required"
    assert _calls_metric(_operation(body), "confirmation_required") == before + 1
    [row] = _audit_rows(app)
    assert row.outcome == "confirmation_required" and row.method in ("POST", "DELETE")


def _operation(body):
    return body.get("operationId") or {"POST": "createNewProject", "DELETE": "deleteProject"}[body["method"]]


def test_host_outside_allowed_domains_is_403(app, client, user_token):
    token = user_token(backendUrl="https://api.evil.example/api")
    response = client.post(EXECUTE, json={"operationId": "getProjects"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.get_json()["error"] == "host_not_allowed"
    assert _audit_rows(app)[0].outcome == "host_not_allowed"


def test_reports_host_is_checked_too(client, user_token):
    token = user_token(reportsUrl="https://reports.evil.example")
    body = {"operationId": "generateDetailedReport", "confirm": True, "body": {}}
    response = client.post(EXECUTE, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.get_json()["error"] == "host_not_allowed"


def test_token_without_backend_url_is_refused(client, user_token):
    token = user_token(backendUrl=None)
    response = client.post(EXECUTE, json={"operationId": "getProjects"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.get_json()["error"] == "host_not_allowed"


def test_unexpected_url_shape_is_refused(client, user_token):
    token = user_token(backendUrl="https://euc1.clockify.me/somewhere/else")
    response = client.post(EXECUTE, json={"operationId": "getProjects"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.get_json()["error"] == "host_not_allowed"


def test_body_over_the_limit_is_413(app, base_overrides, signer, installation):
    from addon import create_app

    small = create_app({**base_overrides, "API_CALL_MAX_PAYLOAD_BYTES": "100"})
    token = signer.user_token("ws-studio-1", "addon-studio-1")
    body = {"operationId": "createNewProject", "confirm": True, "body": {"name": "x" * 200}}
    response = small.test_client().post(EXECUTE, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 413 and response.get_json()["error"] == "payload_too_large"
    assert _audit_rows(app)[0].outcome == "payload_too_large"


def test_request_far_over_the_limit_is_413_before_parsing(app, base_overrides, signer, installation):
    from addon import create_app

    small = create_app({**base_overrides, "API_CALL_MAX_PAYLOAD_BYTES": "100"})
    token = signer.user_token("ws-studio-1", "addon-studio-1")
    raw = b'{"operationId": "createNewProject", "body": {"name": "' + b"x" * 200_000 + b'"}}'
    response = small.test_client().post(EXECUTE, data=raw, content_type="application/json",
                                        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 413


def test_validation_errors_are_422_with_each_field(app, post):
    body = {"operationId": "getProjects", "query": {"page": "x", "bogus": 1}}
    response = post(EXECUTE, body)
    assert response.status_code == 422
    data = response.get_json()
    assert data["error"] == "validation_failed"
    assert {"location": "query", "field": "page", "message": "Must be an integer."} in data["errors"]
    unknown = {"location": "query", "field": "bogus", "message": "Not a query parameter of this operation."}
    assert unknown in data["errors"]
    [row] = _audit_rows(app)
    assert row.outcome == "validation_failed" and row.request["query"] == {"page": "x", "bogus": 1}


def test_body_validation_errors_name_nested_fields(post):
    body = {"operationId": "createNewProject", "confirm": True, "body": {"name": 5, "memberships": [{"userId": 3}]}}
    errors = post(EXECUTE, body).get_json()["errors"]
    assert {(e["location"], e["field"]) for e in errors} == {("body", "name"), ("body", "memberships[0].userId")}


def test_path_parameter_errors_are_422(post):
    response = post(EXECUTE, {"operationId": "getProject"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"location": "path", "field": "projectId", "message": "Required."}]


@pytest.mark.parametrize(("body", "code"), [([1, 2], "bad_request"), ("text", "bad_request"),
                                           (None, "malformed_json")])  # None: an empty body
def test_non_object_request_is_400(client, auth_headers, body, code):
    response = client.post(EXECUTE, json=body, headers=auth_headers)
    assert response.status_code == 400 and response.get_json()["error"] == code


@pytest.mark.parametrize("body", [
    {}, {"operationId": 5}, {"operationId": "getProjects", "query": [1]},
    {"operationId": "getProjects", "pathParams": "x"},
])
def test_malformed_execute_is_422(client, auth_headers, body):
    response = client.post(EXECUTE, json=body, headers=auth_headers)
    assert response.status_code == 422 and response.get_json()["error"] == "validation_failed"


@pytest.mark.parametrize("body", [
    {"path": "/v1/workspaces"}, {"method": "GET"}, {"method": "GET", "path": "https://evil.example/v1/workspaces"},
])
def test_malformed_api_call_is_422(client, auth_headers, body):
    response = client.post("/api-call", json=body, headers=auth_headers)
    assert response.status_code == 422


def test_calls_need_a_user_token(client, installation):
    response = client.post(EXECUTE, json={"operationId": "getProjects"})
    assert response.status_code == 401


def test_token_of_an_uninstalled_workspace_is_refused(client, signer, installation):
    token = signer.user_token("ws-never", "addon-x")
    response = client.post(EXECUTE, json={"operationId": "getProjects"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404


def test_installation_token_is_off_by_default(app, client, user_token):
    body = {"operationId": "getProjects", "useInstallationToken": True}
    response = client.post(EXECUTE, json=body, headers={"Authorization": f"Bearer {user_token()}"})
    assert response.status_code == 403 and response.get_json()["error"] == "installation_token_disabled"
    assert _audit_rows(app)[0].token_kind == "installation"


def test_installation_token_needs_an_admin(app, base_overrides, signer, installation):
    from addon import create_app

    allowing = create_app({**base_overrides, "STUDIO_ALLOW_INSTALLATION_TOKEN": "true"})
    token = signer.user_token("ws-studio-1", "addon-studio-1", role="TEAM_MANAGER")
    body = {"operationId": "getProjects", "useInstallationToken": True}
    response = allowing.test_client().post(EXECUTE, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.get_json()["error"] == "admin_required"


def test_refusal_audit_redacts_secrets(app, post):
    body = {"operationId": "createNewProject", "body": {"name": "X", "note": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
                                                          "apiKey": "k-123", "nested": {"password": "p"}}}
    post(EXECUTE, body)
    [row] = _audit_rows(app)
    stored = row.request["body"]
    assert stored["apiKey"] == "[REDACTED]" and stored["nested"]["password"] == "[REDACTED]"
    assert "eyJ" not in str(row.request)


def test_missing_reports_url_is_derived_from_the_backend_url(app, client, user_token):
    token = user_token(backendUrl="https://euc1.clockify.me/api", reportsUrl=None)
    data = client.get("/ui/session", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert data["reportsUrl"] == "https://euc1.clockify.me/report"
