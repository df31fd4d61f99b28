"""The sidebar takes user tokens only (issue #11 item 3).

Every kind of Clockify token, correctly signed for the installed workspace, is tried on every
sidebar endpoint. A user token needs the user-token claims and an ``exp``; the installation
token is recognised by its stored digest and accepted only with
``STUDIO_ALLOW_INSTALLATION_TOKEN``; lifecycle and webhook tokens are 401 ``token_kind``.
Every kind on the other entry points (lifecycle, webhooks) is in ``test_token_kind_matrix.py``.
"""

from __future__ import annotations

import time

import pytest

from addon import create_app
from addon.extensions import db
from addon.models import ApiCall, Installation

WORKSPACE = "ws-kinds-1"
ADDON_ID = "addon-kinds-1"
PROJECTS = "/v1/workspaces/{workspaceId}/projects"

# (method, path, JSON body, status of an accepted token)
ENDPOINTS = {
    "page": ("GET", "/ui", None, 200),
    "session": ("GET", "/ui/session", None, 200),
    "catalog": ("GET", "/ui/api-explorer/endpoints", None, 200),
    "operation": ("GET", "/ui/api-explorer/endpoints/getProjects", None, 200),
    "execute": ("POST", "/ui/api-explorer/execute", {"operationId": "getProjects"}, 200),
    "api-call": ("POST", "/api-call", {"method": "GET", "path": PROJECTS}, 200),
    "workspace-data": ("GET", "/ui/workspace-data", None, 200),
    "bootstrap": ("POST", "/bootstrap", None, 202),
    "bootstrap-status": ("GET", "/bootstrap/status", None, 200),
}


def _claims(fake, **extra):
    base = {"workspaceId": WORKSPACE, "addonId": ADDON_ID, "backendUrl": fake.api_url,
            "reportsUrl": fake.reports_url}
    return {k: v for k, v in {**base, **extra}.items() if v is not None}


def _user(fake, **extra):
    return _claims(fake, **{"user": "user-1", "workspaceRole": "OWNER", "theme": "DEFAULT", "language": "EN",
                            "exp": int(time.time()) + 1800, **extra})


# name -> (claims builder, check of the 401, or None when the sidebar takes it)
TOKENS = {
    "user": (lambda f: _user(f), None),
    "user without exp": (lambda f: _user(f, exp=None), "token_kind"),
    "user without workspaceRole": (lambda f: _user(f, workspaceRole=None), "token_kind"),
    "user without user": (lambda f: _user(f, user=None), "token_kind"),
    "user with an empty workspaceRole": (lambda f: _user(f, workspaceRole=""), "token_kind"),
    "user, expired": (lambda f: _user(f, exp=int(time.time()) - 3600), "expired"),
    "lifecycle": (lambda f: _claims(f, backendUrl=None, reportsUrl=None, exp=int(time.time()) + 300),
                  "token_kind"),
    "webhook": (lambda f: _claims(f, backendUrl=None, reportsUrl=None, jti="hook-1"), "token_kind"),
    "installation-shaped, not the stored one": (lambda f: _claims(f, user="owner", jti="other"), "token_kind"),
    "installation, STUDIO_ALLOW_INSTALLATION_TOKEN off": (None, "token_kind"),
}


@pytest.fixture
def fake(fake_clockify):
    return fake_clockify


@pytest.fixture
def installation_token(app, signer, fake):
    """The stored installation's token (the installation points at the fake Clockify)."""
    token = signer.make_token(**_claims(fake, user="owner-user", jti="installation-1"))
    with app.app_context():
        db.session.add(Installation(workspace_id=WORKSPACE, addon_id=ADDON_ID, installation_token=token,
                                    api_url=fake.api_url, reports_url=fake.reports_url))
        db.session.commit()
    return token


@pytest.fixture(scope="module")
def allowing_app(base_overrides):
    """The app with ``STUDIO_ALLOW_INSTALLATION_TOKEN=true`` (same database and Redis)."""
    return create_app({**base_overrides, "STUDIO_ALLOW_INSTALLATION_TOKEN": "true"})


def _send(client, endpoint: str, token: str):
    method, path, body, _ = ENDPOINTS[endpoint]
    if endpoint == "page":
        return client.get(path, query_string={"auth_token": token})
    return client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})


def _audit(app) -> list[ApiCall]:
    with app.app_context():
        rows = db.session.execute(db.select(ApiCall).order_by(ApiCall.id)).scalars().all()
        db.session.expunge_all()
        return rows


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("kind", TOKENS)
def test_every_token_kind_on_every_sidebar_endpoint(app, client, signer, fake, installation_token, kind, endpoint):
    build, check = TOKENS[kind]
    token = installation_token if build is None else signer.make_token(**build(fake))
    response = _send(client, endpoint, token)
    if check is None:
        assert response.status_code == ENDPOINTS[endpoint][3], response.get_data(as_text=True)[:300]
        return
    assert response.status_code == 401
    if endpoint != "page":  # the page answers an HTML error page with the same status
        assert response.get_json()["check"] == check
    assert fake.requests() == []
    assert all(row.outcome != "ok" for row in _audit(app))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_installation_token_is_taken_when_allowed(app, allowing_app, fake, installation_token, endpoint):
    response = _send(allowing_app.test_client(), endpoint, installation_token)
    assert response.status_code == ENDPOINTS[endpoint][3], response.get_data(as_text=True)[:300]
    if endpoint in ("execute", "api-call"):
        [row] = _audit(app)
        assert row.token_kind == "installation"
        assert fake.requests()[0].headers["x-addon-token"] == installation_token


def test_installation_token_as_bearer_never_runs_a_delete_when_not_allowed(app, client, fake, installation_token):
    body = {"method": "DELETE", "path": "/v1/workspaces/{workspaceId}/projects/p1", "confirm": True}
    response = client.post("/api-call", json=body, headers={"Authorization": f"Bearer {installation_token}"})
    assert response.status_code == 401 and response.get_json()["check"] == "token_kind"
    assert fake.requests() == [] and _audit(app) == []


def test_confirmed_delete_with_the_allowed_installation_token_is_audited_as_installation(
        app, allowing_app, fake, installation_token):
    body = {"method": "DELETE", "path": "/v1/workspaces/{workspaceId}/projects/p1", "confirm": True}
    response = allowing_app.test_client().post("/api-call", json=body,
                                               headers={"Authorization": f"Bearer {installation_token}"})
    assert response.status_code == 200
    [row] = _audit(app)
    assert (row.method, row.token_kind, row.outcome) == ("DELETE", "installation", "ok")


def test_a_user_token_stays_a_user_token_when_the_installation_token_is_allowed(
        app, allowing_app, signer, fake, installation_token):
    token = signer.make_token(**_user(fake))
    response = allowing_app.test_client().post("/ui/api-explorer/execute", json={"operationId": "getProjects"},
                                               headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert _audit(app)[0].token_kind == "user"
    assert fake.requests()[0].headers["x-addon-token"] == token


@pytest.mark.parametrize("kind", ["lifecycle", "webhook", "user without exp"])
def test_kind_is_refused_before_the_installation_is_looked_up(client, signer, fake, kind):
    """No installation at all: the wrong kind is still 401, not 404."""
    token = signer.make_token(**TOKENS[kind][0](fake))
    response = client.get("/ui/session", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.get_json()["check"] == "token_kind"

