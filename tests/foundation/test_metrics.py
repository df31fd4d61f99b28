"""``/metrics``: request durations grouped by endpoint (never by raw path), summed across gunicorn
workers in multiprocess mode, single-process without ``PROMETHEUS_MULTIPROC_DIR``, and the
counters RQ jobs increment (kept in Redis, exported by the web process)."""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from addon import metrics
from addon.queueing import enqueue, get_queue, get_redis
from addon.testkit import processes
from addon.workers import AppSimpleWorker

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJ3b3Jrc3BhY2VJZCI6IndzLTEifQ.c2lnbmF0dXJlLXZhbHVl"
DURATION = "addon_http_request_duration_seconds"


def _samples(text: str, name: str) -> dict[tuple, float]:
    """``{sorted label items: value}`` of the samples called ``name``."""
    return {tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples if s.name == name}


def _request_counts(text: str) -> dict[tuple, float]:
    return _samples(text, f"{DURATION}_count")


def _run_job(app, *args) -> None:
    with app.app_context():
        enqueue("default", "addon.testkit.jobs.record", *args)
        AppSimpleWorker([get_queue("default")], connection=get_redis(), app=app).work(burst=True)


STATIC_404 = (("endpoint", "static"), ("method", "GET"), ("status", "404"))


def test_single_process_metrics_without_multiproc_dir(make_app, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = make_app()
    client = app.test_client()
    for name in ("a.css", "b.css", "c.css"):
        client.get(f"/static/missing-{name}")
    client.get("/health")  # probes are not counted
    client.get("/metrics")

    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert _request_counts(text) == {STATIC_404: 3.0}
    assert "missing-" not in text  # grouped by endpoint, never by path


def test_contract_metric_names_and_labels(make_app, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = make_app()
    metrics.WEBHOOK_DELIVERIES.labels(event="NEW_TIME_ENTRY", outcome="accepted").inc()
    metrics.LIFECYCLE_EVENTS.labels(type="installed", outcome="ok").inc()
    metrics.API_CALLS.labels(operation="getProjects", status="200").inc()
    with app.app_context():
        metrics.CLOCKIFY_REQUESTS.inc(status="200")
    _run_job(app, "metrics:contract", "x")

    text = app.test_client().get("/metrics").get_data(as_text=True)
    expected = {
        "addon_webhook_deliveries_total": {"event", "outcome"},
        "addon_lifecycle_events_total": {"type", "outcome"},
        "addon_api_calls_total": {"operation", "status"},
        "addon_jobs_total": {"job", "outcome"},
        "addon_clockify_requests_total": {"status"},
    }
    for name, labels in expected.items():
        samples = _samples(text, name)
        assert samples, name
        assert all({k for k, _ in key} == labels for key in samples), name
    assert _samples(text, "addon_jobs_total") == {(("job", "record"), ("outcome", "finished")): 1.0}
    assert _samples(text, "addon_job_duration_seconds_count") == {(("job", "record"),): 1.0}


def test_shared_metrics_survive_redis_being_down(make_app, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = make_app(REDIS_URL=processes.UNREACHABLE_REDIS)
    with app.app_context():
        metrics.JOBS.inc(job="record", outcome="finished")  # logged and dropped, never raised
    response = app.test_client().get("/metrics")
    assert response.status_code == 200 and "addon_jobs_total" not in response.get_data(as_text=True)


@pytest.fixture
def gunicorn(tmp_path, base_overrides):
    """A real gunicorn with two workers in multiprocess mode; yields (base URL, multiproc dir, log path)."""
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    (multiproc / "counter_424242.db").write_bytes(b"stale garbage from a previous boot")
    port = processes.free_port()
    variables = {
        "ADDON_ENV": "test",
        "DATABASE_URL": base_overrides["DATABASE_URL"],
        "REDIS_URL": base_overrides["REDIS_URL"],
        "TOKEN_ENCRYPTION_KEY": base_overrides["TOKEN_ENCRYPTION_KEY"],
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = processes.start("gunicorn", variables, tmp_path, stdout=log)
        try:
            processes.wait_for_http(f"http://127.0.0.1:{port}/health", server)
            yield f"http://127.0.0.1:{port}", multiproc, log_path
        finally:
            assert processes.stop(server) == 0


def _histogram_files(directory) -> dict[int, str]:
    return {int(f.split("_")[1].split(".")[0]): f for f in os.listdir(directory) if f.startswith("histogram_")}


def _count_in(directory, tmp_path, file_name: str) -> float:
    """The static-404 request count recorded by one worker's file alone."""
    alone = tmp_path / f"alone-{file_name}"
    alone.mkdir()
    shutil.copy(directory / file_name, alone / file_name)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(alone))
    return _request_counts(generate_latest(registry).decode()).get(STATIC_404, 0.0)


@pytest.mark.slow
def test_gunicorn_metrics_sum_every_worker(app, gunicorn, tmp_path):
    base, multiproc, log_path = gunicorn

    def hit(i):
        # A new connection each time, so the kernel hands them to either worker.
        url = f"{base}/static/missing-{i}.css?auth_token={JWT}"
        return requests.get(url, headers={"Connection": "close"}, timeout=10).status_code

    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(_histogram_files(multiproc)) < 2 and sent < 800:
            assert set(pool.map(hit, range(sent, sent + 40))) == {404}
            sent += 40
    served_by = _histogram_files(multiproc)
    assert len(served_by) == 2, f"one worker served all {sent} requests"

    for _ in range(2):  # scrapes are not requests the histogram counts
        scrape = requests.get(f"{base}/metrics", timeout=10)
    assert scrape.status_code == 200
    assert _request_counts(scrape.text) == {STATIC_404: float(sent)}
    assert "missing-" not in scrape.text

    per_worker = [_count_in(multiproc, tmp_path, name) for name in served_by.values()]
    assert all(0 < count < sent for count in per_worker) and sum(per_worker) == sent

    # A job run by a real RQ worker is counted in Redis; every gunicorn worker exports it.
    _run_job(app, "metrics:gunicorn", "x")
    jobs = requests.get(f"{base}/metrics", timeout=10).text
    assert _samples(jobs, "addon_jobs_total") == {(("job", "record"), ("outcome", "finished")): 1.0}

    # Access lines are JSON and carry the path, never the query string with its token.
    log = log_path.read_text()
    assert JWT not in log and "auth_token" not in log
    access = [json.loads(line) for line in log.splitlines() if '"gunicorn.access"' in line]
    static = [line for line in access if "/static/missing-" in line["message"]]
    assert len(static) == sent
    assert all(line["request_id"] and f"request_id={line['request_id']}" in line["message"] for line in static)
