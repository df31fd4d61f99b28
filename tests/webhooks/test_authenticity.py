"""Authenticity checks of a delivery: each failure's status, and the order they run in."""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import REGISTRY

from addon.extensions import db
from addon.models import Installation, InstallationWebhook
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.webhooks import entity_payload


def _rejected(event: str, reason: str) -> float:
    return REGISTRY.get_sample_value("addon_webhook_deliveries_total",
                                     {"event": event, "outcome": f"rejected_{reason}"}) or 0.0


def _set_status(app, workspace_id: str, status: str) -> None:
    with app.app_context():
        db.session.execute(db.update(Installation).where(Installation.workspace_id == workspace_id)
                           .values(status=status))
        db.session.commit()


def test_missing_token_is_401(workspace, deliver, stored_events):
    response = deliver(workspace, "NEW_PROJECT", token="")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token" and response.get_json()["check"] == "missing"
    assert stored_events() == []


def test_token_signed_by_another_key_is_401(workspace, deliver, signer):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = signer.make_token(key=other_key, workspaceId=workspace.workspace_id, addonId=workspace.addon_id)
    response = deliver(workspace, "NEW_PROJECT", token=forged)
    assert response.status_code == 401 and response.get_json()["check"] == "signature"


@pytest.mark.parametrize("claims, check", [
    ({"iss": "someone"}, "issuer"),
    ({"sub": "another-addon"}, "subject"),
    ({"type": "user"}, "type"),
    ({"workspaceId": None}, "workspace"),
    ({"exp": 1_000_000}, "expired"),
])
def test_token_with_bad_claims_is_401(claims, check, workspace, deliver, signer):
    token = signer.make_token(**{"workspaceId": workspace.workspace_id, "addonId": workspace.addon_id, **claims})
    response = deliver(workspace, "NEW_PROJECT", token=token)
    assert response.status_code == 401 and response.get_json()["check"] == check


def test_garbage_token_is_401(workspace, deliver):
    response = deliver(workspace, "NEW_PROJECT", token="not-a-jwt")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


def test_valid_but_unstored_token_is_401_webhook_token(workspace, deliver, signer):
    before = _rejected("NEW_PROJECT", "webhook_token")
    fresh = signer.webhook_token(workspace.workspace_id, workspace.addon_id)
    response = deliver(workspace, "NEW_PROJECT", token=fresh)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token" and response.get_json()["check"] == "webhook_token"
    assert _rejected("NEW_PROJECT", "webhook_token") == before + 1


def test_token_stored_for_another_path_is_401_webhook_token(workspace, deliver):
    response = deliver(workspace, "NEW_PROJECT", token=workspace.tokens["time"])
    assert response.status_code == 401 and response.get_json()["check"] == "webhook_token"


def test_token_of_a_workspace_that_never_installed_is_401(install, deliver, signer):
    ws = install()
    stranger = signer.webhook_token("ws-never-installed", ws.addon_id)
    response = deliver(ws, "NEW_PROJECT", entity_payload("ws-never-installed"), token=stranger)
    assert response.status_code == 401 and response.get_json()["check"] == "webhook_token"


def test_disabled_webhook_row_is_401(app, workspace, deliver):
    with app.app_context():
        db.session.execute(db.update(InstallationWebhook).values(status="deleted"))
        db.session.commit()
    response = deliver(workspace, "NEW_PROJECT")
    assert response.status_code == 401 and response.get_json()["check"] == "webhook_token"


def test_install_sent_with_full_url_paths_authenticates_deliveries(client, signer):
    kit = ClockifySimulator(signer, FlaskTransport(client))
    assert kit.install("ws-url", full_urls=True).reply.status_code == 200
    reply = kit.send_webhook("NEW_PROJECT", entity_payload("ws-url"), workspace_id="ws-url")
    assert reply.status_code == 200 and reply.json()["status"] == "accepted"


def test_payload_about_another_workspace_is_403(workspace, deliver, stored_events):
    before = _rejected("NEW_PROJECT", "workspace_mismatch")
    response = deliver(workspace, "NEW_PROJECT", entity_payload("ws-other"))
    assert response.status_code == 403 and response.get_json()["error"] == "workspace_mismatch"
    assert stored_events() == []
    assert _rejected("NEW_PROJECT", "workspace_mismatch") == before + 1


@pytest.mark.parametrize("payload", [
    [{"id": "u1", "workspaceId": "ws-alpha"}, {"id": "u2", "workspaceId": "ws-other"}],
    {"id": "p1", "workspaceId": 42},
])
def test_any_foreign_or_odd_payload_workspace_is_403(payload, workspace, deliver):
    response = deliver(workspace, "USERS_INVITED_TO_WORKSPACE", payload)
    assert response.status_code == 403 and response.get_json()["error"] == "workspace_mismatch"


def test_payload_without_workspace_id_is_accepted(workspace, deliver):
    response = deliver(workspace, "NEW_PROJECT", {"id": "p-no-ws", "name": "x"})
    assert response.status_code == 200


def test_token_of_another_addon_installation_is_403(workspace, deliver, signer, app):
    # A stored token whose addonId claim differs from the installation's (e.g. a stale reinstall).
    from addon.crypto import token_digest

    token = signer.webhook_token(workspace.workspace_id, "addon-old")
    with app.app_context():
        db.session.add(InstallationWebhook(workspace_id=workspace.workspace_id, path="/webhooks/project",
                                           token=token, token_digest=token_digest(token)))
        db.session.commit()
    response = deliver(workspace, "NEW_PROJECT", token=token)
    assert response.status_code == 403 and response.get_json()["error"] == "addon_mismatch"


@pytest.mark.parametrize("status", ["INACTIVE", "DELETED"])
def test_inactive_installation_is_410(status, app, workspace, deliver, stored_events):
    _set_status(app, workspace.workspace_id, status)
    response = deliver(workspace, "NEW_PROJECT")
    assert response.status_code == 410
    body = response.get_json()
    assert body["error"] == "installation_inactive" and body["status_value"] == status
    assert stored_events() == []


def test_api_registered_token_is_valid_for_its_event(install, deliver, stored_events):
    ws = install(api_events=("PROJECT_UPDATED",))
    response = deliver(ws, "PROJECT_UPDATED", entity_payload(ws.workspace_id), token=ws.api_tokens["PROJECT_UPDATED"])
    assert response.status_code == 200
    assert stored_events()[0].event_type == "PROJECT_UPDATED"


def test_api_registered_token_is_refused_for_another_event(install, deliver):
    ws = install(api_events=("PROJECT_UPDATED",))
    response = deliver(ws, "PROJECT_DELETED", entity_payload(ws.workspace_id), token=ws.api_tokens["PROJECT_UPDATED"])
    assert response.status_code == 400 and response.get_json()["error"] == "wrong_category"


# --- order of the checks: each pair breaks two rules; the earlier one must answer ---

def test_size_comes_before_the_token(app, workspace, deliver):
    limit = app.config["SETTINGS"].webhook_max_payload_bytes
    response = deliver(workspace, "NEW_PROJECT", body=b"x" * (limit + 1), token="")
    assert response.status_code == 413


def test_token_validity_comes_before_the_stored_token_and_everything_after(app, workspace, deliver):
    _set_status(app, workspace.workspace_id, "INACTIVE")
    response = deliver(workspace, "NEW_PROJECT", entity_payload("ws-other"), token="not-a-jwt",
                       category="time")
    assert response.status_code == 401 and response.get_json()["check"] != "webhook_token"


def test_stored_token_comes_before_the_workspace_checks(workspace, deliver, signer):
    fresh = signer.webhook_token(workspace.workspace_id, workspace.addon_id)
    response = deliver(workspace, "NEW_PROJECT", entity_payload("ws-other"), token=fresh)
    assert response.status_code == 401 and response.get_json()["check"] == "webhook_token"


def test_workspace_comes_before_the_installation_status(app, workspace, deliver):
    _set_status(app, workspace.workspace_id, "INACTIVE")
    response = deliver(workspace, "NEW_PROJECT", entity_payload("ws-other"))
    assert response.status_code == 403


def test_installation_status_comes_before_the_event_type(app, workspace, deliver):
    _set_status(app, workspace.workspace_id, "INACTIVE")
    response = deliver(workspace, "NEW_TIME_ENTRY", category="project", token=workspace.tokens["project"])
    assert response.status_code == 410


def test_event_type_comes_before_the_json(workspace, deliver):
    response = deliver(workspace, "NEW_TIME_ENTRY", body=b"{broken", category="project",
                       token=workspace.tokens["project"])
    assert response.status_code == 400 and response.get_json()["error"] == "wrong_category"


def test_malformed_json_cannot_hide_a_workspace_mismatch_but_is_refused_last(workspace, deliver):
    response = deliver(workspace, "NEW_PROJECT", body=b'{"workspaceId": "ws-other", ')
    assert response.status_code == 400 and response.get_json()["error"] == "malformed_json"


def test_error_bodies_never_echo_the_token(workspace, deliver, signer):
    fresh = signer.webhook_token(workspace.workspace_id, workspace.addon_id)
    response = deliver(workspace, "NEW_PROJECT", token=fresh)
    assert fresh not in json.dumps(response.get_json())
