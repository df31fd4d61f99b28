"""SETTINGS_UPDATED, STATUS_CHANGED and DELETED: happy paths, repeats, enqueued jobs, metrics."""

from prometheus_client import REGISTRY

from addon.extensions import db
from addon.models import BootstrapRun, Installation, InstallationWebhook
from addon.store import webhooks

WS = "60332d61ff30282b1f23e624"


def installation(app) -> Installation:
    with app.app_context():
        return db.session.execute(db.select(Installation)).scalar_one()


def test_settings_updated_stores_the_flat_list_and_is_idempotent(app, kit):
    kit.install(WS)
    reply = kit.update_settings(WS, {"auto_bootstrap": False, "developer_mode": True})
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "workspaceId": WS, "changed": True}
    first = installation(app)
    assert first.settings == {"auto_bootstrap": False, "developer_mode": True}

    repeat = kit.update_settings(WS, {"auto_bootstrap": False, "developer_mode": True})
    assert repeat.status_code == 200 and repeat.json()["changed"] is False
    again = installation(app)
    assert again.settings == first.settings and again.settings_updated_at == first.settings_updated_at


def test_settings_updated_keeps_unknown_ids_and_fills_missing_defaults(app, kit):
    kit.install(WS)
    kit.update_settings(WS, [{"id": "developer_mode", "name": "Developer mode", "value": "true"},
                             {"id": "future_setting", "name": "New", "value": ["a", "b"]}])
    assert installation(app).settings == {"auto_bootstrap": True, "developer_mode": "true",
                                          "future_setting": ["a", "b"]}


def test_a_value_changing_type_counts_as_a_change(app, kit):
    kit.install(WS)
    kit.update_settings(WS, {"auto_bootstrap": True, "developer_mode": False})  # the defaults: unchanged
    assert kit.update_settings(WS, {"auto_bootstrap": 1, "developer_mode": False}).json()["changed"] is True


def test_status_inactive_deregisters_once_and_drops_a_queued_registration(app, kit, queued):
    kit.install(WS)
    reply = kit.change_status(WS, "INACTIVE")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "workspaceId": WS, "installationStatus": "INACTIVE", "changed": True,
                            "jobs": {"webhookDeregistration": "queued"}}
    assert installation(app).status == "INACTIVE" and installation(app).status_changed_at is not None
    assert queued("default") == [
        (f"deregister-webhooks-{WS}", "addon.jobs.webhook_registration.deregister_webhooks", (WS,))]

    repeat = kit.change_status(WS, "INACTIVE")
    assert repeat.status_code == 200 and repeat.json()["changed"] is False and repeat.json()["jobs"] == {}
    assert len(queued("default")) == 1


def test_status_active_again_registers_the_api_webhooks_again(app, kit, queued):
    kit.install(WS)
    kit.change_status(WS, "INACTIVE")
    reply = kit.change_status(WS, "ACTIVE")
    assert reply.json()["jobs"] == {"webhookRegistration": "queued"}
    assert installation(app).status == "ACTIVE"
    assert [j[0] for j in queued("default")] == [f"register-webhooks-{WS}"]


def test_active_when_already_active_changes_nothing(app, kit, queued):
    kit.install(WS)
    reply = kit.change_status(WS, "ACTIVE")
    assert reply.status_code == 200 and reply.json()["changed"] is False and reply.json()["jobs"] == {}


def test_deleted_soft_deletes_cancels_queued_work_and_enqueues_cleanup(app, kit, queued):
    installed = kit.install(WS)
    assert len(queued("bootstrap")) == 1 and len(queued("default")) == 1
    reply = kit.uninstall(WS)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "workspaceId": WS, "installationStatus": "DELETED", "alreadyDeleted": False,
                            "jobs": {"webhookDeregistration": "queued", "purge": "queued"}}
    row = installation(app)
    assert row.status == "DELETED" and row.uninstalled_at is not None
    assert queued("bootstrap") == []
    assert queued("default") == [
        (f"deregister-webhooks-{WS}", "addon.jobs.webhook_registration.deregister_webhooks", (WS,)),
        (f"purge-{WS}", "addon.jobs.purge.purge_workspace", (WS,))]
    with app.app_context():
        assert db.session.execute(db.select(BootstrapRun.status)).scalars().all() == ["cancelled"]
        # Webhook tokens are erased but their rows and digests kept, so a late delivery is told
        # apart from a forgery.
        rows = db.session.execute(db.select(InstallationWebhook)).scalars().all()
        assert len(rows) == 20 and all(r.token is None and r.token_digest for r in rows)
        token = installed.webhook_tokens["NEW_TIME_ENTRY"]
        target = webhooks.find_delivery_target(WS, installed.webhook_paths["NEW_TIME_ENTRY"], token)
        assert target is not None and not target.installation_active


def test_deleted_twice_answers_200_both_times_without_new_jobs(app, kit, queued):
    kit.install(WS)
    kit.uninstall(WS)
    before = queued("default")
    repeat = kit.uninstall(WS)
    assert repeat.status_code == 200
    assert repeat.json()["alreadyDeleted"] is True and repeat.json()["jobs"] == {}
    assert queued("default") == before


def test_a_repeat_delete_re_enqueues_cleanup_that_redis_lost(app, kit, queued, redis_conn):
    kit.install(WS)
    kit.uninstall(WS)
    redis_conn.flushdb()  # e.g. Redis failed right after the first call's commit
    repeat = kit.uninstall(WS)
    assert repeat.json()["jobs"] == {"webhookDeregistration": "queued", "purge": "queued"}
    assert [j[0] for j in queued("default")] == [f"deregister-webhooks-{WS}", f"purge-{WS}"]


def test_settings_and_status_of_an_uninstalled_workspace_are_gone(app, kit):
    kit.install(WS)
    kit.uninstall(WS)
    for reply in (kit.update_settings(WS, {"developer_mode": True}), kit.change_status(WS, "ACTIVE")):
        assert reply.status_code == 410 and reply.json()["error"] == "installation_inactive"
    assert installation(app).status == "DELETED"


def test_calls_for_a_workspace_never_installed_are_404(app, kit):
    for reply in (kit.update_settings(WS, {"developer_mode": True}, addon_id="a1"),
                  kit.change_status(WS, "INACTIVE", addon_id="a1"),
                  kit.uninstall(WS, addon_id="a1")):
        assert reply.status_code == 404
        body = reply.json()
        assert body["error"] == "not_installed" and "not installed" in body["message"] and body["request_id"]


def lifecycle_count(kind: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("addon_lifecycle_events_total", {"type": kind, "outcome": outcome}) or 0.0


def test_calls_are_counted_by_type_and_outcome(app, kit):
    ok, rejected, missing = (lifecycle_count("installed", "ok"), lifecycle_count("deleted", "invalid_token"),
                             lifecycle_count("status_changed", "not_installed"))
    kit.install(WS)
    kit.uninstall(WS, token="not-a-token")
    kit.change_status("never-installed", "ACTIVE", addon_id="a1")
    assert lifecycle_count("installed", "ok") == ok + 1
    assert lifecycle_count("deleted", "invalid_token") == rejected + 1
    assert lifecycle_count("status_changed", "not_installed") == missing + 1
