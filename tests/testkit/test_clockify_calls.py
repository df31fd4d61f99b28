"""The test kit's Clockify simulator over real HTTP, and its webhook delivery shape."""

import json

import pytest

from addon import create_app
from addon.extensions import db
from addon.models import Installation, InstallationWebhook
from addon.testkit.addon_transports import FlaskTransport, HttpTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.clockify_payloads import sample_webhook_payload, settings_list


def test_lifecycle_over_http_against_a_running_server(app, serve, signer):
    kit = ClockifySimulator(signer, HttpTransport(serve(app)), api_url="http://127.0.0.1:9/api")
    installed = kit.install("ws-http")
    assert installed.reply.status_code == 200 and installed.reply.json()["installation"] == "created"
    assert kit.update_settings("ws-http", {"developer_mode": True}).json()["changed"] is True
    assert kit.change_status("ws-http", "INACTIVE").json()["installationStatus"] == "INACTIVE"
    assert kit.uninstall("ws-http").status_code == 200
    with app.app_context():
        row = db.session.execute(db.select(Installation)).scalar_one()
        assert (row.status, row.api_url, row.settings["developer_mode"]) == ("DELETED", "http://127.0.0.1:9/api", True)


def test_chunked_bodies_over_http_obey_the_size_cap(app, base_overrides, serve, signer):
    small = create_app({**base_overrides, "WEBHOOK_MAX_PAYLOAD_BYTES": "2048"})
    kit = ClockifySimulator(signer, HttpTransport(serve(small)))
    body = {"workspaceId": "ws-1", "addonId": "a-1", "padding": "x" * 5000}
    reply = kit.send_lifecycle("DELETED", body, chunked=True)
    assert reply.status_code == 413 and reply.json()["error"] == "payload_too_large"
    # Under the cap, the same chunked transfer is read whole: 404 = parsed and looked up.
    del body["padding"]
    reply = kit.send_lifecycle("DELETED", body, chunked=True)
    assert reply.status_code == 404 and reply.json()["error"] == "not_installed"


def test_webhook_deliveries_look_like_clockify_s(app, serve, signer, recorder):
    kit = ClockifySimulator(signer, HttpTransport(serve(app)))
    installed = kit.install("ws-hooks")
    kit.transport = HttpTransport(recorder.url)  # deliver to a recorder to see the exact request
    kit.send_webhook("NEW_TIMER_STARTED", {"id": "te-9", "workspaceId": "ws-hooks"})
    kit.send_webhook("USER_JOINED_WORKSPACE", workspace_id="ws-hooks")
    first, second = recorder.requests
    assert first["path"] == "/webhooks/time" and second["path"] == "/webhooks/user"
    assert first["headers"]["Clockify-Signature"] == installed.webhook_tokens["NEW_TIMER_STARTED"]
    assert first["headers"]["Clockify-Webhook-Event-Type"] == "NEW_TIMER_STARTED"
    assert first["headers"]["Content-Type"] == "application/json"
    assert json.loads(first["body"]) == {"id": "te-9", "workspaceId": "ws-hooks"}
    assert json.loads(second["body"])["workspaceId"] == "ws-hooks"
    with app.app_context():
        stored = {r.token: r.path for r in db.session.execute(db.select(InstallationWebhook)).scalars()}
    assert stored[first["headers"]["Clockify-Signature"]] == "/webhooks/time"


def test_send_webhook_needs_a_token_for_events_the_manifest_did_not_declare(app, kit, recorder):
    kit.install("ws-1")
    with pytest.raises(LookupError, match="pass token="):
        kit.send_webhook("BALANCE_UPDATED")  # registered through the API under 1.3
    kit.transport = HttpTransport(recorder.url)
    kit.send_webhook("BALANCE_UPDATED", token="api-issued", headers={"X-Extra": "1"})
    [request] = recorder.requests
    assert request["path"] == "/webhooks/custom"
    assert request["headers"]["Clockify-Signature"] == "api-issued" and request["headers"]["X-Extra"] == "1"


def test_chunked_delivery_over_http(recorder, signer):
    kit = ClockifySimulator(signer, HttpTransport(recorder.url))
    kit.send_webhook("NEW_TAG", {"workspaceId": "ws-1", "id": "t"}, token="tok", chunked=True)
    assert recorder.requests[0]["headers"]["Transfer-Encoding"] == "chunked"


def test_flask_and_http_transports_give_the_same_reply(app, serve, client):
    via_flask = FlaskTransport(client).request("GET", "/manifest")
    via_http = HttpTransport(serve(app)).request("GET", "/manifest")
    assert via_flask.status_code == via_http.status_code == 200
    assert via_flask.json() == via_http.json()


def test_payload_builders():
    assert settings_list({"auto_bootstrap": False}) == [
        {"id": "auto_bootstrap", "name": "Auto bootstrap", "value": False}]
    sample = sample_webhook_payload("NEW_TAG", "ws-1", entity_id="t-1")
    assert sample["id"] == "t-1" and sample["workspaceId"] == "ws-1"


def test_installs_are_remembered_per_workspace(app, kit):
    kit.install("ws-1")
    kit.install("ws-2")
    assert set(kit.installs) == {"ws-1", "ws-2"}
    with pytest.raises(LookupError, match="pass workspace_id"):
        kit.send_webhook("NEW_TAG")
    with pytest.raises(LookupError, match="pass addon_id"):
        kit.uninstall("ws-unknown")
