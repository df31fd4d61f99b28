"""API Studio's flows called as plain functions: who may use it (``studio_access.authorize``)
and one call checked, sent to the fake Clockify and audited (``studio_execute``)."""

from __future__ import annotations

import json
import time

import pytest

from addon.clockify.openapi_catalog import get_catalog
from addon.clockify.tokens import USER
from addon.errors import AddonError
from addon.extensions import db
from addon.flows import lifecycle, studio_access, studio_execute
from addon.flows.studio_execute import CallRequest
from addon.models import ApiCall
from addon.testkit import clockify_payloads as calls

WS, ADDON = "ws-studio-flow", "addon-studio-flow"


@pytest.fixture
def installed(plain, signer, settings):
    """WS installed through the lifecycle flow."""
    payload = calls.installed_payload(signer, WS, ADDON)
    lifecycle.install(json.dumps(payload).encode(), signer.lifecycle_token(WS, ADDON), settings)
    return payload


def _status(signer, settings, status):
    payload = calls.status_changed_payload(WS, ADDON, status)
    lifecycle.change_status(json.dumps(payload).encode(), signer.lifecycle_token(WS, ADDON), settings)


def test_an_owner_is_authorized(installed, signer, settings):
    token = signer.user_token(WS, ADDON)
    caller = studio_access.authorize(token, settings, admin=True)
    assert (caller.claims.workspace_id, caller.claims.kind, caller.claims.user_id) == (WS, USER, "user-1")
    assert caller.installation.workspace_id == WS and caller.token == token
    assert token not in repr(caller)


# token(signer, installed payload), setup -> (status, code)
REFUSALS = {
    "no token": (lambda s, p: None, None, {}, 401, "invalid_token"),
    "a lifecycle token": (lambda s, p: s.lifecycle_token(WS, ADDON), None, {}, 401, "invalid_token"),
    "the installation token while it is not allowed": (lambda s, p: p["authToken"], None, {}, 401, "invalid_token"),
    "a user of another installation": (lambda s, p: s.user_token(WS, "addon-other"), None, {}, 403,
                                       "addon_mismatch"),
    "a member where admins only may": (lambda s, p: s.user_token(WS, ADDON, role="USER"), None, {"admin": True},
                                       403, "admin_required"),
    "never installed": (lambda s, p: s.user_token("ws-never", ADDON), None, {}, 404, "not_installed"),
    "an inactive installation": (lambda s, p: s.user_token(WS, ADDON), "INACTIVE", {}, 410,
                                 "installation_inactive"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals(case, installed, signer, settings):
    token, status_first, options, status, code = REFUSALS[case]
    if status_first:
        _status(signer, settings, status_first)
    with pytest.raises(AddonError) as refused:
        studio_access.authorize(token(signer, installed), settings, **options)
    assert (refused.value.status, refused.value.code) == (status, code)


def _call(operation_id: str, **fields) -> CallRequest:
    operation = get_catalog().get(operation_id)
    values = {"path_params": {}, "query": {}, "body": None, "confirm": False, "use_installation_token": False,
              **fields}
    return CallRequest(operation=operation, method=operation.method, path=operation.path, **values)


@pytest.fixture
def caller(installed, signer, settings, fake_clockify):
    """An OWNER whose token points at the fake Clockify."""
    token = signer.make_token(workspaceId=WS, addonId=ADDON, user="user-1", workspaceRole="OWNER",
                              backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url,
                              exp=int(time.time()) + 600)
    return studio_access.authorize(token, settings)


def test_run_sends_the_call_and_audits_one_row(caller, settings, fake_clockify):
    fake_clockify.seed(WS, "projects", [{"id": "p1", "name": "Apollo"}])
    answer = studio_execute.run(_call("getProjects", query={"page": 1}), caller, settings)
    assert answer["status"] == 200 and [p["name"] for p in answer["body"]] == ["Apollo"]
    assert answer["request"]["url"] == f"{fake_clockify.api_url}/v1/workspaces/{WS}/projects?page=1"
    [sent] = fake_clockify.requests()
    assert sent.headers["x-addon-token"] == caller.token
    [row] = db.session.execute(db.select(ApiCall)).scalars().all()
    assert (row.workspace_id, row.operation_id, row.outcome, row.status_code) == (WS, "getProjects", "ok", 200)


def test_prepare_builds_the_call_without_sending_it(caller, settings, fake_clockify):
    prepared = studio_execute.prepare(_call("getProject", path_params={"projectId": "a/b"}), caller, settings)
    assert prepared.url == f"{fake_clockify.api_url}/v1/workspaces/{WS}/projects/a%2Fb"
    assert prepared.path_params == {"workspaceId": WS, "projectId": "a/b"}
    assert fake_clockify.requests() == []
    assert db.session.execute(db.select(ApiCall)).scalars().all() == []


# CallRequest fields -> (status, code); each refused before anything is sent, and audited.
CALL_REFUSALS = {
    "another workspace": ("getProjects", {"path_params": {"workspaceId": "ws-someone-else"}}, 403,
                          "workspace_mismatch"),
    "a write without confirm": ("createNewProject", {"body": {"name": "Apollo"}}, 428, "confirmation_required"),
    "a body the spec refuses": ("createNewProject", {"body": {"name": 7}, "confirm": True}, 422,
                                "validation_failed"),
}


@pytest.mark.parametrize("case", CALL_REFUSALS)
def test_run_refuses_before_sending(case, caller, settings, fake_clockify):
    operation_id, fields, status, code = CALL_REFUSALS[case]
    with pytest.raises(AddonError) as refused:
        studio_execute.run(_call(operation_id, **fields), caller, settings)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert fake_clockify.requests() == []
    [row] = db.session.execute(db.select(ApiCall)).scalars().all()
    assert (row.operation_id, row.outcome, row.status_code) == (operation_id, code, None)
