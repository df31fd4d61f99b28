"""Webhook registration and deregistration jobs against the fake Clockify."""

import json

import pytest
import sqlalchemy as sa
from conftest import ADDON_ID, WORKSPACE
from rq.registry import ScheduledJobRegistry

from addon import create_app
from addon.crypto import token_digest
from addon.extensions import db
from addon.jobs import schedule
from addon.jobs.webhook_registration import (
    DeregistrationIncomplete,
    RegistrationIncomplete,
    deregister_webhooks,
    register_webhooks,
)
from addon.models import Installation, InstallationWebhook
from addon.queueing import get_queue, get_redis
from addon.store import api_webhooks
from addon.testkit.fake_clockify import Fault
from addon.workers import AppSimpleWorker

# Schema 1.3 cannot declare the last two: they are registered through the API.
EVENTS = "NEW_TIME_ENTRY,TIME_ENTRY_SPLIT,PROJECT_UPDATED"
VIA_API = ["TIME_ENTRY_SPLIT", "PROJECT_UPDATED"]


@pytest.fixture(scope="module")
def hooks_app(app, jobs_overrides):
    return create_app({**jobs_overrides, "WEBHOOK_EVENTS": EVENTS, "MANIFEST_SCHEMA_VERSION": "1.3"})


@pytest.fixture
def hooks(hooks_app, fake_clockify, signer):
    fake_clockify.signer = signer
    with hooks_app.app_context():
        installation = Installation(workspace_id=WORKSPACE, addon_id=ADDON_ID, status="ACTIVE",
                                    installation_token=signer.installation_token(WORKSPACE, ADDON_ID),
                                    api_url=fake_clockify.api_url)
        db.session.add(installation)
        db.session.commit()
        yield installation
        db.session.remove()


def run_jobs(app):
    AppSimpleWorker([get_queue(n) for n in ("high", "default")], connection=get_redis(), app=app) \
        .work(burst=True, logging_level="WARNING")


def deactivate(installation):
    """Deregistration runs only for an installation no longer ACTIVE."""
    installation.status = "INACTIVE"
    db.session.commit()


def rows():
    return {row.event: row for row in api_webhooks.for_workspace(WORKSPACE)}


def test_registers_the_events_the_manifest_cannot_declare(hooks, fake_clockify):
    outcome = register_webhooks(WORKSPACE)
    assert outcome == {"registered": VIA_API, "adopted": [], "failed": []}
    posts = fake_clockify.requests(method="POST")
    assert [p.body for p in posts] == [
        {"name": "TIME_ENTRY_SPLIT", "url": "https://addon.example.com/webhooks/time",
         "webhookEvent": "TIME_ENTRY_SPLIT", "triggerSourceType": "WORKSPACE_ID", "triggerSource": [WORKSPACE]},
        {"name": "PROJECT_UPDATED", "url": "https://addon.example.com/webhooks/project",
         "webhookEvent": "PROJECT_UPDATED", "triggerSourceType": "WORKSPACE_ID", "triggerSource": [WORKSPACE]},
    ]
    at_clockify = {w["webhookEvent"]: w for w in fake_clockify.webhooks(WORKSPACE)}
    stored = rows()
    for event in VIA_API:
        row = stored[event]
        assert (row.source, row.status, row.clockify_webhook_id) == ("api", "active", at_clockify[event]["id"])
        assert row.token == at_clockify[event]["authToken"]
        assert row.token_digest == token_digest(row.token)
    assert stored["TIME_ENTRY_SPLIT"].path == "/webhooks/time"
    raw = db.session.execute(sa.text("SELECT token FROM installation_webhooks")).scalars().all()
    assert all(value and value not in {w["authToken"] for w in at_clockify.values()} for value in raw)


def test_registration_is_idempotent(hooks, fake_clockify):
    register_webhooks(WORKSPACE)
    fake_clockify.clear_requests()
    assert register_webhooks(WORKSPACE) == {"registered": [], "adopted": [], "failed": []}
    assert fake_clockify.requests() == []
    assert len(fake_clockify.webhooks(WORKSPACE)) == 2


def test_webhooks_clockify_already_has_are_adopted(hooks, fake_clockify, signer):
    import requests

    body = {"url": "https://addon.example.com/webhooks/time", "webhookEvent": "TIME_ENTRY_SPLIT",
            "triggerSourceType": "WORKSPACE_ID", "triggerSource": [WORKSPACE]}
    requests.post(fake_clockify.api_url + f"/v1/workspaces/{WORKSPACE}/webhooks", json=body, timeout=5,
                  headers={"X-Addon-Token": hooks.installation_token})
    outcome = register_webhooks(WORKSPACE)
    assert outcome == {"registered": ["PROJECT_UPDATED"], "adopted": ["TIME_ENTRY_SPLIT"], "failed": []}
    assert len(fake_clockify.webhooks(WORKSPACE)) == 2


def test_registration_4xx_is_recorded_and_not_retried(hooks, fake_clockify):
    fake_clockify.inject("*/webhooks", Fault.status(400, body={"message": "Bad event", "code": 400}), method="POST")
    outcome = register_webhooks(WORKSPACE)
    assert outcome["failed"] == ["TIME_ENTRY_SPLIT"] and outcome["registered"] == ["PROJECT_UPDATED"]
    assert rows()["TIME_ENTRY_SPLIT"].status == "failed"
    assert rows()["TIME_ENTRY_SPLIT"].last_error == "400: Bad event"
    assert len(fake_clockify.requests(method="POST")) == 2


def test_registration_left_failing_is_retried_by_rq(hooks_app, hooks, fake_clockify):
    fake_clockify.inject("*/webhooks", *[Fault.status(503)] * 6, method="POST")
    with pytest.raises(RegistrationIncomplete):
        register_webhooks(WORKSPACE)
    fake_clockify.inject("*/webhooks", *[Fault.status(503)] * 6, method="POST")
    job = schedule.enqueue_register_webhooks(WORKSPACE)
    run_jobs(hooks_app)
    job.refresh()
    assert job.get_status() == "scheduled" and job.id in ScheduledJobRegistry(queue=get_queue("default"))
    assert rows()["TIME_ENTRY_SPLIT"].status == "failed" and "503" in rows()["TIME_ENTRY_SPLIT"].last_error


def test_inactive_installation_registers_nothing(hooks, fake_clockify):
    hooks.status = "INACTIVE"
    db.session.commit()
    assert register_webhooks(WORKSPACE)["registered"] == []
    assert fake_clockify.requests() == []


def test_deregistration_after_500_500_200(hooks, fake_clockify):
    register_webhooks(WORKSPACE)
    deactivate(hooks)
    fake_clockify.inject("*/webhooks/*", Fault.status(500), Fault.status(500), method="DELETE")
    report = deregister_webhooks(WORKSPACE)
    assert [entry["status"] for entry in report] == ["deleted", "deleted"]
    assert [r.status for r in fake_clockify.requests(method="DELETE")] == [500, 500, 200, 200]
    assert fake_clockify.webhooks(WORKSPACE) == []
    assert all(row.token is None and row.token_digest is None for row in rows().values())


def test_deregistration_401_is_terminal(hooks, fake_clockify):
    register_webhooks(WORKSPACE)
    deactivate(hooks)
    fake_clockify.revoke_token(hooks.installation_token)  # DELETED: the token is dead
    report = deregister_webhooks(WORKSPACE)
    assert [entry["status"] for entry in report] == ["delete_refused", "delete_refused"]
    assert len(fake_clockify.requests(method="DELETE")) == 2
    assert rows()["TIME_ENTRY_SPLIT"].last_error.startswith("401")
    # Nothing is left to retry.
    assert api_webhooks.workspaces_with_failed_deregistration() == []
    assert deregister_webhooks(WORKSPACE) == []


def test_deregistration_404_means_already_gone(hooks, fake_clockify):
    register_webhooks(WORKSPACE)
    deactivate(hooks)
    fake_clockify.inject("*/webhooks/*", Fault.status(404), method="DELETE")
    report = deregister_webhooks(WORKSPACE)
    assert [entry["status"] for entry in report] == ["deleted", "deleted"]


def test_exhausted_deregistration_is_retried_by_rq_then_by_the_cli(hooks_app, hooks, fake_clockify):
    register_webhooks(WORKSPACE)
    deactivate(hooks)
    fake_clockify.inject("*/webhooks/*", *[Fault.status(502)] * 12, method="DELETE")
    with pytest.raises(DeregistrationIncomplete):
        deregister_webhooks(WORKSPACE)
    assert {row.status for row in rows().values()} == {"delete_failed"}

    fake_clockify.inject("*/webhooks/*", *[Fault.status(502)] * 12, method="DELETE")
    job = schedule.enqueue_deregister_webhooks(WORKSPACE)
    run_jobs(hooks_app)
    job.refresh()
    assert job.get_status() == "scheduled"  # RQ's Retry will run it again

    fake_clockify.clear_faults()
    result = hooks_app.test_cli_runner().invoke(args=["webhooks", "deregister", "--retry"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert [entry["status"] for entry in report[WORKSPACE]] == ["deleted", "deleted"]
    db.session.expire_all()
    assert {row.status for row in rows().values()} == {"deleted"}
    assert fake_clockify.webhooks(WORKSPACE) == []


def test_failure_callback_marks_what_the_job_did_not_reach(hooks, fake_clockify):
    from rq.job import Job

    from addon.jobs.webhook_registration import record_deregistration_failure

    register_webhooks(WORKSPACE)
    deactivate(hooks)
    job = schedule.enqueue_deregister_webhooks(WORKSPACE)
    record_deregistration_failure(Job.fetch(job.id, connection=get_redis()), get_redis(), RuntimeError,
                                  RuntimeError("worker lost"), None)
    assert {(row.status, row.last_error) for row in rows().values()} == {("delete_failed", "RuntimeError: worker lost")}
    assert db.session.execute(sa.select(sa.func.count()).select_from(InstallationWebhook)).scalar() == 2


def test_deregistration_of_an_installation_active_again_deletes_nothing(hooks, fake_clockify):
    register_webhooks(WORKSPACE)
    assert deregister_webhooks(WORKSPACE) == []
    assert fake_clockify.requests(method="DELETE") == [] and len(fake_clockify.webhooks(WORKSPACE)) == 2
