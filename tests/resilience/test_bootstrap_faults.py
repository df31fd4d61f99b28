"""The bootstrap on real ``python worker.py`` processes against the fake Clockify, when things go
wrong: a worker SIGKILLed in the middle (the other worker finishes), Clockify answering 429
storms, 5xx bursts, dropped connections and answers slower than the read timeout (the jobs back
off and finish), and a workspace throttled for an hour (its run waits, the only worker serves
the other workspaces meanwhile). Either way the data ends complete, without duplicates, and no one-second window
holds more of the workspace's requests than its budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import Worker

from addon.extensions import db
from addon.models import BootstrapRun, WebhookEvent, WorkspaceData
from addon.store import workspace_data
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.fake_clockify import Fault
from addon.testkit.fault_stack import wait_until
from addon.testkit.webhooks import entity_payload

pytestmark = pytest.mark.resilience

WS, ADDON = "ws-bootstrap-faults", "addon-bootstrap-faults"
RATE = 10  # RATE_LIMIT_RPS of the workers: small, so the budget is what paces the run
WORKER_SETTINGS = {"BOOTSTRAP_PAGE_SIZE": "3", "RATE_LIMIT_RPS": str(RATE), "CLOCKIFY_READ_TIMEOUT": "1",
                   "WEBHOOK_REQUEST_MAX_RETRIES": "6"}


def seed_workspace(fake, workspace_id: str = WS) -> dict[str, int]:
    """A workspace of a few dozen pages (page size 3); returns the entity count per source."""
    start = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    projects = [{"id": f"p{i}", "name": f"Project {i}"} for i in range(15)]
    users = [{"id": f"u{i}", "name": f"User {i}"} for i in range(3)]
    fake.seed(workspace_id, "", {"id": workspace_id, "name": "Faulty Inc"})
    fake.seed(workspace_id, "projects", projects)
    fake.seed(workspace_id, "users", users)
    fake.seed(workspace_id, "clients", [{"id": f"c{i}", "name": f"Client {i}"} for i in range(4)])
    fake.seed(workspace_id, "tags", [{"id": f"t{i}", "name": f"Tag {i}"} for i in range(7)])
    for project in projects[:3]:
        fake.seed_tasks(workspace_id, project["id"], [{"id": f"{project['id']}-task{j}"} for j in range(4)])
    for user in users:
        fake.seed_time_entries(workspace_id, user["id"],
                               [{"id": f"{user['id']}-e{j}", "timeInterval": {"start": start}} for j in range(5)])
    return {"workspaces": 1, "projects": 15, "users": 3, "clients": 4, "tags": 7, "tasks": 12, "time-entries": 15}


@pytest.fixture
def worker_variables(stack_env, base_overrides) -> dict:
    """Workers on the tests' Redis (the app enqueues there) with a small page size and budget."""
    return {**stack_env, "REDIS_URL": base_overrides["REDIS_URL"], **WORKER_SETTINGS}


@pytest.fixture
def kit(app, signer, fake_clockify) -> ClockifySimulator:
    return ClockifySimulator(signer, FlaskTransport(app.test_client()), api_url=fake_clockify.api_url)


@pytest.fixture
def start_bootstrap(app, kit):
    """Install a workspace as Clockify would (INSTALLED, auto bootstrap on): the bootstrap job
    is enqueued for the worker processes. Returns the run's id and the call's request id."""

    def start(workspace_id: str = WS, addon_id: str = ADDON) -> tuple[int, str]:
        installed = kit.install(workspace_id, addon_id, settings={"auto_bootstrap": True})
        assert installed.reply.status_code == 200, installed.reply.body
        assert installed.reply.json()["jobs"]["bootstrap"] == "queued"
        with app.app_context():
            run_id = db.session.execute(db.select(BootstrapRun.id).filter_by(workspace_id=workspace_id)).scalar_one()
            db.session.remove()
        return run_id, installed.reply.headers["X-Request-ID"]

    return start


def _run(app, run_id: int) -> BootstrapRun:
    with app.app_context():
        run = db.session.get(BootstrapRun, run_id)
        db.session.expunge_all()
        db.session.remove()
    return run


def _wait_finished(app, run_id: int, workers, timeout: float = 50) -> BootstrapRun:
    def finished():
        for worker in workers:
            assert worker.alive(), f"a worker died:\n{worker.log_tail()}"
        run = _run(app, run_id)
        return run if not run.active else None

    try:
        return wait_until(finished, timeout, interval=0.25, message="the bootstrap run finished")
    except TimeoutError:
        pytest.fail(f"bootstrap still {_run(app, run_id).status} after {timeout} s\n"
                    + "\n".join(w.log_tail(3000) for w in workers))


def _assert_complete_without_duplicates(app, expected: dict[str, int], workspace_id: str = WS) -> None:
    with app.app_context():
        counts = workspace_data.counts(workspace_id)
        rows = db.session.execute(db.select(WorkspaceData.source, WorkspaceData.entity_id)
                                  .filter_by(workspace_id=workspace_id)).all()
        db.session.remove()
    assert {source: counts.get(source, 0) for source in expected} == expected
    assert len(rows) == len(set(rows)), "an entity was stored twice"


def _assert_budget_kept(fake) -> None:
    busiest = fake.max_requests_per_window(1.0, workspace_id=WS)
    assert busiest <= RATE, f"{busiest} requests of the workspace within one second (budget {RATE})"


def _busy_bootstrap_worker(connection, started):
    """The started worker whose horse is running a bootstrap job right now, if any."""
    by_pid = {w.pid: w for w in started}
    for rq_worker in Worker.all(connection=connection):
        job = rq_worker.get_current_job()
        if job is not None and "bootstrap" in job.func_name and rq_worker.pid in by_pid:
            return by_pid[rq_worker.pid]
    return None


def test_a_sigkilled_worker_mid_bootstrap_leaves_the_run_to_the_other(app, pool, fake_clockify, worker_variables,
                                                                      start_bootstrap):
    fake_clockify.latency = 0.05
    expected = seed_workspace(fake_clockify)
    started = [pool.worker(worker_variables) for _ in range(2)]
    run_id, request_id = start_bootstrap()

    connection = redis.Redis.from_url(worker_variables["REDIS_URL"])
    wait_until(lambda: len(fake_clockify.requests()) >= 15, 30, message="the bootstrap under way")
    victim = wait_until(lambda: _busy_bootstrap_worker(connection, started), 20, interval=0.05,
                        message="a worker running a bootstrap job")
    victim.kill()  # worker, horse and scheduler at once: a lost dyno
    survivor = next(w for w in started if w is not victim)
    assert _run(app, run_id).status == "running"

    run = _wait_finished(app, run_id, [survivor])
    assert run.status == "completed", run.errors
    _assert_complete_without_duplicates(app, expected)
    _assert_budget_kept(fake_clockify)
    assert not victim.alive() and survivor.alive()
    # The resumed run still sends the id of the INSTALLED call that started it.
    assert {r.headers.get("x-request-id") for r in fake_clockify.requests()} == {request_id}


def test_429_storms_5xx_bursts_and_timeouts_are_outlasted_within_the_budget(app, pool, fake_clockify,
                                                                           worker_variables, start_bootstrap):
    fake_clockify.latency = 0.02
    expected = seed_workspace(fake_clockify)
    storm = [Fault.rate_limited("1")] * 4
    fake_clockify.inject(f"*/workspaces/{WS}/projects", *storm, method="GET")
    fake_clockify.inject(f"*/workspaces/{WS}/users", *storm, method="GET")
    fake_clockify.inject(f"*/workspaces/{WS}/clients", Fault.status(500), Fault.status(502), Fault.status(503),
                         Fault.status(504), method="GET")
    fake_clockify.inject(f"*/workspaces/{WS}/tags", Fault.slow(2.5), Fault.drop(), Fault.slow(2.5), method="GET")
    fake_clockify.inject(f"*/workspaces/{WS}/user/*/time-entries", Fault.status(503), Fault.drop(),
                         Fault.rate_limited("1"), method="GET")
    started = [pool.worker(worker_variables) for _ in range(2)]
    run_id, _ = start_bootstrap()

    run = _wait_finished(app, run_id, started)
    assert run.status == "completed", run.errors
    _assert_complete_without_duplicates(app, expected)
    _assert_budget_kept(fake_clockify)

    served = [r.status for r in fake_clockify.requests(path_glob=f"*/workspaces/{WS}/*")]
    assert served.count(429) >= 9 and sum(1 for s in served if s is not None and s >= 500) >= 5
    assert served.count(None) >= 2, "the dropped connections were not retried"
    tags = fake_clockify.requests(method="GET", path_glob=f"*/workspaces/{WS}/tags")
    assert len(tags) >= 4, "timed-out and dropped listings were not retried"
    # After a 429 with Retry-After: 1 the same request waits out the penalty before it is sent again.
    log = fake_clockify.requests(path_glob=f"*/workspaces/{WS}/*")
    for index, request in enumerate(log):
        if request.status == 429:
            again = next((r for r in log[index + 1:] if (r.path, r.query) == (request.path, request.query)), None)
            assert again is not None and again.at - request.at >= 0.9, (request.path, request.query)
    assert all(w.alive() for w in started)


def test_a_throttled_workspace_never_blocks_the_only_worker(app, pool, kit, fake_clockify, worker_variables,
                                                            start_bootstrap):
    throttled, other = "ws-throttled", "ws-served"
    fake_clockify.latency = 0.02
    seed_workspace(fake_clockify, throttled)
    expected = seed_workspace(fake_clockify, other)
    fake_clockify.inject(f"*/workspaces/{throttled}/*", *[Fault.rate_limited("3600")] * 30, method="GET")
    worker = pool.worker(worker_variables)

    throttled_run, _ = start_bootstrap(throttled, "addon-throttled")
    waiting = wait_until(lambda: (run := _run(app, throttled_run)).status == "waiting" and run, 20, interval=0.2,
                         message="the throttled run waiting")
    assert 3500 < (waiting.resume_at - datetime.now(UTC)).total_seconds() <= 3600

    began = datetime.now(UTC)
    other_run, _ = start_bootstrap(other, "addon-served")
    run = _wait_finished(app, other_run, [worker], timeout=40)
    assert run.status == "completed", run.errors
    _assert_complete_without_duplicates(app, expected, other)
    for i in range(5):
        reply = kit.send_webhook("NEW_PROJECT", entity_payload(other, f"late-{i}"), workspace_id=other)
        assert reply.status_code == 200
    wait_until(lambda: _processed(app, other) == 5, 20, interval=0.2, message="the served workspace's webhooks")
    assert (datetime.now(UTC) - began).total_seconds() < 60
    assert _run(app, throttled_run).status == "waiting" and worker.alive()
    throttled_requests = fake_clockify.requests(path_glob=f"*/workspaces/{throttled}/*")
    assert throttled_requests and {r.status for r in throttled_requests} == {429}


def _processed(app, workspace_id: str) -> int:
    with app.app_context():
        count = db.session.execute(db.select(db.func.count()).select_from(WebhookEvent).filter_by(
            workspace_id=workspace_id, status="processed")).scalar_one()
        db.session.remove()
    return count
