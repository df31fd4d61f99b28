"""API Studio's History tab (``GET /ui/history``): each user sees only their own calls in their
token's workspace, admins may widen to the workspace, never to another workspace; filters,
paging and redaction."""

from __future__ import annotations

import pytest

from addon.extensions import db
from addon.models import ApiCall, Installation
from addon.store import api_calls

WORKSPACE, ADDON_ID, OTHER_WORKSPACE = "ws-studio-1", "addon-studio-1", "ws-other-9"

HISTORY = "/ui/history"


def _audit(app, workspace_id, user_id, operation_id="getProjects", status_code=200, outcome="ok", **fields):
    with app.app_context():
        return api_calls.record(workspace_id, user_id=user_id, operation_id=operation_id,
                               method=fields.pop("method", "GET"),
                               path=fields.pop("path", f"/v1/workspaces/{workspace_id}/projects"),
                               request=fields.pop("request", {"pathParams": {"workspaceId": workspace_id},
                                                              "query": {"page": 1}}),
                               outcome=outcome, status_code=status_code, duration_ms=12.5, **fields)


@pytest.fixture
def calls(app, installation):
    """Calls of user-1 and user-2 in WORKSPACE, and of user-1 in OTHER_WORKSPACE."""
    return {
        "mine": [_audit(app, WORKSPACE, "user-1", "getProjects"),
                 _audit(app, WORKSPACE, "user-1", "getClients", 404, "clockify_error",
                        path=f"/v1/workspaces/{WORKSPACE}/clients"),
                 _audit(app, WORKSPACE, "user-1", "createNewProject", None, "confirmation_required", method="POST")],
        "colleague": [_audit(app, WORKSPACE, "user-2", "getTags", path=f"/v1/workspaces/{WORKSPACE}/tags")],
        "elsewhere": [_audit(app, OTHER_WORKSPACE, "user-1", "getProjects")],
    }


def _get(client, token, **params):
    return client.get(HISTORY, query_string=params, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("role", ["OWNER", "ADMIN", "TEAM_MANAGER", "PROJECT_MANAGER", "USER"])
def test_a_user_sees_only_their_own_calls_newest_first(client, user_token, calls, role):
    response = _get(client, user_token(role=role))
    assert response.status_code == 200
    data = response.get_json()
    assert [item["id"] for item in data["items"]] == list(reversed(calls["mine"]))
    assert data["total"] == 3 and data["scope"] == "mine"
    assert {item["userId"] for item in data["items"]} == {"user-1"}


def test_a_colleague_sees_none_of_my_calls(client, user_token, calls):
    data = _get(client, user_token(role="USER", user_id="user-2")).get_json()
    assert [item["id"] for item in data["items"]] == calls["colleague"]


@pytest.mark.parametrize("params", [{}, {"scope": "mine"}, {"scope": "workspace"}, {"q": "getProjects"},
                                    {"statusClass": "2xx"}, {"page": "2", "pageSize": "1"}])
def test_another_workspaces_calls_never_show(client, user_token, calls, params):
    data = _get(client, user_token(role="OWNER"), **params).get_json()
    assert calls["elsewhere"][0] not in [item["id"] for item in data["items"]]
    assert all(item["path"].startswith(f"/v1/workspaces/{WORKSPACE}/") for item in data["items"])


def test_the_same_user_in_another_workspace_sees_only_that_workspace(app, client, signer, calls):
    with app.app_context():
        db.session.add(Installation(workspace_id=OTHER_WORKSPACE, addon_id=ADDON_ID,
                                    installation_token=signer.installation_token(OTHER_WORKSPACE, ADDON_ID),
                                    api_url=signer.backend_url, reports_url=signer.reports_url))
        db.session.commit()
    token = signer.user_token(OTHER_WORKSPACE, ADDON_ID, user_id="user-1", role="OWNER")
    for scope in ("mine", "workspace"):
        data = _get(client, token, scope=scope).get_json()
        assert [item["id"] for item in data["items"]] == calls["elsewhere"]


@pytest.mark.parametrize("role", ["OWNER", "ADMIN"])
def test_admins_may_see_the_whole_workspace(client, user_token, calls, role):
    data = _get(client, user_token(role=role), scope="workspace").get_json()
    expected = sorted(calls["mine"] + calls["colleague"], reverse=True)
    assert [item["id"] for item in data["items"]] == expected
    assert data["scope"] == "workspace"


@pytest.mark.parametrize("role", ["TEAM_MANAGER", "PROJECT_MANAGER", "USER"])
def test_others_may_not_see_the_whole_workspace(client, user_token, calls, role):
    response = _get(client, user_token(role=role), scope="workspace")
    assert response.status_code == 403
    assert response.get_json()["error"] == "admin_required"


@pytest.mark.parametrize(("params", "operations"), [
    ({"q": "projects"}, ["createNewProject", "getProjects"]),
    ({"q": "GETCLIENTS"}, ["getClients"]),
    ({"q": "%"}, []),
    ({"q": "_"}, []),
    ({"statusClass": "2xx"}, ["getProjects"]),
    ({"statusClass": "4xx"}, ["getClients"]),
    ({"statusClass": "5xx"}, []),
    ({"statusClass": "refused"}, ["createNewProject"]),
    ({"q": "project", "statusClass": "refused"}, ["createNewProject"]),
])
def test_search_and_status_class_filters(client, user_token, calls, params, operations):
    data = _get(client, user_token(), **params).get_json()
    assert [item["operationId"] for item in data["items"]] == operations
    assert data["total"] == len(operations)


def test_paging(client, user_token, calls):
    token = user_token()
    pages = [_get(client, token, page=n, pageSize=2).get_json() for n in (1, 2, 3)]
    assert [[item["id"] for item in p["items"]] for p in pages] == [
        list(reversed(calls["mine"]))[:2], list(reversed(calls["mine"]))[2:], []]
    assert {p["total"] for p in pages} == {3}


@pytest.mark.parametrize("params", [{"page": "0"}, {"page": "x"}, {"pageSize": "101"}, {"pageSize": "-1"},
                                    {"scope": "everyone"}, {"statusClass": "2XX"}, {"statusClass": "6xx"},
                                    {"q": "x" * 201}])
def test_bad_arguments_are_named(client, user_token, calls, params):
    response = _get(client, user_token(), **params)
    assert response.status_code == 422
    [error] = response.get_json()["errors"]
    assert error["location"] == "query" and error["field"] == next(iter(params))


def test_parameters_are_shown_as_audited_with_secrets_redacted(app, client, user_token, installation):
    secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    stored = api_calls.stored_request({"workspaceId": WORKSPACE}, {"name": "Apollo"},
                                      {"name": "hook", "authToken": "plain-secret", "note": f"token {secret}"})
    _audit(app, WORKSPACE, "user-1", "createWebhook", 201, method="POST", request=stored)
    response = _get(client, user_token())
    text = response.get_data(as_text=True)
    assert "plain-secret" not in text and secret not in text
    [item] = response.get_json()["items"]
    assert item["request"]["query"] == {"name": "Apollo"}
    assert item["request"]["body"]["name"] == "hook"
    assert item["method"] == "POST" and item["statusCode"] == 201 and item["durationMs"] == 12.5


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
def test_history_needs_a_valid_token(client, installation, headers):
    assert client.get(HISTORY, headers=headers).status_code == 401


def test_calls_made_through_the_studio_are_listed_exactly_as_sent(client, user_token, fake_clockify):
    token = user_token(backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url)
    sent = {"operationId": "getProjects", "query": {"name": "Apollo", "page": 2}, "pathParams": {}}
    assert client.post("/ui/api-explorer/execute", json=sent,
                       headers={"Authorization": f"Bearer {token}"}).status_code == 200
    [item] = _get(client, token).get_json()["items"]
    assert item["operationId"] == "getProjects" and item["statusCode"] == 200 and item["outcome"] == "ok"
    assert item["request"] == {"pathParams": {"workspaceId": WORKSPACE}, "query": {"name": "Apollo", "page": 2}}


def test_a_token_sent_in_a_query_value_is_not_kept_in_the_audited_url(app, client, user_token, fake_clockify):
    token = user_token(backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url)
    pasted = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    sent = {"operationId": "getProjects", "query": {"name": pasted, "page": 2}, "pathParams": {}}
    assert client.post("/ui/api-explorer/execute", json=sent,
                       headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert fake_clockify.requests()[-1].param("name") == pasted  # sent as given, kept redacted
    with app.app_context():
        [url] = db.session.execute(db.select(ApiCall.url)).scalars().all()
    assert pasted not in url and url.endswith("/projects?name=[REDACTED]&page=2")
