"""The lifecycle flows called as plain functions: what each returns, call after call on one
workspace, and how each refuses (the exception the app answers, with its status and code)."""

from __future__ import annotations

import json

import pytest

from addon.clockify.manifest import webhook_plan
from addon.errors import AddonError
from addon.extensions import db
from addon.flows import lifecycle
from addon.flows.lifecycle import DeleteResult, InstallResult, SettingsResult, StatusResult
from addon.models import Installation
from addon.testkit import clockify_payloads as calls

WS, ADDON, NEVER_INSTALLED = "ws-flow-1", "addon-flow-1", "ws-flow-never"


def encoded(payload) -> bytes:
    return json.dumps(payload).encode()


def _install(signer, settings, **payload):
    body = calls.installed_payload(signer, WS, ADDON, **payload)
    return lifecycle.install(encoded(body), signer.lifecycle_token(WS, ADDON), settings)


def _call(flow, payload, signer, settings, workspace_id=WS):
    return flow(encoded(payload), signer.lifecycle_token(workspace_id, ADDON), settings)


def test_each_call_returns_what_it_did(plain, signer, settings):
    """One workspace's life, step by step: each flow's result, and the JSON the view answers."""
    register = "queued" if webhook_plan(settings).via_api else "not_needed"
    first = _install(signer, settings)
    assert first == InstallResult(WS, installation="created", webhooks=0,
                                  jobs={"bootstrap": "queued", "webhookRegistration": register})
    assert first.answer() == {"status": "ok", "workspaceId": WS, "installation": "created", "webhooks": 0,
                              "jobs": {"bootstrap": "queued", "webhookRegistration": register}}
    # Second INSTALLED while the first bootstrap is still queued.
    assert _install(signer, settings).installation == "updated"

    steps = [
        (lifecycle.update_settings, calls.settings_updated_payload(WS, ADDON, {"developer_mode": True}),
         SettingsResult(WS, changed=True)),
        (lifecycle.update_settings, calls.settings_updated_payload(WS, ADDON, {"developer_mode": True}),
         SettingsResult(WS, changed=False)),
        (lifecycle.change_status, calls.status_changed_payload(WS, ADDON, "INACTIVE"),
         StatusResult(WS, installation_status="INACTIVE", changed=True, jobs={"webhookDeregistration": "queued"})),
        (lifecycle.change_status, calls.status_changed_payload(WS, ADDON, "INACTIVE"),
         StatusResult(WS, installation_status="INACTIVE", changed=False, jobs={})),
        (lifecycle.delete, calls.deleted_payload(WS, ADDON),
         DeleteResult(WS, already_deleted=False, jobs={"webhookDeregistration": "queued", "purge": "queued"})),
        (lifecycle.delete, calls.deleted_payload(WS, ADDON), DeleteResult(WS, already_deleted=True, jobs={})),
    ]
    for flow, payload, expected in steps:
        assert _call(flow, payload, signer, settings) == expected, flow.__name__
    assert DeleteResult(WS, already_deleted=True, jobs={}).answer() == {
        "status": "ok", "workspaceId": WS, "installationStatus": "DELETED", "alreadyDeleted": True, "jobs": {}}

    assert _install(signer, settings).installation == "reactivated"
    assert db.session.execute(db.select(Installation.status)).scalar_one() == "ACTIVE"


def _installed_then_deleted(signer, settings):
    _install(signer, settings)
    _call(lifecycle.delete, calls.deleted_payload(WS, ADDON), signer, settings)


# (flow, body, token, setup) -> (status, code); every flow refuses in the gate's order.
REFUSALS = {
    "no token": (lifecycle.update_settings, lambda s: encoded(calls.settings_updated_payload(WS, ADDON, {})),
                 lambda s: None, None, 401, "invalid_token"),
    "a user token": (lifecycle.change_status, lambda s: encoded(calls.status_changed_payload(WS, ADDON, "ACTIVE")),
                     lambda s: s.user_token(WS, ADDON), _install, 401, "invalid_token"),
    "not JSON": (lifecycle.install, lambda s: b"{not json", lambda s: s.lifecycle_token(WS, ADDON), None,
                 400, "malformed_json"),
    "the body names another workspace": (
        lifecycle.delete, lambda s: encoded(calls.deleted_payload("ws-someone-else", ADDON)),
        lambda s: s.lifecycle_token(WS, ADDON), _install, 403, "workspace_mismatch"),
    "never installed": (
        lifecycle.delete, lambda s: encoded(calls.deleted_payload(NEVER_INSTALLED, ADDON)),
        lambda s: s.lifecycle_token(NEVER_INSTALLED, ADDON), None, 404, "not_installed"),
    "settings after uninstall": (
        lifecycle.update_settings, lambda s: encoded(calls.settings_updated_payload(WS, ADDON, {})),
        lambda s: s.lifecycle_token(WS, ADDON), _installed_then_deleted, 410, "installation_inactive"),
    "status after uninstall": (
        lifecycle.change_status, lambda s: encoded(calls.status_changed_payload(WS, ADDON, "ACTIVE")),
        lambda s: s.lifecycle_token(WS, ADDON), _installed_then_deleted, 410, "installation_inactive"),
    "an unknown status": (
        lifecycle.change_status, lambda s: encoded(calls.status_changed_payload(WS, ADDON, "PAUSED")),
        lambda s: s.lifecycle_token(WS, ADDON), _install, 422, "validation_failed"),
    "an API URL outside the host policy": (
        lifecycle.install, lambda s: encoded(calls.installed_payload(s, WS, ADDON, api_url="https://evil.example/api")),
        lambda s: s.lifecycle_token(WS, ADDON), None, 403, "host_not_allowed"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_are_addon_errors(case, plain, signer, settings):
    flow, body, token, setup, status, code = REFUSALS[case]
    if setup is not None:
        setup(signer, settings)
    before = db.session.execute(db.select(Installation.workspace_id, Installation.status)).all()
    with pytest.raises(AddonError) as refused:
        flow(body(signer), token(signer), settings)
    assert (refused.value.status, refused.value.code) == (status, code)
    db.session.rollback()
    assert db.session.execute(db.select(Installation.workspace_id, Installation.status)).all() == before
