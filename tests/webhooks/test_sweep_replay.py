"""The periodic sweep, its scheduling, and ``flask webhooks replay``."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from rq.registry import ScheduledJobRegistry

from addon.extensions import db
from addon.jobs import schedule
from addon.jobs.webhook_requeue import SWEEP_MAX_ATTEMPTS, keep_sweep_scheduled, sweep
from addon.models import WebhookEvent, utcnow
from addon.queueing import get_queue
from addon.testkit.webhooks import entity_payload
from addon.webhook_handlers import registry

LATER = timedelta(minutes=5)


@pytest.fixture
def counted(request):
    """Count handler runs per event type with a registered test handler."""
    calls = []

    def record(event):
        calls.append((event.workspace_id, event.event_type))

    registry.on("*")(record)
    request.addfinalizer(lambda: registry.remove(record))
    return calls


def _lose_queued_jobs(rq_connection, workspace_id):
    """As if Redis had lost the queued jobs, and with them the workspace's "job queued" flag."""
    get_queue("high", rq_connection).empty()
    rq_connection.delete(schedule.received_job_flag(workspace_id))


def _update(app, **values):
    with app.app_context():
        db.session.execute(db.update(WebhookEvent).values(**values))
        db.session.commit()


def test_sweep_leaves_finished_and_fresh_events_alone(app, workspace, deliver, run_jobs, queued_job_ids):
    deliver(workspace, "NEW_PROJECT")
    run_jobs()
    with app.app_context():
        result = sweep(now=utcnow() + LATER)
    assert (result.enqueued, result.pending, result.gave_up) == (0, 0, 0)
    assert queued_job_ids("high") == []


def test_sweep_requeues_an_event_whose_job_ended_without_finishing_it(app, workspace, deliver, run_jobs,
                                                                     stored_events, counted):
    deliver(workspace, "NEW_PROJECT")
    run_jobs()
    # As if the worker died mid-job: RQ's record says finished/failed, the row still says processing.
    _update(app, status="processing")
    with app.app_context():
        assert sweep(now=utcnow() + LATER).enqueued == 1
    run_jobs()
    [row] = stored_events()
    assert (row.status, row.attempts) == ("processed", 2)
    assert row.enqueued_at is not None
    assert len(counted) == 2


def test_sweep_gives_up_after_max_attempts(app, workspace, deliver, stored_events, rq_connection):
    deliver(workspace, "NEW_PROJECT")
    _lose_queued_jobs(rq_connection, workspace.workspace_id)
    _update(app, attempts=SWEEP_MAX_ATTEMPTS)
    with app.app_context():
        assert sweep(now=utcnow() + LATER).gave_up == 1
    [row] = stored_events()
    assert row.status == "failed" and "gave up" in row.last_error


def test_sweep_does_not_touch_a_retry_waiting_for_its_backoff(app, workspace, deliver, run_jobs, stored_events):
    def explode(event):
        raise RuntimeError("later")

    registry.on("NEW_TAG")(explode)
    try:
        deliver(workspace, "NEW_TAG")
        run_jobs()
        with app.app_context():
            result = sweep(now=utcnow() + LATER)
    finally:
        registry.remove(explode)
    assert (result.enqueued, result.pending) == (0, 1)
    assert stored_events()[0].status == "retrying"


def test_sweep_scheduling_is_idempotent_across_workers(app, rq_connection):
    now = time.time()
    with app.app_context():
        first = schedule.webhook_sweep(60, now=now)
        assert first is not None
        assert schedule.webhook_sweep(60, now=now) is None
        assert schedule.webhook_sweep(60, now=now, min_slot=int(now // 60) + 1) is None
    scheduled = ScheduledJobRegistry(queue=get_queue("default", rq_connection)).get_job_ids()
    assert first.id in scheduled
    assert len([j for j in scheduled if j == first.id]) == 1
    slot = int(now // 60) + 1
    assert first.id == f"webhook-sweep-{slot}"
    assert ScheduledJobRegistry(queue=get_queue("default", rq_connection)).get_scheduled_time(first.id) == \
        datetime.fromtimestamp(slot * 60, UTC)


def test_sweep_job_runs_the_sweep_and_schedules_the_next_one(app, rq_connection, workspace, deliver, run_jobs,
                                                            stored_events):
    deliver(workspace, "NEW_PROJECT")
    _lose_queued_jobs(rq_connection, workspace.workspace_id)
    _update(app, received_at=utcnow() - LATER)
    slot = int(time.time() // 60)
    get_queue("default", rq_connection).enqueue(schedule.SWEEP_EVENTS_JOB, job_id=f"webhook-sweep-{slot}")
    run_jobs()
    assert stored_events()[0].status == "processed"
    [scheduled] = ScheduledJobRegistry(queue=get_queue("default", rq_connection)).get_job_ids()
    assert scheduled.startswith("webhook-sweep-") and int(scheduled.rsplit("-", 1)[1]) > slot


def test_worker_keeps_the_sweep_scheduled_at_maintenance(base_overrides, rq_connection):
    from addon import create_app
    from addon.workers import AppWorker

    app = create_app({**base_overrides, "WEBHOOK_SWEEP_SECONDS": "86400"})  # one slot a day: no boundary races
    worker = AppWorker([get_queue("high", rq_connection)], connection=rq_connection, app=app)
    worker.run_maintenance_tasks()
    worker.run_maintenance_tasks()
    with app.app_context():
        assert keep_sweep_scheduled() is False
    scheduled = ScheduledJobRegistry(queue=get_queue("default", rq_connection)).get_job_ids()
    assert len(scheduled) == 1 and scheduled[0].startswith("webhook-sweep-")


def test_replay_runs_a_workspace_events_again(app, install, deliver, run_jobs, stored_events, counted):
    alpha, beta = install("ws-a", "addon-a"), install("ws-b", "addon-b")
    deliver(alpha, "NEW_PROJECT", entity_payload("ws-a", "p1"))
    deliver(alpha, "NEW_CLIENT", entity_payload("ws-a", "c1"))
    deliver(beta, "NEW_PROJECT", entity_payload("ws-b", "p2"))
    run_jobs()
    counted.clear()

    result = app.test_cli_runner().invoke(args=["webhooks", "replay", "--workspace", "ws-a"])
    assert result.exit_code == 0, result.output
    assert "2 events enqueued" in result.output
    run_jobs()
    assert sorted(counted) == [("ws-a", "NEW_CLIENT"), ("ws-a", "NEW_PROJECT")]
    assert {r.workspace_id: r.attempts for r in stored_events() if r.event_type == "NEW_PROJECT"} == {
        "ws-a": 2, "ws-b": 1}
    assert all(r.status == "processed" for r in stored_events())


def test_replay_filters_by_event_and_time(app, workspace, deliver, run_jobs, counted, rq_connection):
    deliver(workspace, "NEW_PROJECT", entity_payload(workspace.workspace_id, "old"))
    _update(app, received_at=datetime(2020, 1, 1, tzinfo=UTC))
    deliver(workspace, "NEW_PROJECT", entity_payload(workspace.workspace_id, "new"))
    deliver(workspace, "NEW_TAG")
    run_jobs()
    counted.clear()
    runner = app.test_cli_runner()

    result = runner.invoke(args=["webhooks", "replay", "--workspace", workspace.workspace_id,
                                 "--event", "NEW_PROJECT", "--since", "2021-01-01"])
    assert result.exit_code == 0 and "1 events enqueued" in result.output
    run_jobs()
    assert counted == [(workspace.workspace_id, "NEW_PROJECT")]

    result = runner.invoke(args=["webhooks", "replay", "--workspace", workspace.workspace_id,
                                 "--since", "2019-12-31T23:00:00+00:00"])
    assert "3 events enqueued" in result.output


def test_replay_leaves_pending_jobs_alone(app, workspace, deliver, queued_job_ids):
    deliver(workspace, "NEW_PROJECT")
    result = app.test_cli_runner().invoke(args=["webhooks", "replay", "--workspace", workspace.workspace_id])
    assert "0 events enqueued, 1 already pending" in result.output
    assert len(queued_job_ids("high")) == 1


def test_replay_rejects_a_bad_since(app):
    result = app.test_cli_runner().invoke(args=["webhooks", "replay", "--workspace", "w", "--since", "yesterday"])
    assert result.exit_code == 2 and "--since" in result.output


def test_replay_without_redis_says_so(make_unreachable_redis_app, workspace, deliver):
    deliver(workspace, "NEW_PROJECT")
    result = make_unreachable_redis_app.test_cli_runner().invoke(
        args=["webhooks", "replay", "--workspace", workspace.workspace_id])
    assert result.exit_code == 1 and "Redis is unavailable" in result.output


@pytest.fixture
def make_unreachable_redis_app(base_overrides):
    from addon import create_app

    extra = create_app({**base_overrides, "REDIS_URL": "redis://127.0.0.1:1/0"})
    yield extra
    with extra.app_context():
        db.session.remove()
        db.engine.dispose()
