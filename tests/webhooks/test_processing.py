"""The processing job, run by a real RQ worker: built-in handlers, retries, failures, metrics."""

import json

import pytest
from rq.job import Job
from rq.registry import FailedJobRegistry

from addon.extensions import db
from addon.jobs.webhook_processing import process_event
from addon.models import Installation, WorkspaceData
from addon.queueing import get_queue
from addon.store import webhook_events
from addon.testkit.webhooks import entity_payload
from addon.webhook_handlers import Skipped, registry


@pytest.fixture
def handler():
    """Register test handlers with ``handler("EVENT")(func)``; they are removed afterwards."""
    added = []

    def _register(*events):
        def decorate(func):
            added.append(registry.on(*events)(func))
            return func
        return decorate

    yield _register
    for func in added:
        registry.remove(func)


def _cache(app, workspace_id, source=None) -> dict[str, dict]:
    with app.app_context():
        query = db.select(WorkspaceData).where(WorkspaceData.workspace_id == workspace_id)
        if source is not None:
            query = query.where(WorkspaceData.source == source)
        rows = {f"{r.source}/{r.entity_id}": r.data for r in db.session.execute(query).scalars()}
        db.session.remove()
    return rows


KIND_EVENTS = [
    ("projects", "NEW_PROJECT", "PROJECT_UPDATED", "PROJECT_DELETED"),
    ("clients", "NEW_CLIENT", "CLIENT_UPDATED", "CLIENT_DELETED"),
    ("tags", "NEW_TAG", "TAG_UPDATED", "TAG_DELETED"),
    ("tasks", "NEW_TASK", "TASK_UPDATED", "TASK_DELETED"),
    ("time-entries", "NEW_TIME_ENTRY", "TIME_ENTRY_UPDATED", "TIME_ENTRY_DELETED"),
    ("users", "USER_JOINED_WORKSPACE", "USER_UPDATED", "USER_DELETED_FROM_WORKSPACE"),
    ("expenses", "EXPENSE_CREATED", "EXPENSE_UPDATED", "EXPENSE_DELETED"),
]


@pytest.mark.parametrize("source, created, updated, deleted", KIND_EVENTS)
def test_builtin_handlers_keep_workspace_data_fresh(source, created, updated, deleted, app, workspace, deliver,
                                                   run_jobs, stored_events):
    ws = workspace.workspace_id
    assert deliver(workspace, created, entity_payload(ws, "e1", name="first")).status_code == 200
    run_jobs()
    assert _cache(app, ws) == {f"{source}/e1": entity_payload(ws, "e1", name="first")}

    deliver(workspace, updated, entity_payload(ws, "e1", name="second"))
    run_jobs()
    assert _cache(app, ws)[f"{source}/e1"]["name"] == "second"

    deliver(workspace, deleted, entity_payload(ws, "e1", name="second"))
    run_jobs()
    assert _cache(app, ws) == {}
    assert [r.status for r in stored_events()] == ["processed"] * 3
    assert all(r.attempts == 1 and r.processed_at is not None and r.last_error is None for r in stored_events())


def test_wrapped_and_listed_entities_are_found(app, workspace, deliver, run_jobs):
    ws = workspace.workspace_id
    deliver(workspace, "TIMER_STOPPED", {"workspaceId": ws, "timeEntry": entity_payload(ws, "te-9")})
    deliver(workspace, "USERS_INVITED_TO_WORKSPACE", [entity_payload(ws, "u1"), entity_payload(ws, "u2")])
    deliver(workspace, "TIME_ENTRY_SPLIT", {"workspaceId": ws, "timeEntries": [entity_payload(ws, "te-10"),
                                                                                 entity_payload(ws, "te-11")]})
    run_jobs()
    assert set(_cache(app, ws)) == {"time-entries/te-9", "users/u1", "users/u2", "time-entries/te-10",
                                    "time-entries/te-11"}


@pytest.mark.parametrize("payload", [{"workspaceId": "ws-alpha"}, "just a string", [1, 2], {"id": {"nested": 1}},
                                     {"id": ""}, {"project": "p1"}, None, True])
def test_unexpected_shapes_are_skipped_and_recorded(payload, app, workspace, deliver, run_jobs, stored_events):
    assert deliver(workspace, "NEW_PROJECT", body=json.dumps(payload).encode()).status_code == 200
    run_jobs()
    [row] = stored_events()
    assert row.status == "processed"
    assert "skipped" in row.last_error and "projects" in row.last_error
    assert _cache(app, workspace.workspace_id) == {}


def test_handler_exception_is_retried_then_recorded_as_failed(app, workspace, deliver, run_jobs, release_retries,
                                                             stored_events, handler, rq_connection):
    calls = []

    @handler("NEW_PROJECT")
    def explode(event):
        calls.append(event.attempt)
        raise RuntimeError("boom in handler")

    response = deliver(workspace, "NEW_PROJECT", entity_payload(workspace.workspace_id, "p-fail"))
    assert response.status_code == 200 and response.get_json()["status"] == "accepted"

    run_jobs()
    [row] = stored_events()
    assert (row.status, row.attempts) == ("retrying", 1)
    assert "RuntimeError: boom in handler" in row.last_error and "explode" in row.last_error
    # The built-in handler ran in its own savepoint and kept its write.
    assert "projects/p-fail" in _cache(app, workspace.workspace_id)

    while release_retries():
        run_jobs()
    [row] = stored_events()
    assert (row.status, row.attempts) == ("failed", 5)
    assert calls == [1, 2, 3, 4, 5]
    assert row.processed_at is not None
    job_id = f"webhook-event-{row.id}"
    assert job_id in FailedJobRegistry(queue=get_queue("high", rq_connection)).get_job_ids()
    assert Job.fetch(job_id, connection=rq_connection).get_status() == "failed"


def test_handler_that_recovers_on_retry_ends_processed(workspace, deliver, run_jobs, release_retries,
                                                       stored_events, handler):
    @handler("NEW_CLIENT")
    def flaky(event):
        if event.attempt == 1:
            raise ConnectionError("temporary")

    deliver(workspace, "NEW_CLIENT")
    run_jobs()
    assert stored_events()[0].status == "retrying"
    release_retries()
    run_jobs()
    [row] = stored_events()
    assert (row.status, row.attempts, row.last_error) == ("processed", 2, None)


def test_failing_handler_writes_are_rolled_back_alone(app, workspace, deliver, run_jobs, handler):
    from addon.store import workspace_data

    @handler("NEW_TAG")
    def half_done(event):
        workspace_data.upsert(event.workspace_id, "notes", [("half", {"partial": True})])
        raise ValueError("after a write")

    deliver(workspace, "NEW_TAG", entity_payload(workspace.workspace_id, "tag-1"))
    run_jobs()
    assert set(_cache(app, workspace.workspace_id)) == {"tags/tag-1"}


def test_skipped_from_a_user_handler_is_a_note(workspace, deliver, run_jobs, stored_events, handler):
    @handler("ASSIGNMENT_CREATED")
    def picky(event):
        raise Skipped("not interested")

    deliver(workspace, "ASSIGNMENT_CREATED")
    run_jobs()
    [row] = stored_events()
    assert row.status == "processed" and "not interested" in row.last_error


def test_wildcard_handler_sees_unknown_events(workspace, deliver, run_jobs, stored_events, handler):
    seen = []

    @handler("*")
    def everything(event):
        seen.append((event.event_type, event.known, event.workspace_id, event.payload["id"]))

    deliver(workspace, "FUTURE_EVENT", entity_payload(workspace.workspace_id, "f1"), category="generic",
            token=workspace.tokens["generic"])
    run_jobs()
    assert seen == [("FUTURE_EVENT", False, workspace.workspace_id, "f1")]
    assert stored_events()[0].status == "processed"


@pytest.mark.parametrize(("status", "expected"), [("ACTIVE", "processed"), ("INACTIVE", "processed"),
                                                  ("DELETED", "skipped")])
def test_an_acknowledged_event_is_processed_unless_the_add_on_was_uninstalled(
        app, workspace, deliver, run_jobs, stored_events, status, expected):
    # Deliveries are refused while inactive, so a stored one was acknowledged while active; an
    # inactive installation keeps its data, which the event brings up to date.
    assert deliver(workspace, "NEW_PROJECT", entity_payload(workspace.workspace_id, "late")).status_code == 200
    with app.app_context():
        db.session.execute(db.update(Installation).values(status=status))
        db.session.commit()
    run_jobs()
    [row] = stored_events()
    assert row.status == expected
    if expected == "skipped":
        assert "uninstalled" in row.last_error and _cache(app, workspace.workspace_id) == {}
    else:
        assert list(_cache(app, workspace.workspace_id)) == ["projects/late"]


def test_finished_events_are_not_processed_again(app, workspace, deliver, run_jobs, stored_events, handler):
    calls = []
    handler("NEW_PROJECT")(lambda event: calls.append(event.id))
    deliver(workspace, "NEW_PROJECT")
    run_jobs()
    [row] = stored_events()
    with app.app_context():
        assert process_event(row.id, workspace.workspace_id) == "processed"
    assert len(calls) == 1


def test_processing_records_duration_and_queue_lag(workspace, deliver, run_jobs, rq_connection):
    deliver(workspace, "NEW_PROJECT")
    run_jobs()
    def shared(name):
        return {k.decode(): float(v) for k, v in rq_connection.hgetall(f"addon:metrics:{name}").items()}

    processing, lag = shared("addon_webhook_processing_seconds"), shared("addon_webhook_queue_lag_seconds")
    assert processing[f"b|+Inf|{json.dumps(['NEW_PROJECT'])}"] == 1
    assert lag["b|+Inf|[]"] == 1 and lag["sum|[]"] >= 0


def test_process_event_is_scoped_to_its_workspace(app, install, deliver, stored_events, handler):
    calls = []
    handler("NEW_PROJECT")(lambda event: calls.append(event.id))
    alpha, beta = install("ws-a", "addon-a"), install("ws-b", "addon-b")
    deliver(alpha, "NEW_PROJECT", entity_payload("ws-a", "pa"))
    [row] = stored_events()
    with app.app_context():
        assert process_event(row.id, beta.workspace_id) == "missing"
        assert webhook_events.get(beta.workspace_id, row.id) is None
    assert calls == [] and stored_events()[0].status == "received"


def test_a_handler_timeout_stops_the_run_and_is_retried(workspace, deliver, run_jobs, stored_events, handler):
    from rq.timeouts import JobTimeoutException

    later = []

    @handler("NEW_TASK")
    def slow(event):
        raise JobTimeoutException("Task exceeded maximum timeout value (300 seconds)")

    @handler("NEW_TASK")
    def after(event):
        later.append(event.id)

    deliver(workspace, "NEW_TASK")
    run_jobs()
    [row] = stored_events()
    assert row.status == "retrying" and "slow: timed out" in row.last_error
    assert later == []
