"""The bootstrap on real ``python worker.py`` processes: one job per run filling the workspace's
budget whatever the number of workers, and a worker SIGKILLed mid-run whose work is resumed
from its checkpoints after a restart."""

import pytest
from conftest import WORKSPACE, seed_workspace
from rq.job import Job

from addon.extensions import db
from addon.jobs import schedule
from addon.models import WorkspaceData
from addon.queueing import get_redis
from addon.store import bootstrap_runs, workspace_data
from addon.testkit.worker_processes import wait_for

pytestmark = pytest.mark.slow
RATE = 10


def finished(run_id):
    def check():
        run = bootstrap_runs.get(run_id)
        db.session.commit()
        return run is not None and not run.active
    return check


def assert_complete_without_duplicates(expected):
    counts = workspace_data.counts(WORKSPACE)
    for source, count in expected.items():
        assert counts[source] == count, source
    rows = db.session.execute(db.select(WorkspaceData.source, WorkspaceData.entity_id)).all()
    assert len(rows) == len(set(rows))


def test_three_workers_share_the_budget_of_one_workspace(install, fake_clockify, worker_env, workers):
    fake_clockify.latency = 0.1
    expected = seed_workspace(fake_clockify, projects=12, tasks=4, users=3, entries=6)
    install()
    started = workers(worker_env(RATE_LIMIT_RPS=RATE), count=3)
    wait_for(lambda: len(__import__("rq").Worker.all(connection=get_redis())) == 3, 30, message="workers up")

    run, _ = schedule.request_bootstrap(WORKSPACE, "install")
    wait_for(finished(run.id), 90, message="bootstrap did not finish")

    result = bootstrap_runs.get(run.id)
    assert result.status == "completed", bootstrap_runs.summary(result).errors
    assert_complete_without_duplicates(expected)
    sent = fake_clockify.requests()
    assert len(sent) > 3 * RATE
    assert fake_clockify.max_requests_per_window(1.0, workspace_id=WORKSPACE) <= RATE
    # One job drove the whole run (a slice lasts longer than this run).
    assert Job.fetch(schedule.job_id("bootstrap", WORKSPACE), connection=get_redis()).get_status() == "finished"
    assert result.rq_job_id == schedule.job_id("bootstrap", WORKSPACE)
    assert all(process.process.poll() is None for process in started)


@pytest.mark.resilience
def test_sigkilled_worker_is_resumed_from_its_checkpoints(install, fake_clockify, worker_env, workers):
    fake_clockify.latency = 0.1
    expected = seed_workspace(fake_clockify, projects=12, tasks=4, users=3, entries=6)
    install()
    env = worker_env(RATE_LIMIT_RPS=RATE)
    first = workers(env)[0]
    run, _ = schedule.request_bootstrap(WORKSPACE, "install")

    wait_for(lambda: len(fake_clockify.requests()) >= 15, 60, message="bootstrap did not start")
    first.kill()
    before_kill = fake_clockify.requests()
    assert bootstrap_runs.get(run.id).status == "running"
    db.session.commit()

    workers(env)
    wait_for(finished(run.id), 90, message="bootstrap was not resumed")
    result = bootstrap_runs.get(run.id)
    assert result.status == "completed", bootstrap_runs.summary(result).errors
    assert result.resumes == 1
    assert_complete_without_duplicates(expected)
    after_kill = fake_clockify.requests()[len(before_kill):]
    # Resumed, not restarted: listings finished before the kill were not fetched again.
    done_before = {r.path for r in before_kill if r.path.endswith(("/users", "/clients", "/invoices"))}
    assert done_before and not done_before & {r.path for r in after_kill}


@pytest.mark.resilience
def test_warm_shutdown_checkpoints_and_a_continuation_finishes(install, fake_clockify, worker_env, workers):
    fake_clockify.latency = 0.1
    expected = seed_workspace(fake_clockify, projects=40, tasks=4, users=3, entries=6)
    install()
    env = worker_env(RATE_LIMIT_RPS=RATE)
    first = workers(env)[0]
    run, _ = schedule.request_bootstrap(WORKSPACE, "install")
    wait_for(lambda: len(fake_clockify.requests()) >= 10, 60, message="bootstrap did not start")

    first.stop(timeout=30)  # SIGTERM: the horse gets a few seconds, then ends its slice early
    assert first.process.returncode is not None
    assert bootstrap_runs.get(run.id).status == "running"
    db.session.commit()
    continuation = Job.fetch(schedule.bootstrap_slice_job_id(WORKSPACE, run.id, "s1"), connection=get_redis())
    assert continuation.get_status() == "queued"

    workers(env)
    wait_for(finished(run.id), 90, message="the continuation did not finish the run")
    assert bootstrap_runs.get(run.id).status == "completed"
    assert_complete_without_duplicates(expected)
