"""A lifecycle call that failed half-way produces the same jobs when Clockify retries it, or when
nobody retries: each state change is committed with the jobs it implies (the lifecycle outbox),
and the sweep or the next call enqueues what Redis could not take. The jobs then run exactly once
against the fake Clockify."""

from __future__ import annotations

import pytest

from addon.extensions import db
from addon.models import BootstrapRun, Installation, InstallationWebhook, LifecycleOutbox
from addon.queueing import PRIORITY_ORDER, get_queue, get_redis
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.workers import AppSimpleWorker, run_sweeps

WS, ADDON = "5f1e2d3c4b5a6978877665aa", "addon-outbox"
DOWN = "redis://127.0.0.1:1/0"
# The default manifest (schema 1.3, 22 events, 20 declared) leaves two for the API.
VIA_API = 2


@pytest.fixture
def clockify(app, client, signer, fake_clockify):
    """Clockify's calls against the session app, its API played by the fake."""
    fake_clockify.signer = signer
    return ClockifySimulator(signer, FlaskTransport(client), api_url=fake_clockify.api_url)


@pytest.fixture
def clockify_redis_down(app_with, clockify, signer, fake_clockify):
    """The same calls against an app of the same database whose Redis is unreachable."""
    down = ClockifySimulator(signer, FlaskTransport(app_with(REDIS_URL=DOWN).test_client()),
                             api_url=fake_clockify.api_url)
    down.installs = clockify.installs
    return down


def settle(app):
    """Redis is back and no one retries: the workers' sweeps run, then every job they enqueued."""
    with app.app_context():
        run_sweeps()
        AppSimpleWorker([get_queue(n) for n in PRIORITY_ORDER], connection=get_redis(), app=app) \
            .work(burst=True, logging_level="WARNING")
        db.session.remove()


def pending_outbox(app) -> list[LifecycleOutbox]:
    with app.app_context():
        rows = list(db.session.execute(
            db.select(LifecycleOutbox).where(LifecycleOutbox.dispatched_at.is_(None))).scalars())
        db.session.remove()
    return rows


def status(app) -> str:
    with app.app_context():
        value = db.session.execute(db.select(Installation.status)).scalar_one()
        db.session.remove()
    return value


def calls(fake, method: str) -> int:
    return len(fake.requests(method=method, path_glob=f"*/workspaces/{WS}/webhooks*"))


@pytest.mark.parametrize("retried", [True, False], ids=["retried", "not-retried"])
def test_installed_with_redis_down(app, clockify, clockify_redis_down, fake_clockify, retried):
    reply = clockify_redis_down.install(WS, ADDON).reply
    assert reply.status_code == 200, reply.json()
    assert reply.json()["jobs"] == {"bootstrap": "queued", "webhookRegistration": "queued"}
    assert [row.change for row in pending_outbox(app)] == ["installed"]
    if retried:
        assert clockify.install(WS, ADDON).reply.status_code == 200
    settle(app)
    settle(app)  # a second pass finds nothing left to do

    assert pending_outbox(app) == []
    assert calls(fake_clockify, "POST") == VIA_API and len(fake_clockify.webhooks(WS)) == VIA_API
    with app.app_context():
        runs = db.session.execute(db.select(BootstrapRun.status)).scalars().all()
    assert runs == ["completed"]


@pytest.mark.parametrize("retried", [True, False], ids=["retried", "not-retried"])
def test_status_changed_with_redis_down(app, clockify, clockify_redis_down, fake_clockify, retried):
    assert clockify.install(WS, ADDON, settings={"auto_bootstrap": False}).reply.status_code == 200
    settle(app)
    assert len(fake_clockify.webhooks(WS)) == VIA_API

    # INACTIVE: the status is committed with its deregistration, which Redis cannot take yet.
    reply = clockify_redis_down.change_status(WS, "INACTIVE")
    assert reply.status_code == 200 and reply.json()["jobs"] == {"webhookDeregistration": "queued"}
    if retried:
        assert clockify.change_status(WS, "INACTIVE").json()["changed"] is False
    settle(app)
    assert status(app) == "INACTIVE"
    assert calls(fake_clockify, "DELETE") == VIA_API and fake_clockify.webhooks(WS) == []

    # ACTIVE again: the registration is not lost either.
    reply = clockify_redis_down.change_status(WS, "ACTIVE")
    assert reply.status_code == 200 and reply.json()["jobs"] == {"webhookRegistration": "queued"}
    if retried:
        assert clockify.change_status(WS, "ACTIVE").json()["changed"] is False
    settle(app)
    settle(app)
    assert pending_outbox(app) == []
    assert calls(fake_clockify, "POST") == 2 * VIA_API and len(fake_clockify.webhooks(WS)) == VIA_API
    assert calls(fake_clockify, "DELETE") == VIA_API


@pytest.mark.parametrize("retried", [True, False], ids=["retried", "not-retried"])
def test_deleted_with_redis_down(app, clockify, clockify_redis_down, fake_clockify, retried):
    assert clockify.install(WS, ADDON, settings={"auto_bootstrap": False}).reply.status_code == 200
    settle(app)
    reply = clockify_redis_down.uninstall(WS)
    assert reply.status_code == 200 and reply.json()["jobs"] == {"webhookDeregistration": "queued", "purge": "queued"}
    if retried:
        assert clockify.uninstall(WS).json()["alreadyDeleted"] is True
    settle(app)
    settle(app)
    assert pending_outbox(app) == [] and status(app) == "DELETED"
    # DELETED erased the installation token (Clockify revokes it at uninstall): the deregistration
    # ran once and recorded each API webhook as refused, without calling Clockify.
    assert calls(fake_clockify, "DELETE") == 0
    with app.app_context():
        rows = db.session.execute(db.select(InstallationWebhook).filter(
            InstallationWebhook.clockify_webhook_id.is_not(None))).scalars().all()
        assert len(rows) == VIA_API and {row.status for row in rows} == {"delete_refused"}


@pytest.mark.parametrize("retried", [True, False], ids=["retried", "not-retried"])
def test_settings_updated_with_redis_down(app, clockify, clockify_redis_down, fake_clockify, retried):
    assert clockify.install(WS, ADDON, settings={"auto_bootstrap": False}).reply.status_code == 200
    settle(app)
    reply = clockify_redis_down.update_settings(WS, {"developer_mode": True})
    assert reply.status_code == 200 and reply.json()["changed"] is True
    if retried:
        assert clockify.update_settings(WS, {"developer_mode": True}).json()["changed"] is False
    settle(app)
    assert pending_outbox(app) == []
    assert calls(fake_clockify, "POST") == VIA_API  # a settings change implies no job


def test_a_call_dispatches_what_an_earlier_one_left_behind(app, clockify, clockify_redis_down, fake_clockify):
    """INACTIVE while Redis is down, then ACTIVE with Redis back before any sweep: the steps run
    in order, so the registered set still follows the last status."""
    assert clockify.install(WS, ADDON, settings={"auto_bootstrap": False}).reply.status_code == 200
    settle(app)
    assert clockify_redis_down.change_status(WS, "INACTIVE").status_code == 200
    assert clockify.change_status(WS, "ACTIVE").json()["changed"] is True
    assert pending_outbox(app) == []
    settle(app)
    assert len(fake_clockify.webhooks(WS)) == VIA_API and status(app) == "ACTIVE"
