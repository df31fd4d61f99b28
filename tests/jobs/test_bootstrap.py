"""The bootstrap job on a real RQ worker (in-process), real Redis and database, fake Clockify."""

import threading
import time
from datetime import UTC, datetime, timedelta

from conftest import WORKSPACE, recent, seed_workspace

from addon.clockify import bootstrap_operations
from addon.extensions import db
from addon.jobs import bootstrap, schedule
from addon.models import BootstrapRunStatus, CheckpointState, Installation, WorkspaceData
from addon.queueing import enqueue, get_redis
from addon.store import bootstrap_runs, workspace_data
from addon.store.bootstrap_runs import Checkpoint
from addon.testkit.fake_clockify import Fault
from addon.testkit.stored_rows import workspace_entities
from addon.web.bootstrap import status_body

BASE_OPERATIONS = len(bootstrap_operations.workspace_operations())


def run_bootstrap(work):
    run, created = schedule.request_bootstrap(WORKSPACE, "install")
    assert created
    work()
    return bootstrap_runs.get(run.id)


def progress(run):
    return bootstrap_runs.summary(run)


def stored(source=None):
    return {(row.source, row.entity_id) for row in workspace_entities(WORKSPACE, source)}


def test_pages_through_every_listing_and_expands_dependents(install, work, fake_clockify):
    expected = seed_workspace(fake_clockify)
    install()
    run = run_bootstrap(work)

    assert run.status == "completed", run.errors
    counts = workspace_data.counts(WORKSPACE)
    for source, count in expected.items():
        assert counts[source] == count, source
    # 14 workspace-level listings, a task listing per project, a time-entry listing per user.
    assert run.operations_total == progress(run).operations_done == BASE_OPERATIONS + 7 + 2
    assert progress(run).items_stored == sum(counts.values())
    body = status_body(run)
    assert body["started_at"].endswith("+00:00") and body["finished_at"].endswith("+00:00")

    project_pages = fake_clockify.requests(path_glob="*/workspaces/ws1/projects")
    assert [r.param("page") for r in project_pages] == ["1", "2", "3"]
    assert {r.param("page-size") for r in project_pages} == {"3"}
    assert fake_clockify.requests(path_glob="*/users")[0].param("include-roles") == "true"
    assert len(fake_clockify.requests(path_glob="*/projects/p0/tasks")) == 2
    entries = fake_clockify.requests(path_glob="*/user/u1/time-entries")
    assert [r.param("page") for r in entries] == ["1", "2"]
    assert entries[0].param("start") < entries[0].param("end")
    assert all(r.headers.get("x-addon-token") for r in fake_clockify.requests())


def test_spec_maximum_lowers_the_page_size(install, work, fake_clockify):
    install()
    run_bootstrap(work)
    policies = fake_clockify.requests(path_glob="*/time-off/policies")[0]
    assert policies.param("page-size") == "3"  # the setting (3) is below the spec's maximum (200)
    assert bootstrap_operations.operation_by_id("findPoliciesForWorkspace").page_size(500) == 200


def test_short_page_ends_a_listing_without_last_page_header(install, work, fake_clockify):
    fake_clockify.last_page_header = False
    fake_clockify.seed(WORKSPACE, "projects", [{"id": f"p{i}"} for i in range(6)])
    fake_clockify.seed(WORKSPACE, "tags", [{"id": f"t{i}"} for i in range(4)])
    install()
    run = run_bootstrap(work)
    assert run.status == "completed"
    # 6 projects in pages of 3: two full pages and an empty third; 4 tags: a full page, a short one.
    assert [r.param("page") for r in fake_clockify.requests(path_glob="*/workspaces/ws1/projects")] == ["1", "2", "3"]
    assert [r.param("page") for r in fake_clockify.requests(path_glob="*/tags")] == ["1", "2"]
    assert workspace_data.counts(WORKSPACE)["projects"] == 6


def test_last_page_header_wins_over_a_short_page(install, work, fake_clockify):
    fake_clockify.seed(WORKSPACE, "tags", [{"id": "t1"}, {"id": "t2"}, {"id": "t3"}, {"id": "t4"}])
    # A short first page that says more follow, then a full page that says it is the last.
    fake_clockify.inject("*/tags", Fault.status(200, body=[{"id": "t0"}], headers={"Last-Page": "false"}))
    fake_clockify.inject("*/tags", Fault.status(200, body=[{"id": "t4"}, {"id": "t5"}, {"id": "t6"}],
                                                headers={"Last-Page": "true"}))
    install()
    run = run_bootstrap(work)
    assert run.status == "completed"
    assert [r.param("page") for r in fake_clockify.requests(path_glob="*/tags")] == ["1", "2"]
    assert {e for _, e in stored("tags")} == {"t0", "t4", "t5", "t6"}


def test_second_run_adds_no_duplicates_and_removes_what_disappeared(install, work, fake_clockify):
    seed_workspace(fake_clockify)
    install()
    first = run_bootstrap(work)
    old_entry = ("time-entries", "old-entry")
    workspace_data.upsert(WORKSPACE, "time-entries", [("old-entry", {"timeInterval": {"start": recent(400)}})])
    db.session.commit()

    fake_clockify.seed(WORKSPACE, "projects", [{"id": f"p{i}"} for i in range(6)])  # p6 deleted
    fake_clockify.seed_tasks(WORKSPACE, "p0", [{"id": "p0-t0"}])                    # three tasks deleted
    fake_clockify.seed_time_entries(WORKSPACE, "u0", [{"id": "u0-e0", "timeInterval": {"start": recent()}}])
    fake_clockify.seed(WORKSPACE, "clients", [{"id": "c1"}, {"id": "c2"}])         # one added
    second = run_bootstrap(work)

    assert second.status == "completed"
    assert ("projects", "p6") not in stored() and ("clients", "c2") in stored()
    assert {e for _, e in stored("tasks")} == {"p0-t0", "p1-t0", "p1-t1", "p1-t2", "p1-t3"}
    assert {e for _, e in stored("time-entries")} == {"u0-e0", "u1-e0", "u1-e1", "u1-e2", "u1-e3", "u1-e4",
                                                      "old-entry"}
    assert old_entry in stored()  # outside the 30-day window: not listed, so not removed
    rows = db.session.execute(db.select(WorkspaceData.source, WorkspaceData.entity_id)).all()
    assert len(rows) == len(set(rows))
    # Every source was listed in full again: the first run's checkpoints are gone.
    assert bootstrap_runs.checkpoints(first.id) == {} and bootstrap_runs.checkpoints(second.id)


def test_dependents_of_parents_that_all_disappeared_are_removed(install, work, fake_clockify):
    seed_workspace(fake_clockify)
    install()
    run_bootstrap(work)
    assert workspace_data.counts(WORKSPACE)["tasks"] == 8
    fake_clockify.seed(WORKSPACE, "projects", [])
    fake_clockify.seed(WORKSPACE, "users", [])
    assert run_bootstrap(work).status == "completed"
    counts = workspace_data.counts(WORKSPACE)
    assert "tasks" not in counts and "time-entries" not in counts and "projects" not in counts


def test_429_retry_after_is_honoured(install, work, fake_clockify):
    fake_clockify.inject("*/workspaces/ws1/clients", Fault.rate_limited("1"))
    install()
    run = run_bootstrap(work)
    assert run.status == "completed" and progress(run).errors == []
    first, second = fake_clockify.requests(path_glob="*/workspaces/ws1/clients")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95


def test_5xx_is_retried_then_succeeds(install, work, fake_clockify):
    fake_clockify.seed(WORKSPACE, "clients", [{"id": "c1"}])
    fake_clockify.inject("*/workspaces/ws1/clients", Fault.status(500), Fault.status(503))
    install()
    run = run_bootstrap(work)
    assert run.status == "completed" and progress(run).errors == []
    assert [r.status for r in fake_clockify.requests(path_glob="*/workspaces/ws1/clients")] == [500, 503, 200]
    assert ("clients", "c1") in stored()


def test_4xx_is_recorded_and_never_fetched_again(install, work, fake_clockify):
    fake_clockify.seed(WORKSPACE, "clients", [{"id": "c1"}])
    fake_clockify.inject("*/expenses", Fault.status(403, body={"message": "Missing EXPENSE_READ", "code": 403}))
    install()
    run = run_bootstrap(work)
    assert run.status == "completed"
    assert progress(run).errors == [{"operation": "getExpenses", "status": 403, "message": "Missing EXPENSE_READ"}]
    assert len(fake_clockify.requests(path_glob="*/workspaces/ws1/expenses")) == 1
    assert ("clients", "c1") in stored()
    assert progress(run).operations_done == run.operations_total


def test_failed_parent_listing_skips_its_dependents(install, work, fake_clockify):
    seed_workspace(fake_clockify)
    fake_clockify.inject("*/workspaces/ws1/projects", Fault.status(404))
    install()
    run = run_bootstrap(work)
    assert run.status == "completed"
    assert fake_clockify.requests(path_glob="*/tasks") == []
    assert workspace_data.counts(WORKSPACE)["time-entries"] == 10


def test_refused_api_host_fails_the_run_without_a_request(install, work, fake_clockify):
    install(api_url="http://169.254.169.254/api")
    run = run_bootstrap(work)
    assert run.status == "failed"
    assert run.errors[0]["status"] == "host_not_allowed"
    assert fake_clockify.requests() == []


def test_one_bootstrap_per_workspace_at_a_time(install, fake_clockify):
    install()
    first, created = schedule.request_bootstrap(WORKSPACE, "install")
    again, created_again = schedule.request_bootstrap(WORKSPACE, "manual")
    assert created and not created_again and again.id == first.id


WAIT_SECONDS = 30


def _wait_for(condition) -> None:
    # Bounded: a run that ends before the condition holds fails the test instead of hanging it.
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_deleted_installation_cancels_the_run(install, work, fake_clockify):
    fake_clockify.latency = 0.05
    seed_workspace(fake_clockify, projects=120)  # several seconds of listings at 45 requests/s
    installation = install()
    flipped = threading.Event()

    def uninstall_midway(app):
        _wait_for(lambda: len(fake_clockify.requests()) >= 5)
        with app.app_context():
            row = db.session.get(Installation, installation.id)
            row.status = "DELETED"
            db.session.commit()
        flipped.set()

    from flask import current_app

    thread = threading.Thread(target=uninstall_midway, args=(current_app._get_current_object(),))
    thread.start()
    run = run_bootstrap(work)
    thread.join(timeout=WAIT_SECONDS + 5)
    assert flipped.is_set()
    assert run.status == "cancelled"
    assert progress(run).operations_done < run.operations_total


def test_a_slice_ends_so_higher_priority_jobs_run_first(install, work, fake_clockify):
    fake_clockify.latency = 0.05
    seed_workspace(fake_clockify, projects=20)
    install()
    run = bootstrap_runs.create(WORKSPACE, "manual")
    db.session.commit()
    schedule.enqueue_bootstrap_slice(WORKSPACE, run.id, "s0", slice_seconds=0.3)

    def enqueue_marker(app):
        _wait_for(fake_clockify.requests)
        with app.app_context():
            enqueue("high", "time.sleep", 0, job_id="marker")

    from flask import current_app

    thread = threading.Thread(target=enqueue_marker, args=(current_app._get_current_object(),))
    thread.start()
    work()
    thread.join(timeout=WAIT_SECONDS + 5)
    from rq.job import Job

    marker = Job.fetch("marker", connection=get_redis())
    finished = bootstrap_runs.get(run.id)
    assert finished.status == "completed"
    assert marker.ended_at.timestamp() < finished.finished_at.timestamp()
    # The first slice handed over to a continuation, queued behind the marker.
    continuation = Job.fetch(schedule.bootstrap_slice_job_id(WORKSPACE, run.id, "s1"), connection=get_redis())
    assert continuation.args == (WORKSPACE, run.id, "s1", 0.3)
    assert marker.ended_at <= continuation.started_at


def test_failure_callback_records_the_error_and_fails_on_the_last_attempt(install, fake_clockify):
    install()
    run, _ = schedule.request_bootstrap(WORKSPACE, "install")
    from rq.job import Job

    job = Job.fetch(run.rq_job_id, connection=get_redis())
    bootstrap.record_job_failure(job, get_redis(), RuntimeError, RuntimeError("database went away"), None)
    assert bootstrap_runs.get(run.id).status == "pending"
    job.retries_left = 0
    bootstrap.record_job_failure(job, get_redis(), RuntimeError, RuntimeError("database went away"), None)
    failed = bootstrap_runs.get(run.id)
    assert failed.status == "failed"
    assert failed.errors[0] == {"operation": "bootstrap", "status": "job_failed",
                                "message": "RuntimeError: database went away"}


def abandon(run_id, seconds_ago=60, **values):
    """Leave run ``run_id`` as a SIGKILLed job does: no heartbeat for ``seconds_ago``."""
    run = bootstrap_runs.get(run_id)
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    run.heartbeat_at = run.created_at = moment
    for key, value in values.items():
        setattr(run, key, value)
    db.session.commit()


def test_sweep_resumes_a_run_nobody_works_on(install, work, fake_clockify):
    seed_workspace(fake_clockify)
    install()
    run = bootstrap_runs.create(WORKSPACE, "install")
    bootstrap_runs.start(run.id, BASE_OPERATIONS, {"start": recent(30), "end": recent(0)})
    # As a SIGKILLed job leaves it: running, projects half done, no heartbeat, no queued job.
    bootstrap_runs.save_checkpoint(run.id, WORKSPACE, "getProjects", "projects",
                                   Checkpoint(2, 3, CheckpointState.RUNNING))
    db.session.commit()
    abandon(run.id)

    assert bootstrap.resume_unattended() == 1
    assert bootstrap.resume_unattended() == 0  # its resume job is queued
    work()
    finished = bootstrap_runs.get(run.id)
    assert finished.status == "completed" and finished.resumes == 1
    assert [r.param("page") for r in fake_clockify.requests(path_glob="*/workspaces/ws1/projects")] == ["2", "3"]


def test_sweep_leaves_runs_with_a_live_heartbeat_alone(install, fake_clockify):
    install()
    run = bootstrap_runs.create(WORKSPACE, "install")
    bootstrap_runs.start(run.id, BASE_OPERATIONS, {"start": recent(30), "end": recent(0)})
    db.session.commit()
    assert bootstrap.resume_unattended() == 0
    abandon(run.id, seconds_ago=bootstrap.STALE_SECONDS - 5)
    assert bootstrap.resume_unattended() == 0


def test_sweep_gives_up_after_repeated_losses(install, fake_clockify):
    install()
    run = bootstrap_runs.create(WORKSPACE, "install")
    db.session.commit()
    abandon(run.id, resumes=bootstrap.MAX_RESUMES)
    assert bootstrap.resume_unattended() == 0
    failed = bootstrap_runs.get(run.id)
    assert failed.status == "failed" and failed.errors[0]["status"] == "abandoned"


def test_sweep_cancels_runs_of_inactive_installations(install, fake_clockify):
    install(status="INACTIVE")
    run = bootstrap_runs.create(WORKSPACE, "install")
    db.session.commit()
    abandon(run.id)
    bootstrap.resume_unattended()
    assert bootstrap_runs.get(run.id).status == BootstrapRunStatus.CANCELLED


def test_run_now_bootstraps_in_this_process(install, fake_clockify):
    expected = seed_workspace(fake_clockify)
    install()
    run = bootstrap.run_now(WORKSPACE)
    assert run.status == "completed" and run.request_id
    assert workspace_data.counts(WORKSPACE)["time-entries"] == expected["time-entries"]


def test_cli_runs_a_bootstrap_here_or_queues_it(jobs_app, install, fake_clockify):
    import json

    seed_workspace(fake_clockify)
    install()
    result = jobs_app.test_cli_runner().invoke(args=["bootstrap", "run", WORKSPACE])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "completed"

    queued = jobs_app.test_cli_runner().invoke(args=["bootstrap", "run", WORKSPACE, "--enqueue"])
    assert json.loads(queued.output)["status"] == "pending"
    assert bootstrap_runs.active(WORKSPACE) is not None
