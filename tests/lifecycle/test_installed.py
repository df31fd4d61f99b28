"""INSTALLED: one installation per workspace, tokens encrypted, webhook tokens per route,
follow-up jobs enqueued after the commit and no outbound call."""

import threading

import pytest
import sqlalchemy as sa

from addon.crypto import token_digest
from addon.extensions import db
from addon.models import BootstrapRun, Installation, InstallationWebhook
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.clockify_payloads import installed_payload
from addon.testkit.signing import Signer, generate_private_key
from addon.testkit.stored_rows import webhook_holding

WS = "5f1e2d3c4b5a697887766554"


def rows(app, model):
    with app.app_context():
        return list(db.session.execute(db.select(model)).scalars())


def test_install_stores_the_installation_and_answers_ok(app, kit, queued, requests_mock):
    installed = kit.install(WS)
    reply = installed.reply
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "workspaceId": WS, "installation": "created", "webhooks": 20,
                            "jobs": {"bootstrap": "queued", "webhookRegistration": "queued"}}
    [installation] = rows(app, Installation)
    assert (installation.workspace_id, installation.addon_id, installation.status) == (WS, installed.addon_id, "ACTIVE")
    assert installation.installation_token == installed.auth_token
    assert installation.api_url == "https://api.clockify.me/api"
    assert installation.reports_url == "https://reports.api.clockify.me"
    assert (installation.as_user, installation.addon_user_id) == ("owner-user", "addon-user")
    assert installation.settings == {"auto_bootstrap": True, "developer_mode": False}
    assert installation.uninstalled_at is None and installation.installed_at is not None
    assert requests_mock.call_count == 0  # no outbound call inside the request


def test_tokens_are_encrypted_at_rest(app, kit):
    installed = kit.install(WS)
    with app.app_context():
        stored = db.session.execute(sa.text("SELECT installation_token FROM installations")).scalar_one()
        webhook_tokens = db.session.execute(sa.text("SELECT token FROM installation_webhooks")).scalars().all()
    assert stored and stored != installed.auth_token and installed.auth_token not in stored
    assert webhook_tokens and not set(webhook_tokens) & set(installed.webhook_tokens.values())


@pytest.mark.parametrize("full_urls", [True, False], ids=["full-url", "manifest-path"])
def test_each_webhook_token_is_stored_on_its_route_path(app, kit, full_urls):
    installed = kit.install(WS, full_urls=full_urls)
    stored = rows(app, InstallationWebhook)
    assert len(stored) == 20
    assert {(r.source, r.event, r.status) for r in stored} == {("manifest", "", "active")}
    by_token = {r.token: r for r in stored}
    for event, token in installed.webhook_tokens.items():
        row = by_token[token]
        assert row.path == installed.webhook_paths[event] and row.token_digest == token_digest(token)
    with app.app_context():
        token = installed.webhook_tokens["NEW_TIME_ENTRY"]
        assert webhook_holding(WS, token).path == "/webhooks/time"
        assert webhook_holding(WS, token, path="/webhooks/time") is not None


def test_install_enqueues_bootstrap_and_webhook_registration(app, kit, queued):
    kit.install(WS)
    [run] = rows(app, BootstrapRun)
    assert (run.workspace_id, run.status, run.trigger, run.rq_job_id) == (WS, "pending", "install", f"bootstrap-{WS}")
    assert queued("bootstrap") == [(f"bootstrap-{WS}", "addon.jobs.bootstrap.run_bootstrap", (WS, run.id))]
    assert queued("default") == [
        (f"register-webhooks-{WS}", "addon.jobs.webhook_registration.register_webhooks", (WS,))]
    assert queued("high") == []


def test_auto_bootstrap_off_in_the_install_settings(app, kit, queued):
    reply = kit.install(WS, settings=[{"id": "auto_bootstrap", "name": "Load", "value": "false"}]).reply
    assert reply.json()["jobs"]["bootstrap"] == "disabled"
    assert queued("bootstrap") == [] and rows(app, BootstrapRun) == []
    assert rows(app, Installation)[0].settings == {"auto_bootstrap": "false", "developer_mode": False}


@pytest.mark.parametrize("settings", [
    {"tabs": [{"settings": 5}]}, {"tabs": [{"groups": 7}]}, {"tabs": [{"groups": [{"settings": True}]}]},
    {"tabs": [{"settings": "auto_bootstrap"}]}, {"tabs": [{"settings": {"id": "auto_bootstrap", "value": False}}]},
    {"tabs": [None, 3, {"groups": ["g", {"settings": 1.5}]}]}])
def test_a_malformed_settings_tree_installs_with_the_default_settings(app, kit, settings):
    # INSTALLED's settings shape is unconfirmed: a part in another shape is ignored, never a 500.
    reply = kit.install(WS, settings=settings).reply
    assert (reply.status_code, reply.json()["jobs"]["bootstrap"]) == (200, "queued")
    assert rows(app, Installation)[0].settings == {"auto_bootstrap": True, "developer_mode": False}


def test_no_registration_job_when_the_manifest_declares_every_selected_event(app, app_with, signer, queued):
    narrow = app_with(WEBHOOK_EVENTS="NEW_TIME_ENTRY,NEW_PROJECT")
    reply = ClockifySimulator(signer, FlaskTransport(narrow.test_client())).install(WS).reply
    assert reply.json()["jobs"] == {"bootstrap": "queued", "webhookRegistration": "not_needed"}
    assert queued("default") == []
    assert {r.path for r in rows(app, InstallationWebhook)} == {"/webhooks/time", "/webhooks/project"}


def test_reinstall_rotates_tokens_and_keeps_one_installation(app, kit, queued):
    first = kit.install(WS)
    second = kit.install(WS, addon_id=first.addon_id)
    assert second.reply.json()["installation"] == "updated"
    assert second.reply.json()["jobs"]["bootstrap"] == "already_running"
    [installation] = rows(app, Installation)
    assert installation.installation_token == second.auth_token
    stored = {r.token for r in rows(app, InstallationWebhook)}
    assert stored == set(second.webhook_tokens.values())
    with app.app_context():
        for token in first.webhook_tokens.values():
            assert webhook_holding(WS, token) is None
    assert len(queued("bootstrap")) == 1


def test_reinstall_after_uninstall_reactivates_with_the_new_addon_id(app, kit, queued):
    first = kit.install(WS)
    assert kit.uninstall(WS).status_code == 200
    second = kit.install(WS)  # a new random addonId, as Clockify issues
    assert second.addon_id != first.addon_id
    assert second.reply.json()["installation"] == "reactivated"
    [installation] = rows(app, Installation)
    assert (installation.status, installation.addon_id, installation.uninstalled_at) == ("ACTIVE", second.addon_id,
                                                                                         None)
    # The uninstall's purge and deregistration no longer wait; a fresh bootstrap does.
    assert [j[0] for j in queued("default")] == [f"register-webhooks-{WS}"]
    assert [r.status for r in sorted(rows(app, BootstrapRun), key=lambda r: r.id)] == ["cancelled", "pending"]
    assert len(queued("bootstrap")) == 1


def test_the_installation_token_must_be_clockify_s(app, kit, signer):
    forged = Signer(generate_private_key(), signer.addon_key).installation_token(WS, "addon-1")
    body = installed_payload(signer, WS, "addon-1", auth_token=forged)
    reply = kit.send_lifecycle("INSTALLED", body)
    assert reply.status_code == 422
    assert [(e["location"], e["field"]) for e in reply.json()["errors"]] == [("body", "authToken")]
    assert "signature" in reply.json()["errors"][0]["message"] and forged not in reply.body.decode()
    assert rows(app, Installation) == []


def test_the_installation_token_must_be_for_this_workspace(app, kit, signer):
    body = installed_payload(signer, WS, "addon-1", auth_token=signer.installation_token("another-ws", "addon-1"))
    reply = kit.send_lifecycle("INSTALLED", body)
    assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "authToken"
    assert rows(app, Installation) == []


def test_api_url_falls_back_to_the_token_backend_url(app, kit, signer):
    body = installed_payload(signer, WS, "addon-1")
    del body["apiUrl"]
    assert kit.send_lifecycle("INSTALLED", body).status_code == 200
    assert rows(app, Installation)[0].api_url == signer.backend_url


def test_webhook_token_listed_twice_is_stored_and_counted_once(app, kit, signer):
    token = signer.webhook_token(WS, "addon-1")
    hooks = [{"path": "/webhooks/time", "authToken": token}, {"path": "/webhooks/project", "authToken": token}]
    reply = kit.send_lifecycle("INSTALLED", installed_payload(signer, WS, "addon-1", webhooks=hooks))
    assert reply.status_code == 200 and reply.json()["webhooks"] == 1
    assert [(r.path, r.token) for r in rows(app, InstallationWebhook)] == [("/webhooks/time", token)]


def test_concurrent_installs_of_one_workspace_leave_one_installation(app, signer):
    replies = []

    def install():
        client = app.test_client()
        kit = ClockifySimulator(signer, FlaskTransport(client))
        replies.append(kit.install(WS, addon_id="addon-1").reply.status_code)

    threads = [threading.Thread(target=install) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert replies == [200] * 4
    assert len(rows(app, Installation)) == 1
    assert len(rows(app, InstallationWebhook)) == 20


def test_with_redis_down_the_install_and_its_jobs_are_kept_and_the_answer_is_200(app, app_with, signer, kit,
                                                                                 queued):
    """The jobs wait in the lifecycle outbox (tests/lifecycle/test_outbox.py runs them); Clockify's
    retry, if any, enqueues them once."""
    down = app_with(REDIS_URL="redis://127.0.0.1:1/0")
    reply = ClockifySimulator(signer, FlaskTransport(down.test_client())).install(WS, addon_id="addon-1").reply
    assert reply.status_code == 200 and reply.json()["jobs"]["bootstrap"] == "queued"
    assert [i.status for i in rows(app, Installation)] == ["ACTIVE"]
    assert rows(app, BootstrapRun) == []  # no run left pending without a job

    retry = kit.install(WS, addon_id="addon-1").reply
    assert retry.status_code == 200 and retry.json()["jobs"]["bootstrap"] == "already_running"
    assert len(queued("bootstrap")) == 1 and len(rows(app, BootstrapRun)) == 1
