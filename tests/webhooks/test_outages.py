"""Deliveries while Redis or the database is unavailable: 2xx only for committed rows, and
nothing lost or mistaken for a duplicate afterwards."""

import sqlite3
from datetime import timedelta

import sqlalchemy as sa
from prometheus_client import REGISTRY

from addon.extensions import db
from addon.jobs.webhook_requeue import sweep
from addon.models import utcnow
from addon.testkit.stored_rows import workspace_entities
from addon.testkit.webhooks import entity_payload

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
UNREACHABLE_POSTGRES = "postgresql://postgres@127.0.0.1:1/addon_unreachable"


def test_redis_down_stores_and_answers_200_then_the_sweep_processes(
        app, make_app, workspace, deliver, stored_events, queued_job_ids, queued_jobs, run_jobs):
    no_redis = make_app(REDIS_URL=UNREACHABLE_REDIS)
    payload = entity_payload(workspace.workspace_id, "p-redis-down", name="kept")
    response = deliver(workspace, "NEW_PROJECT", payload, app_client=no_redis.test_client())
    assert response.status_code == 200 and response.get_json()["status"] == "accepted"
    [row] = stored_events()
    assert row.status == "received" and queued_job_ids("high") == []

    with app.app_context():
        assert sweep().enqueued == 0  # too fresh: its own request may still be enqueueing it
        assert sweep(now=utcnow() + timedelta(minutes=5)).enqueued == 1
        assert sweep(now=utcnow() + timedelta(minutes=5)).enqueued == 0  # already pending: not twice
    assert queued_jobs("high") == [("process_received_events", (workspace.workspace_id,))]
    run_jobs()
    [row] = stored_events()
    assert row.status == "processed"
    with app.app_context():
        assert [e.entity_id for e in workspace_entities(workspace.workspace_id, "projects")] == [
            "p-redis-down"]


def test_redis_down_redelivery_is_still_a_duplicate(make_app, workspace, deliver, stored_events):
    no_redis = make_app(REDIS_URL=UNREACHABLE_REDIS)
    payload = entity_payload(workspace.workspace_id)
    first = deliver(workspace, "NEW_TAG", payload, app_client=no_redis.test_client())
    second = deliver(workspace, "NEW_TAG", payload, app_client=no_redis.test_client())
    assert second.get_json() == {"status": "duplicate", "duplicate": True, "id": first.get_json()["id"]}
    assert len(stored_events()) == 1


def test_database_down_is_503_and_the_redelivery_is_stored_once(make_app, workspace, deliver, stored_events,
                                                              queued_job_ids):
    no_database = make_app(DATABASE_URL=UNREACHABLE_POSTGRES)
    payload = entity_payload(workspace.workspace_id, "p-db-down")
    labels = {"event": "NEW_PROJECT", "outcome": "rejected_storage_unavailable"}
    before = REGISTRY.get_sample_value("addon_webhook_deliveries_total", labels) or 0.0
    response = deliver(workspace, "NEW_PROJECT", payload, app_client=no_database.test_client())
    assert response.status_code == 503
    assert response.get_json()["error"] == "storage_unavailable"
    assert REGISTRY.get_sample_value("addon_webhook_deliveries_total", labels) == before + 1
    assert stored_events() == [] and queued_job_ids("high") == []

    redelivered = deliver(workspace, "NEW_PROJECT", payload)
    assert redelivered.status_code == 200 and redelivered.get_json()["status"] == "accepted"
    again = deliver(workspace, "NEW_PROJECT", payload)
    assert again.get_json()["status"] == "duplicate"
    assert len(stored_events()) == 1


def test_locked_database_is_503_and_the_redelivery_is_stored_once(app, make_app, base_overrides, workspace, deliver,
                                                                stored_events, queued_job_ids, queued_jobs):
    """The lookups succeed but the insert cannot take its lock: nothing may be committed."""
    url = base_overrides["DATABASE_URL"]
    payload = entity_payload(workspace.workspace_id, "p-locked")
    if url.startswith("sqlite"):
        locked = make_app(SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 0.2}})
        holder = sqlite3.connect(sa.engine.make_url(url).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # a writer holds the RESERVED lock; readers still read
        release = holder.rollback
    else:
        locked = make_app(SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"options": "-c lock_timeout=200"}})
        with app.app_context():
            holder = db.engine.connect()
        transaction = holder.begin()
        holder.execute(sa.text("LOCK TABLE webhook_events IN EXCLUSIVE MODE"))  # blocks inserts, not reads
        release = transaction.rollback
    try:
        response = deliver(workspace, "NEW_PROJECT", payload, app_client=locked.test_client())
    finally:
        release()
        holder.close()
    assert response.status_code == 503
    assert response.get_json()["error"] == "storage_unavailable"
    assert response.headers["Retry-After"] == "5"
    assert stored_events() == [] and queued_job_ids("high") == []

    redelivered = deliver(workspace, "NEW_PROJECT", payload, app_client=locked.test_client())
    assert redelivered.status_code == 200 and redelivered.get_json()["status"] == "accepted"
    assert len(stored_events()) == 1
    assert queued_jobs("high") == [("process_received_events", (workspace.workspace_id,))]
