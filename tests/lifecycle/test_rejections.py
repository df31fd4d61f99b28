"""Every way a lifecycle call is refused, in the documented order: size (413) → token (401) →
JSON (400) → workspace/add-on match (403) → installation (404) → body (422). Nothing is written
by a refused call."""

import json
import logging
import time

import pytest

from addon.extensions import db
from addon.models import Installation
from addon.testkit import clockify_payloads as payloads
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.forgery import hmac_token, unsigned_token
from addon.testkit.signing import Signer, generate_private_key

WS, OTHER_WS, ADDON = "ws-alpha", "ws-beta", "addon-alpha"
KINDS = ("INSTALLED", "SETTINGS_UPDATED", "STATUS_CHANGED", "DELETED")


def body_for(kind: str, signer, workspace_id=WS, addon_id=ADDON) -> dict:
    if kind == "INSTALLED":
        return payloads.installed_payload(signer, workspace_id, addon_id)
    if kind == "SETTINGS_UPDATED":
        return payloads.settings_updated_payload(workspace_id, addon_id, {"developer_mode": True})
    if kind == "STATUS_CHANGED":
        return payloads.status_changed_payload(workspace_id, addon_id, "INACTIVE")
    return payloads.deleted_payload(workspace_id, addon_id)


@pytest.fixture
def installed(kit):
    """WS installed with ADDON, so only the check under test can refuse a call."""
    assert kit.install(WS, ADDON).reply.status_code == 200
    return kit


def snapshot(app):
    with app.app_context():
        return [(i.workspace_id, i.addon_id, i.status, json.dumps(i.settings, sort_keys=True), i.installation_token)
                for i in db.session.execute(db.select(Installation)).scalars()]


def base_claims(**changes):
    claims = {"iss": "clockify", "sub": "test-addon", "type": "addon", "workspaceId": WS, "addonId": ADDON,
              "exp": int(time.time()) + 300}
    claims.update(changes)
    return claims


FORGERIES = {
    "bad signature": (lambda s: Signer(generate_private_key(), s.addon_key).lifecycle_token(WS, ADDON), "signature"),
    "alg none": (lambda s: unsigned_token(base_claims()), "algorithm"),
    "HS256 with the public key": (lambda s: hmac_token(base_claims(), s.public_pem), "algorithm"),
    "expired": (lambda s: s.make_token(**base_claims(exp=int(time.time()) - 3600)), "expired"),
    "wrong iss": (lambda s: s.make_token(**base_claims(iss="not-clockify")), "issuer"),
    "wrong sub": (lambda s: s.make_token(**base_claims(sub="another-addon")), "subject"),
    "wrong type": (lambda s: s.make_token(**base_claims(type="user")), "type"),
    "missing workspaceId": (lambda s: s.make_token(**base_claims(workspaceId=None)), "workspace"),
    "not a JWT": (lambda s: "definitely-not-a-jwt", "signature"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("forgery", FORGERIES)
def test_each_token_rejection_is_a_401_naming_the_check(app, installed, signer, kind, forgery):
    make, check = FORGERIES[forgery]
    before = snapshot(app)
    reply = installed.send_lifecycle(kind, body_for(kind, signer), token=make(signer))
    assert reply.status_code == 401, reply.json()
    body = reply.json()
    assert (body["error"], body["check"]) == ("invalid_token", check)
    assert body["message"] and body["request_id"]
    assert snapshot(app) == before


@pytest.mark.parametrize("kind", KINDS)
def test_missing_header_is_a_401(app, installed, signer, kind):
    reply = installed.send_lifecycle(kind, body_for(kind, signer), token="")
    assert reply.status_code == 401 and reply.json()["check"] == "missing"


@pytest.mark.parametrize("kind", KINDS)
def test_token_for_workspace_a_with_a_body_for_b_is_a_403(app, installed, signer, kind):
    before = snapshot(app)
    token = signer.lifecycle_token(WS, ADDON)
    reply = installed.send_lifecycle(kind, body_for(kind, signer, workspace_id=OTHER_WS), token=token)
    assert reply.status_code == 403 and reply.json()["error"] == "workspace_mismatch"
    assert snapshot(app) == before


@pytest.mark.parametrize("kind", KINDS)
def test_token_addon_id_differing_from_the_body_is_a_403(app, installed, signer, kind):
    before = snapshot(app)
    token = signer.lifecycle_token(WS, "addon-other")
    reply = installed.send_lifecycle(kind, body_for(kind, signer), token=token)
    assert reply.status_code == 403 and reply.json()["error"] == "addon_mismatch"
    assert snapshot(app) == before


@pytest.mark.parametrize("kind", KINDS[1:])
def test_addon_id_of_another_installation_is_a_403(app, installed, signer, kind):
    """Token and body agree with each other, but not with the stored installation."""
    token = signer.lifecycle_token(WS, "addon-other")
    reply = installed.send_lifecycle(kind, body_for(kind, signer, addon_id="addon-other"), token=token)
    assert reply.status_code == 403 and reply.json()["error"] == "addon_mismatch"


@pytest.mark.parametrize("kind", KINDS[1:])
def test_token_without_addon_id_is_still_matched_by_the_body(app, installed, signer, kind):
    token = signer.make_token(**base_claims(addonId=None))
    reply = installed.send_lifecycle(kind, body_for(kind, signer, addon_id="addon-other"), token=token)
    assert reply.status_code == 403 and reply.json()["error"] == "addon_mismatch"
    assert installed.send_lifecycle(kind, body_for(kind, signer), token=token).status_code == 200


@pytest.mark.parametrize("header", ["Clockify-Signature", "X-Addon-Signature", "X-Webhook-Signature"])
def test_the_other_token_headers_are_accepted(app, kit, signer, header):
    reply = kit.send_lifecycle("INSTALLED", body_for("INSTALLED", signer), header=header)
    assert reply.status_code == 200


def test_the_lifecycle_header_wins_over_the_others(app, kit, signer, client):
    body = json.dumps(body_for("INSTALLED", signer))
    headers = {"Content-Type": "application/json", "X-Addon-Lifecycle-Token": signer.lifecycle_token(WS, ADDON),
               "Clockify-Signature": "garbage"}
    assert client.post("/lifecycle/installed", data=body, headers=headers).status_code == 200
    headers.update({"X-Addon-Lifecycle-Token": "garbage", "Clockify-Signature": signer.lifecycle_token(WS, ADDON)})
    assert client.post("/lifecycle/installed", data=body, headers=headers).status_code == 401


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b'{"a": NaN}', b"[" * 100_000])
def test_malformed_json_is_a_400(app, installed, signer, kind, raw):
    before = snapshot(app)
    reply = installed.send_lifecycle(kind, None, body=raw, workspace_id=WS, addon_id=ADDON)
    assert reply.status_code == 400 and reply.json()["error"] == "malformed_json"
    assert snapshot(app) == before


def test_an_invalid_token_wins_over_malformed_json(app, kit):
    reply = kit.send_lifecycle("DELETED", None, body=b"{not json", token="nope")
    assert reply.status_code == 401


MISSING = {
    "INSTALLED": {"workspaceId", "addonId", "authToken"},
    "SETTINGS_UPDATED": {"workspaceId", "addonId", "settings"},
    "STATUS_CHANGED": {"workspaceId", "addonId", "status"},
    "DELETED": {"workspaceId", "addonId"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_missing_fields_are_a_422_naming_each(app, installed, kind):
    before = snapshot(app)
    reply = installed.send_lifecycle(kind, {"unrelated": 1}, workspace_id=WS, addon_id=ADDON)
    assert reply.status_code == 422
    body = reply.json()
    assert body["error"] == "validation_failed"
    assert {e["field"] for e in body["errors"]} == MISSING[kind]
    assert all(e["location"] == "body" and e["message"] for e in body["errors"])
    assert snapshot(app) == before


def test_invalid_fields_are_a_422_naming_each(app, installed, signer):
    payload = body_for("INSTALLED", signer)
    payload.update(apiUrl="javascript:alert(1)", webhooks=[{"path": "/webhooks/time"}], asUser=["x"])
    reply = installed.send_lifecycle("INSTALLED", payload)
    assert reply.status_code == 422
    assert {e["field"] for e in reply.json()["errors"]} == {"apiUrl", "webhooks[0].authToken", "asUser"}


@pytest.mark.parametrize("workspace_id", ["ws.dotted", "wś-accent", "ws:colon", "ws 1"])
def test_ids_that_cannot_name_a_job_are_a_422_and_store_nothing(app, kit, signer, workspace_id):
    """Regression (found by fuzzing): a non-ASCII letter was stored, then crashed RQ's job-id check
    with a 500; other characters were mapped to ``_``, so two workspaces could share singleton jobs."""
    reply = kit.send_lifecycle("INSTALLED", payloads.installed_payload(signer, workspace_id, ADDON))
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == ["workspaceId"]
    assert snapshot(app) == []


@pytest.mark.parametrize("extra", [{"settings": {"note": "\u0000"}}, {"asUser": "a\u0000"},
                                   {"asUser": "\ud800"}, {"settings": {"\udfff": True}}],
                         ids=["NUL in a value", "NUL in an id", "lone surrogate", "lone surrogate in a key"])
def test_text_no_column_can_hold_is_a_400_and_stores_nothing(app, kit, signer, extra):
    """Regression (found by fuzzing): NUL answered 503 storage_unavailable on PostgreSQL (so
    Clockify would retry forever) and an unpaired surrogate crashed the insert with a 500."""
    body = {**payloads.installed_payload(signer, WS, ADDON), **extra}
    reply = kit.send_lifecycle("INSTALLED", body)
    assert reply.status_code == 400 and reply.json()["error"] == "unsupported_text"
    assert snapshot(app) == []


def test_a_json_array_is_a_422(app, installed):
    reply = installed.send_lifecycle("DELETED", None, body=b"[1, 2]", workspace_id=WS, addon_id=ADDON)
    assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "$"


def test_a_mismatch_is_reported_before_missing_fields(app, installed, signer):
    token = signer.lifecycle_token(WS, ADDON)
    reply = installed.send_lifecycle("STATUS_CHANGED", {"workspaceId": OTHER_WS}, token=token)
    assert reply.status_code == 403


def test_a_webhook_path_too_long_for_the_table_is_a_422(app, kit, signer):
    hooks = [{"path": "/webhooks/" + "x" * 300, "authToken": signer.webhook_token(WS, ADDON)}]
    reply = kit.send_lifecycle("INSTALLED", payloads.installed_payload(signer, WS, ADDON, webhooks=hooks))
    assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "webhooks[0].path"
    assert snapshot(app) == []


@pytest.fixture
def small_app(app_with):
    return app_with(WEBHOOK_MAX_PAYLOAD_BYTES=2048)


@pytest.mark.parametrize("kind", KINDS)
def test_an_oversized_body_is_a_413_before_the_token_is_looked_at(app, small_app, signer, kind):
    kit = ClockifySimulator(signer, FlaskTransport(small_app.test_client()))
    payload = {**body_for(kind, signer), "padding": "x" * 4096}
    for token in ("", None):  # no token at all, and a valid one
        reply = kit.send_lifecycle(kind, payload, token=token)
        assert reply.status_code == 413
        assert reply.json()["error"] == "payload_too_large" and reply.json()["limit"] == 2048


def test_an_oversized_chunked_body_is_a_413(app, small_app, signer):
    kit = ClockifySimulator(signer, FlaskTransport(small_app.test_client()))
    payload = {**body_for("INSTALLED", signer), "padding": "x" * 4096}
    reply = kit.send_lifecycle("INSTALLED", payload, chunked=True)
    assert reply.status_code == 413
    assert snapshot(app) == []


def test_a_chunked_body_under_the_cap_is_accepted(app, small_app, signer):
    kit = ClockifySimulator(signer, FlaskTransport(small_app.test_client()))
    payload = payloads.installed_payload(signer, WS, ADDON)
    assert len(json.dumps(payload)) < 2048
    assert kit.send_lifecycle("INSTALLED", payload, chunked=True).status_code == 200


def test_rejections_are_logged_without_the_token(app, installed, signer, caplog):
    forged = Signer(generate_private_key(), signer.addon_key).lifecycle_token(WS, ADDON)
    with caplog.at_level(logging.DEBUG):
        installed.send_lifecycle("DELETED", body_for("DELETED", signer), token=forged)
    lines = [r.getMessage() for r in caplog.records]
    assert any("lifecycle token rejected: signature" in line for line in lines)
    assert not any(forged in line or forged.split(".")[2] in line for line in lines)
