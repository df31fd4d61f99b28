"""Webhook ingestion: signed ``NEW_TIME_ENTRY`` deliveries with distinct bodies to the add-on's
``POST /webhooks/time``, beside the ceiling app, at each concurrency.

The two are measured alternately, level by level, so a change in the machine's load affects both.
The add-on is measured twice per level: with its RQ worker processing on the same two cores
(having first finished every event stored before, so it works on that run's deliveries only),
then with the worker paused (SIGSTOP: the web tier alone, as when workers run on their own
dynos; deliveries wait meanwhile). The worker is also paused while the ceiling, which has no
jobs, is measured.
After each add-on run every accepted delivery must be a stored row.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

import redis
import sqlalchemy as sa

from addon.testkit.addon_transports import HttpTransport
from addon.testkit.clockify_calls import ClockifySimulator

from . import cpu
from .environment import REDIS_URL, BenchEnvironment
from .load import LoadResult, post_webhooks
from .stack import Stack, children

CONCURRENCIES = (1, 8, 32)
EVENT = "NEW_TIME_ENTRY"
WORKSPACE = "ws-bench-ingest"
WARM_UP_SECONDS = 3
THROUGHPUT_TARGET = 0.40
P99_TARGET_MS = 50.0
P99_TARGET_CONCURRENCY = 8


@dataclass(frozen=True)
class Server:
    """A running gunicorn: its base URL and its master process."""

    url: str
    process: subprocess.Popen


# The web tier runs as in production, where INSTALLED is refused (403 host_not_allowed) for an apiUrl
# that is not https; the section makes no Clockify call (no bootstrap, webhooks from the manifest),
# so the workspace names an https Clockify on a port where nothing listens.
UNCALLED_API_URL = "https://127.0.0.1:9/api"


def install_workspace(bench: BenchEnvironment, addon_url: str, api_url: str) -> str:
    """Install ``WORKSPACE`` through the real INSTALLED call (no bootstrap) and return the
    webhook token it stored for ``EVENT``."""
    simulator = ClockifySimulator(bench.signer, HttpTransport(addon_url), api_url=api_url)
    installed = simulator.install(WORKSPACE, settings={"auto_bootstrap": False})
    if installed.reply is None or installed.reply.status_code != 200:
        raise RuntimeError(f"INSTALLED answered {installed.reply and installed.reply.status_code}: "
                           f"{installed.reply and installed.reply.body[:300]!r}")
    return installed.webhook_tokens[EVENT]


def measure(stack: Stack, bench: BenchEnvironment, engine: sa.Engine, *, ceiling: Server, addon: Server,
            worker: subprocess.Popen, api_url: str, seconds: int) -> dict:
    """Run every level against both servers; return the figures, the ratios, the CPU each
    delivery cost per kind of process, and the checks."""
    token = install_workspace(bench, addon.url, api_url)

    def load_run(url: str, groups: dict, concurrency: int, run: str, length: int, worker_paused: bool
                 ) -> tuple[LoadResult, dict]:
        meter = cpu.Meter(groups)
        if worker_paused:
            stack.pause(worker)
        try:
            meter.start()
            result = post_webhooks(f"{url}/webhooks/time", concurrency=concurrency, seconds=length,
                                   token=token, workspace_id=WORKSPACE, run=run)
            return result, meter.stop()
        finally:
            if worker_paused:
                stack.resume(worker)

    def run_ceiling(concurrency: int, run: str, length: int) -> tuple[LoadResult, dict]:
        return load_run(ceiling.url, {"web": (children(ceiling.process.pid), False)}, concurrency, run, length,
                        worker_paused=True)

    def run_addon(concurrency: int, run: str, length: int, worker_paused: bool = False
                  ) -> tuple[LoadResult, dict]:
        return load_run(addon.url, {"web": (children(addon.process.pid), False),
                                    "postgresql": (cpu.database_backends(engine), False),
                                    "rq_worker": ([worker.pid], True)}, concurrency, run, length, worker_paused)

    run_ceiling(8, "warmceiling", WARM_UP_SECONDS)
    run_addon(8, "warmaddon", WARM_UP_SECONDS)

    levels = []
    processed, worker_seconds, running_seconds = 0, 0.0, 0.0
    for concurrency in CONCURRENCIES:
        run = f"c{concurrency}x{os.getpid()}"
        load_before = os.getloadavg()[0]
        reference, reference_cpu = run_ceiling(concurrency, f"ceiling{run}", seconds)
        # The worker starts each run with nothing left over, so it processes that run's deliveries only.
        _wait_until_processed(engine)
        processed_before = _statuses(engine).get("processed", 0)
        measured, measured_cpu = run_addon(concurrency, run, seconds)
        processed += _statuses(engine).get("processed", 0) - processed_before
        worker_seconds += measured_cpu["rq_worker"]
        running_seconds += measured.seconds
        alone, alone_cpu = run_addon(concurrency, f"alone{run}", seconds, worker_paused=True)
        time.sleep(1.0)  # let requests wrk abandoned at its deadline finish committing
        stored = _stored(engine, run) + _stored(engine, f"alone{run}")
        levels.append({
            "concurrency": concurrency,
            "ceiling": reference.as_dict(),
            "addon": measured.as_dict(),
            "addon_worker_paused": alone.as_dict(),
            "throughput_ratio": round(measured.requests_per_second / reference.requests_per_second, 3),
            "throughput_ratio_worker_paused": round(alone.requests_per_second / reference.requests_per_second, 3),
            "cpu_ms_per_request": {
                "ceiling": _per_request(reference_cpu, reference),
                "addon": _per_request(measured_cpu, measured),
                "addon_worker_paused": _per_request(alone_cpu, alone),
            },
            "stored_rows": stored,
            "accepted_not_stored": max(0, measured.accepted + alone.accepted - stored),
            "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        })
    _wait_until_processed(engine)
    return {
        "event": EVENT,
        "seconds_per_run": seconds,
        "levels": levels,
        "processing": {
            "by_status": _statuses(engine),
            "processed_per_second": round(processed / running_seconds, 1),
            "worker_cpu_ms_per_processed_event": round(worker_seconds / max(processed, 1) * 1000, 2),
            "note": "events the single RQ worker finished during the load runs it was not paused in; its CPU "
                    "includes the horses it forks",
        },
        "targets": _targets(levels),
    }


def _wait_until_processed(engine: sa.Engine, timeout: float = 180) -> None:
    """Wait for the (running) worker to finish every stored event; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while _statuses(engine).get("received", 0):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the RQ worker left events unprocessed for {timeout:g} s: {_statuses(engine)}")
        time.sleep(0.5)


def _per_request(cpu_seconds: dict[str, float], result: LoadResult) -> dict[str, float]:
    """CPU milliseconds per answered request, per kind of process (the RQ worker's count the
    jobs it ran meanwhile, whichever run's deliveries they were)."""
    figures = {**cpu_seconds, "load_generator": result.load_generator_cpu_seconds}
    requests = max(result.requests, 1)
    return {name: round(value / requests * 1000, 3) for name, value in figures.items()}


def _targets(levels: list[dict]) -> list[dict]:
    targets = []
    for level in levels:
        targets.append({
            "name": f"throughput at concurrency {level['concurrency']} vs ceiling",
            "target": f">= {THROUGHPUT_TARGET:.0%}",
            "measured": f"{level['throughput_ratio']:.1%}",
            "met": level["throughput_ratio"] >= THROUGHPUT_TARGET,
        })
    at_eight = next(level for level in levels if level["concurrency"] == P99_TARGET_CONCURRENCY)
    for run, where in (("addon_worker_paused", "web tier alone (RQ worker paused, as on its own dyno)"),
                       ("addon", "RQ worker processing on the same 2 cores")):
        p99 = at_eight[run]["p99_ms"]
        targets.append({"name": f"webhook p99 at concurrency {P99_TARGET_CONCURRENCY}, {where}",
                        "target": f"< {P99_TARGET_MS:g} ms", "measured": f"{p99:.1f} ms", "met": p99 < P99_TARGET_MS})
    errors = sum(level["addon"]["errors"] + level["addon_worker_paused"]["errors"] for level in levels)
    lost = sum(level["accepted_not_stored"] for level in levels)
    targets.append({"name": "webhook errors / accepted deliveries not stored", "target": "0 / 0",
                    "measured": f"{errors} / {lost}", "met": errors == 0 and lost == 0})
    return targets


def _stored(engine: sa.Engine, run: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM webhook_events WHERE workspace_id = :ws AND payload LIKE :p"),
                            {"ws": WORKSPACE, "p": f'{{"id":"te-{run}-%'}).scalar_one()


def _statuses(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, count(*) FROM webhook_events WHERE workspace_id = :ws "
                                    "GROUP BY status ORDER BY status"), {"ws": WORKSPACE})
        return {status: count for status, count in rows}


def clear(engine: sa.Engine) -> None:
    """Forget the ingested events and their queued jobs (call it with no worker running), so
    later phases' workers and their sweep do not spend the machine on them."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM webhook_events WHERE workspace_id = :ws"), {"ws": WORKSPACE})
    redis.Redis.from_url(REDIS_URL).flushdb()
