"""The purge job run by a real RQ worker, and the cancellation of queued singleton jobs."""

from datetime import timedelta

import pytest
from rq.job import Job, JobStatus

from addon.extensions import db
from addon.jobs import cancellation, schedule
from addon.models import BootstrapRun, Installation, utcnow
from addon.queueing import DEFAULT, PRIORITY_ORDER, get_queue, get_redis
from addon.store import workspace_data
from addon.workers import AppSimpleWorker

WS, OTHER = "ws-purged", "ws-kept"


def seed(app, kit, *workspaces):
    for ws in workspaces:
        assert kit.install(ws).reply.status_code == 200
    with app.app_context():
        for ws in workspaces:
            workspace_data.upsert(ws, "projects", [("p1", {"id": "p1"}), ("p2", {"id": "p2"})])
            workspace_data.upsert(ws, "tags", [("t1", {"id": "t1"})])
        db.session.commit()
        get_queue("bootstrap").empty()
        get_queue(DEFAULT).empty()


def run_default_queue(app):
    with app.app_context():
        redis = get_redis()
        AppSimpleWorker([get_queue(DEFAULT)], connection=redis, app=app).work(burst=True, logging_level="WARNING")


def counts(app, ws):
    with app.app_context():
        return workspace_data.counts(ws)


def test_uninstall_then_a_real_worker_purges_only_that_workspace(app, kit):
    seed(app, kit, WS, OTHER)
    kit.uninstall(WS)
    with app.app_context():  # the deregistration job belongs to the jobs branch; run the purge alone
        Job.fetch(schedule.job_id("deregister-webhooks", WS), connection=get_redis()).delete()
    run_default_queue(app)
    assert counts(app, WS) == {}
    assert counts(app, OTHER) == {"projects": 2, "tags": 1}
    with app.app_context():
        job = Job.fetch(schedule.job_id("purge", WS), connection=get_redis())
        assert job.get_status() == JobStatus.FINISHED and job.return_value() == 3
        assert db.session.execute(db.select(Installation.status).where(Installation.workspace_id == WS)
                                  ).scalar_one() == "DELETED"


def test_purge_does_nothing_once_the_workspace_is_installed_again(app, kit):
    seed(app, kit, WS)
    with app.app_context():
        installation = db.session.execute(db.select(Installation)).scalar_one()
        installation.status = "DELETED"
        db.session.commit()
        schedule.enqueue_purge_workspace(WS)
        installation.status = "ACTIVE"  # reinstalled before the job ran
        db.session.commit()
    run_default_queue(app)
    assert counts(app, WS) == {"projects": 2, "tags": 1}


def test_purge_of_an_unknown_workspace_is_a_no_op(app):
    from addon.jobs.purge import purge_workspace

    with app.app_context():
        assert purge_workspace("never-installed") == 0


def test_cancellation_ids_are_the_ones_schedule_enqueues(app):
    """`cancellation.KINDS` must name the job ids `schedule` gives; a renamed id fails here."""
    with app.app_context():
        enqueued = {schedule.enqueue_bootstrap(WS, 1).id, schedule.enqueue_register_webhooks(WS).id,
                    schedule.enqueue_deregister_webhooks(WS).id, schedule.enqueue_purge_workspace(WS).id}
        assert enqueued == {schedule.job_id(kind, WS) for kind in cancellation.KINDS}
        assert sorted(cancellation.cancel_queued(WS, cancellation.KINDS)) == sorted(enqueued)
        assert all(get_queue(name).count == 0 for name in PRIORITY_ORDER)


def test_cancellation_reaches_jobs_waiting_for_a_retry_and_spares_others(app):
    with app.app_context():
        redis = get_redis()
        waiting = get_queue(DEFAULT).enqueue_at(utcnow() + timedelta(minutes=5), "addon.jobs.purge.purge_workspace",
                                                WS, job_id=schedule.job_id("purge", WS))
        assert waiting.get_status() == JobStatus.SCHEDULED
        other = schedule.enqueue_purge_workspace(OTHER)
        assert cancellation.cancel_queued(WS, (cancellation.PURGE, cancellation.REGISTER)) == [waiting.id]
        assert not Job.exists(waiting.id, connection=redis)
        assert get_queue(DEFAULT).job_ids == [other.id]


def test_cancelling_bootstrap_marks_its_runs_cancelled(app):
    with app.app_context():
        run, created = schedule.request_bootstrap(WS, "install")
        assert created
        finished = BootstrapRun(workspace_id=WS, status="completed", trigger="manual")
        db.session.add(finished)
        db.session.commit()
        assert cancellation.cancel_queued(WS, (cancellation.BOOTSTRAP,)) == [schedule.job_id("bootstrap", WS)]
        statuses = dict(db.session.execute(db.select(BootstrapRun.id, BootstrapRun.status)).all())
        assert statuses == {run.id: "cancelled", finished.id: "completed"}


@pytest.mark.parametrize("kind", cancellation.KINDS)
def test_is_known_follows_redis(app, kind):
    with app.app_context():
        assert not cancellation.is_known(kind, WS)
        get_queue(DEFAULT).enqueue("addon.jobs.purge.purge_workspace", WS, job_id=schedule.job_id(kind, WS))
        assert cancellation.is_known(kind, WS)
