"""Worker liveness and backlog (``addon.jobs_health``): ``/ready``'s ``jobs`` object and its 503
when work waits with no live worker beyond the grace period, naming the queue; the Prometheus
gauges; the once-a-minute warning; embedded mode counted as a live worker. Workers here are real
RQ workers registered in the test Redis (their birth and death as ``worker.py`` records them);
the resilience suite does the same with real processes."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from addon import jobs_health
from addon.extensions import db
from addon.models import WebhookEvent, utcnow
from addon.queueing import PRIORITY_ORDER, get_queue, get_redis
from addon.testkit.processes import UNREACHABLE_REDIS
from addon.workers import AppSimpleWorker, EmbeddedWorker


def _store_event(app, age_seconds: float, status: str = "received", n: int = 0) -> None:
    with app.app_context():
        db.session.add(WebhookEvent(workspace_id="ws-liveness", event_type="NEW_PROJECT", route="project",
                                    dedupe_key=f"liveness-{n}", payload="{}", headers={}, status=status,
                                    received_at=utcnow() - timedelta(seconds=age_seconds)))
        db.session.commit()
        db.session.remove()


class Registered:
    """A real RQ worker registered on ``queues`` (as ``worker.py`` is while it runs)."""

    def __init__(self, app, queues):
        with app.app_context():
            self.worker = AppSimpleWorker([get_queue(q) for q in queues], connection=get_redis(), app=app)
        self.worker.register_birth()

    def leave(self):
        self.worker.register_death()


def _ready(app):
    response = app.test_client().get("/ready")
    return response.status_code, response.get_json()


def test_nothing_waiting_and_no_worker_is_ready(make_app):
    status, body = _ready(make_app())
    assert status == 200 and body["checks"] == {"database": "ok", "redis": "ok", "workers": "ok"}
    assert body["jobs"] == {
        "queues": {name: {"workers": 0, "depth": 0, "waiting_without_worker_seconds": None} for name in PRIORITY_ORDER},
        "oldest_unprocessed_webhook_seconds": None, "worker_missing_grace_seconds": 120, "stalled": []}


def test_events_waiting_with_no_worker_within_the_grace_period_are_ready(make_app):
    app = make_app()
    _store_event(app, age_seconds=30)
    status, body = _ready(app)
    assert status == 200 and body["checks"]["workers"] == "ok"
    assert 29 <= body["jobs"]["oldest_unprocessed_webhook_seconds"] < 60
    assert 29 <= body["jobs"]["queues"]["high"]["waiting_without_worker_seconds"] < 60
    assert body["jobs"]["queues"]["default"]["waiting_without_worker_seconds"] is None


@pytest.mark.parametrize("status", ["processed", "retrying", "failed", "skipped"])
def test_only_received_events_count_as_unprocessed(make_app, status):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="10")
    _store_event(app, age_seconds=300, status=status)
    code, body = _ready(app)
    assert code == 200 and body["jobs"]["oldest_unprocessed_webhook_seconds"] is None


def test_events_waiting_with_no_worker_beyond_the_grace_period_turn_ready_to_503_naming_the_queue(make_app):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="60")
    _store_event(app, age_seconds=200, n=1)
    _store_event(app, age_seconds=90, n=2)
    status, body = _ready(app)
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"] == body["checks"]["redis"] == "ok"
    assert body["checks"]["workers"].startswith("unavailable: work waits with no live worker on queue high for 2")
    assert "scale worker=1" in body["checks"]["workers"]
    assert body["jobs"]["stalled"] == ["high"] and 199 <= body["jobs"]["oldest_unprocessed_webhook_seconds"] < 260


@pytest.mark.parametrize("queue", PRIORITY_ORDER)
def test_queued_jobs_with_no_worker_stall_their_queue(make_app, queue):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="0")
    with app.app_context():
        get_queue(queue).enqueue("addon.testkit.jobs.log_message", "waits")
    time.sleep(0.05)
    status, body = _ready(app)
    assert status == 503 and body["jobs"]["stalled"] == [queue]
    assert body["jobs"]["queues"][queue]["depth"] == 1 and f"queue {queue} for" in body["checks"]["workers"]


def test_a_live_worker_on_the_queue_keeps_ready_green(make_app):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="60")
    _store_event(app, age_seconds=600)
    worker = Registered(app, ["high"])
    try:
        status, body = _ready(app)
    finally:
        worker.leave()
    assert status == 200 and body["jobs"]["stalled"] == []
    assert body["jobs"]["queues"]["high"] == {"workers": 1, "depth": 0, "waiting_without_worker_seconds": None}
    assert body["jobs"]["queues"]["default"]["workers"] == 0


def test_a_worker_on_another_queue_does_not_serve_the_webhook_backlog(make_app):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="60")
    _store_event(app, age_seconds=600)
    worker = Registered(app, ["default", "bootstrap"])
    try:
        status, body = _ready(app)
    finally:
        worker.leave()
    assert status == 503 and body["jobs"]["stalled"] == ["high"]


def test_the_wait_counts_from_the_last_live_worker_not_from_the_oldest_event(make_app):
    """Events wait 10 minutes behind a slow worker that then stops: the grace period starts when
    the worker was last seen, not 10 minutes ago."""
    app = make_app(WORKER_MISSING_GRACE_SECONDS="1")
    _store_event(app, age_seconds=600)
    worker = Registered(app, ["high", "default", "bootstrap"])
    with app.app_context():
        assert jobs_health.snapshot(max_age=0).queues["high"].workers == 1
    worker.leave()
    with app.app_context():
        fresh = jobs_health.snapshot(max_age=0)
    assert fresh.queues["high"].workers == 0 and fresh.queues["high"].waiting_without_worker_seconds < 1
    assert fresh.stalled == ()
    time.sleep(1.2)
    with app.app_context():
        assert jobs_health.snapshot(max_age=0).stalled == ("high",)


def test_a_dead_workers_leftover_registration_does_not_count(make_app):
    """SIGKILL leaves the worker in RQ's registry; only its expired key says it is gone."""
    app = make_app(WORKER_MISSING_GRACE_SECONDS="0")
    _store_event(app, age_seconds=5)
    worker = Registered(app, ["high"])
    with app.app_context():
        get_redis().delete(worker.worker.key)  # what the key's TTL does to a dead worker's
    status, body = _ready(app)
    assert status == 503 and body["jobs"]["queues"]["high"]["workers"] == 0


def test_figures_are_cached_between_probes(make_app):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="60")
    assert _ready(app)[1]["jobs"]["oldest_unprocessed_webhook_seconds"] is None
    _store_event(app, age_seconds=500)
    status, body = _ready(app)  # within CACHE_SECONDS: the earlier figures, no new scan
    assert status == 200 and body["jobs"]["oldest_unprocessed_webhook_seconds"] is None
    with app.app_context():
        assert jobs_health.snapshot(max_age=0).stalled == ("high",)
    assert _ready(app)[0] == 503


def test_redis_down_leaves_worker_figures_unknown(make_app):
    status, body = _ready(make_app(REDIS_URL=UNREACHABLE_REDIS))
    assert status == 503 and body["checks"]["workers"].startswith("unavailable: cannot count workers (Redis: ")
    assert all(q == {"workers": None, "depth": None, "waiting_without_worker_seconds": None}
               for q in body["jobs"]["queues"].values())


def test_one_warning_a_minute_names_the_queue_and_the_fix(make_app, caplog):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="0")
    _store_event(app, age_seconds=45)
    with caplog.at_level(logging.WARNING, logger="addon.jobs_health"), app.app_context():
        for _ in range(3):
            assert jobs_health.snapshot(max_age=0).stalled == ("high",)
        ttl = get_redis().ttl(jobs_health.WARNED_KEY)
    warnings = [r.getMessage() for r in caplog.records if r.name == "addon.jobs_health"]
    assert len(warnings) == 1, warnings
    assert "no live worker on queue high" in warnings[0] and "heroku ps:scale worker=1" in warnings[0]
    assert "oldest unprocessed webhook event: 4" in warnings[0]
    assert 55 <= ttl <= 60


def test_no_warning_while_workers_serve(make_app, caplog):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="0")
    _store_event(app, age_seconds=45)
    worker = Registered(app, ["high"])
    try:
        with caplog.at_level(logging.WARNING, logger="addon.jobs_health"), app.app_context():
            jobs_health.snapshot(max_age=0)
    finally:
        worker.leave()
    assert [r for r in caplog.records if r.name == "addon.jobs_health"] == []


def test_the_watcher_thread_warns_without_any_probe(make_app, caplog):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="0")
    _store_event(app, age_seconds=10)
    watcher = jobs_health.JobsWatcher(app, interval=0.05)
    with caplog.at_level(logging.WARNING, logger="addon.jobs_health"):
        watcher.ensure_started()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(r.name == "addon.jobs_health" for r in caplog.records):
            time.sleep(0.05)
        watcher.stop(timeout=5)
    assert not watcher.is_alive()
    assert any("no live worker on queue high" in r.getMessage() for r in caplog.records)


def test_the_watcher_is_started_by_serving_outside_tests_only(make_app):
    assert jobs_health.JobsWatcher.EXTENSION_KEY not in make_app().extensions


def _gauges(text: str) -> dict[tuple, float]:
    names = {"addon_rq_workers", "addon_rq_queue_depth", "addon_webhook_oldest_unprocessed_seconds"}
    samples = [(s.name, tuple(sorted(s.labels.items())), s.value)
               for family in text_string_to_metric_families(text) for s in family.samples if s.name in names]
    keys = [(name, labels) for name, labels, _ in samples]
    assert len(keys) == len(set(keys)), "a gauge sample appears twice"
    return {(name, labels): value for name, labels, value in samples}


@pytest.mark.parametrize("multiprocess", [False, True], ids=["single-process", "multiprocess"])
def test_gauges_report_workers_depths_and_the_oldest_event_once_per_scrape(make_app, monkeypatch, tmp_path,
                                                                             multiprocess):
    if multiprocess:
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    else:
        monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = make_app()
    _store_event(app, age_seconds=42)
    with app.app_context():
        get_queue("bootstrap").enqueue("addon.testkit.jobs.log_message", "a")
        get_queue("bootstrap").enqueue("addon.testkit.jobs.log_message", "b")
    worker = Registered(app, ["high", "default"])
    try:
        gauges = _gauges(app.test_client().get("/metrics").get_data(as_text=True))
    finally:
        worker.leave()
    assert {k: v for k, v in gauges.items() if k[0] != "addon_webhook_oldest_unprocessed_seconds"} == {
        ("addon_rq_workers", (("queue", "high"),)): 1, ("addon_rq_workers", (("queue", "default"),)): 1,
        ("addon_rq_workers", (("queue", "bootstrap"),)): 0,
        ("addon_rq_queue_depth", (("queue", "high"),)): 0, ("addon_rq_queue_depth", (("queue", "default"),)): 0,
        ("addon_rq_queue_depth", (("queue", "bootstrap"),)): 2}
    assert 42 <= gauges[("addon_webhook_oldest_unprocessed_seconds", ())] < 90


def test_the_oldest_event_gauge_is_zero_when_nothing_waits(make_app, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    gauges = _gauges(make_app().test_client().get("/metrics").get_data(as_text=True))
    assert gauges[("addon_webhook_oldest_unprocessed_seconds", ())] == 0


def test_embedded_mode_counts_its_thread_as_the_live_worker(make_app):
    """Development without REDIS_URL: the web process's own thread runs every queue's jobs."""
    app = make_app(ADDON_ENV="development", REDIS_URL=None, WORKER_MISSING_GRACE_SECONDS="0")
    _store_event(app, age_seconds=30)
    try:
        status, body = _ready(app)  # the first request starts the embedded worker
    finally:
        app.extensions[EmbeddedWorker.EXTENSION_KEY].stop(timeout=10)
        app.extensions[jobs_health.JobsWatcher.EXTENSION_KEY].stop(timeout=10)
    assert status == 200 and body["jobs"]["stalled"] == []
    assert {name: q["workers"] for name, q in body["jobs"]["queues"].items()} == dict.fromkeys(PRIORITY_ORDER, 1)
