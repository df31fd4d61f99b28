"""A throttled workspace never holds a worker, the request id of the trigger reaches every
outbound call, and the periodic refresh lists what no subscribed event keeps fresh."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from conftest import WORKSPACE, seed_workspace
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from addon.clockify.manifest import selected_events
from addon.extensions import db
from addon.jobs import bootstrap, schedule
from addon.jobs.bootstrap_plan import all_sources
from addon.jobs.bootstrap_slice import thread_count
from addon.logs import ContextFilter
from addon.models import BootstrapRunStatus
from addon.queueing import BOOTSTRAP, get_queue, get_redis
from addon.request_context import bind
from addon.store import bootstrap_runs, workspace_data
from addon.testkit.fake_clockify import Fault
from addon.web.bootstrap import status_body
from addon.webhook_handlers.workspace_data import KINDS, sources_kept_fresh

OTHER = "ws-other"


def start(workspace_id=WORKSPACE, request_id=None):
    bind(request_id, workspace_id)
    try:
        run, created = schedule.request_bootstrap(workspace_id, "install")
    finally:
        bind(None)
    assert created
    return run


@pytest.mark.parametrize("retry_after", ["3600", "120", "45"])
def test_a_long_retry_after_ends_the_slice_and_schedules_the_continuation(jobs_app, install, work, fake_clockify,
                                                                          retry_after):
    seed_workspace(fake_clockify)
    seed_workspace(fake_clockify, OTHER)
    fake_clockify.inject(f"*/workspaces/{WORKSPACE}/*", *[Fault.rate_limited(retry_after)] * 3)
    install()
    install(OTHER)
    throttled, other = start(), start(OTHER)

    began = datetime.now(UTC)
    work()  # returns: nothing sleeps out the Retry-After inside a job
    assert (datetime.now(UTC) - began).total_seconds() < 30

    assert bootstrap_runs.get(other.id).status == BootstrapRunStatus.COMPLETED
    waiting = bootstrap_runs.get(throttled.id)
    assert waiting.status == BootstrapRunStatus.WAITING
    body = status_body(waiting)
    resume_at = datetime.fromisoformat(body["resume_at"])
    assert body["status"] == "waiting"
    assert abs((resume_at - began).total_seconds() - float(retry_after)) < 15
    # Past the requests already given a slot, nothing more for that workspace: the limiter keeps
    # the whole penalty.
    sent = fake_clockify.requests(path_glob=f"*/workspaces/{WORKSPACE}/*")
    first_429 = next(r for r in sent if r.status == 429)
    assert all(r.at - first_429.at < 1.0 for r in sent)
    assert len(sent) <= thread_count(jobs_app.config["SETTINGS"].rate_limit_rps) + 1
    registry = ScheduledJobRegistry(queue=get_queue(BOOTSTRAP))
    [job_id] = registry.get_job_ids()
    assert job_id == waiting.rq_job_id
    due = registry.get_scheduled_time(Job.fetch(job_id, connection=get_redis()))
    assert abs((due - resume_at).total_seconds()) < 2
    assert bootstrap.resume_unattended() == 0  # scheduled, not lost


def test_the_continuation_of_a_waiting_run_completes_it(install, work, fake_clockify):
    expected = seed_workspace(fake_clockify)
    fake_clockify.inject(f"*/workspaces/{WORKSPACE}/clients", Fault.rate_limited("40"))
    install()
    run = start()
    work()
    assert bootstrap_runs.get(run.id).status == BootstrapRunStatus.WAITING
    get_redis().delete(f"addon:ratelimit:{WORKSPACE}")  # the hour has passed
    job = Job.fetch(bootstrap_runs.get(run.id).rq_job_id, connection=get_redis())
    get_queue(BOOTSTRAP).enqueue_job(job)  # as RQ's scheduler does when it is due
    work()
    finished = bootstrap_runs.get(run.id)
    assert finished.status == BootstrapRunStatus.COMPLETED and finished.resume_at is None
    assert workspace_data.counts(WORKSPACE)["clients"] == expected["clients"]


def test_every_outbound_call_and_log_line_of_a_run_carries_the_request_id_of_its_trigger(
        install, work, fake_clockify, caplog):
    fake_clockify.latency = 0.02
    seed_workspace(fake_clockify, projects=12)
    fake_clockify.inject(f"*/workspaces/{WORKSPACE}/tags", Fault.status(503))  # a warning from a pool thread
    install()
    run = start(request_id="trace-bootstrap-1")
    # Several slices: the continuations carry the id too.
    schedule.enqueue_bootstrap_slice(WORKSPACE, run.id, "s0", slice_seconds=0.3)
    caplog.handler.addFilter(ContextFilter())
    with caplog.at_level(logging.INFO):
        work()
    assert bootstrap_runs.get(run.id).status == BootstrapRunStatus.COMPLETED
    sent = fake_clockify.requests()
    assert len(sent) > 20
    assert {r.headers.get("x-request-id") for r in sent} == {"trace-bootstrap-1"}
    threads = [r for r in caplog.records if r.name.startswith("addon.") and r.threadName.startswith("bootstrap-")]
    assert any(r.name == "addon.clockify.client" for r in threads)
    assert {r.request_id for r in threads} == {"trace-bootstrap-1"}


def test_a_resumed_run_keeps_the_request_id(install, work, fake_clockify):
    seed_workspace(fake_clockify)
    install()
    run = start(request_id="trace-resumed")
    get_queue(BOOTSTRAP).empty()  # the job is lost
    stale = bootstrap_runs.get(run.id)
    stale.created_at = datetime.now(UTC) - timedelta(minutes=5)
    db.session.commit()
    assert bootstrap.resume_unattended() == 1
    work()
    assert bootstrap_runs.get(run.id).status == BootstrapRunStatus.COMPLETED
    assert {r.headers.get("x-request-id") for r in fake_clockify.requests()} == {"trace-resumed"}


def test_refresh_lists_the_collections_no_subscribed_event_keeps_fresh(jobs_app, install, work, fake_clockify):
    seed_workspace(fake_clockify)
    install()
    first = start()
    work()
    assert bootstrap.schedule_refreshes() == 0  # ran a moment ago
    old = bootstrap_runs.get(first.id)
    old.created_at = datetime.now(UTC) - timedelta(hours=25)
    db.session.commit()
    get_redis().delete(bootstrap.REFRESH_CHECK_KEY)
    fake_clockify.seed(WORKSPACE, "clients", [{"id": "c1"}, {"id": "c9"}])

    assert bootstrap.schedule_refreshes() == 1
    refresh = bootstrap_runs.active(WORKSPACE)
    assert refresh.trigger == "refresh" and refresh.sources == bootstrap.refresh_sources()
    work()
    assert bootstrap_runs.get(refresh.id).status == BootstrapRunStatus.COMPLETED
    assert workspace_data.counts(WORKSPACE)["clients"] == 2
    get_redis().delete(bootstrap.REFRESH_CHECK_KEY)
    assert bootstrap.schedule_refreshes() == 0  # fresh again


@pytest.mark.parametrize("events, kept", [
    ((), set()),
    (("NEW_PROJECT", "PROJECT_UPDATED"), set()),
    (("NEW_PROJECT", "PROJECT_UPDATED", "PROJECT_DELETED"), {"projects"}),
    (("NEW_TAG", "TAG_UPDATED", "TAG_DELETED", "NEW_CLIENT", "CLIENT_DELETED"), {"tags"}),
    (tuple(e for kind in KINDS for e in kind.upsert_events + kind.delete_events), {k.source for k in KINDS}),
])
def test_a_collection_is_kept_fresh_by_events_only_when_all_its_events_are_subscribed(events, kept):
    assert set(sources_kept_fresh(events)) == kept


def test_schema_1_3_subscription_leaves_every_collection_to_the_refresh(jobs_app):
    events = selected_events(jobs_app.config["SETTINGS"])
    assert len(events) == 22
    assert sources_kept_fresh(events) == {}
    with jobs_app.app_context():
        assert bootstrap.refresh_sources() == all_sources()


def test_refresh_is_off_with_zero_hours(jobs_overrides):
    from addon import create_app

    app = create_app({**jobs_overrides, "BOOTSTRAP_REFRESH_HOURS": "0"})
    with app.app_context():
        assert app.config["SETTINGS"].bootstrap_refresh_hours == 0
        assert bootstrap.schedule_refreshes() == 0
