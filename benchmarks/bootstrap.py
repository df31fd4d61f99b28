"""Bootstrap: a workspace's first full fetch, through the fake Clockify answering every request
after ``LATENCY`` seconds, against the physical floor ``requests / RATE_LIMIT_RPS``.

The workspace holds several hundred projects with tasks and many users with time entries, about
2,000 requests' worth of pages. INSTALLED (the real lifecycle call) starts the run; the figures
come from the fake's request log (arrival times of every request of that workspace) and from the
run's rows. Done with 1 and with 3 ``python worker.py`` processes, each on its own workspace (one
job drives a run, so the extra workers show that they neither add nor cost anything).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import redis
import sqlalchemy as sa
from rq import Queue, Worker

from addon.testkit.addon_transports import HttpTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.fake_clockify import FakeClockify, max_in_sliding_window

from . import memory
from .environment import OUTBOUND_OVERRIDES, REDIS_URL, BenchEnvironment
from .stack import Stack

LATENCY = 0.1
PROJECTS, TASKS_PER_PROJECT = 900, 4
USERS, ENTRIES_PER_USER = 1000, 25
WORKER_COUNTS = (1, 3)
RUN_TIMEOUT = 240.0
UTILISATION_TARGET = 0.85


def seed(fake: FakeClockify, workspace_id: str) -> dict[str, int]:
    """Fill ``workspace_id`` with projects (each with tasks), clients, tags and users (each with
    time entries in the last days); return how many entities of each kind it holds."""
    now = datetime.now(UTC)
    clients = [{"id": f"c{i:04d}", "name": f"Client {i}", "workspaceId": workspace_id, "archived": False}
               for i in range(40)]
    projects = [{"id": f"p{i:05d}", "name": f"Project {i}", "workspaceId": workspace_id,
                 "clientId": clients[i % len(clients)]["id"], "billable": i % 3 != 0, "color": "#03A9F4",
                 "archived": False, "public": True, "hourlyRate": {"amount": 5000, "currency": "EUR"}}
                for i in range(PROJECTS)]
    fake.seed(workspace_id, "clients", clients)
    fake.seed(workspace_id, "tags", [{"id": f"g{i:03d}", "name": f"Tag {i}", "workspaceId": workspace_id}
                                     for i in range(30)])
    fake.seed(workspace_id, "projects", projects)
    for project in projects:
        fake.seed_tasks(workspace_id, project["id"], [
            {"id": f"{project['id']}-t{j}", "name": f"Task {j}", "projectId": project["id"], "status": "ACTIVE",
             "estimate": "PT8H", "billable": True} for j in range(TASKS_PER_PROJECT)])
    users = [{"id": f"u{i:05d}", "name": f"User {i}", "email": f"user{i}@example.com", "status": "ACTIVE",
              "activeWorkspace": workspace_id, "defaultWorkspace": workspace_id} for i in range(USERS)]
    fake.seed(workspace_id, "users", users)
    for index, user in enumerate(users):
        entries = []
        for j in range(ENTRIES_PER_USER):
            start = now - timedelta(days=1 + j % 25, hours=index % 8)
            entries.append({
                "id": f"{user['id']}-e{j:03d}", "description": f"Work item {j}", "userId": user["id"],
                "workspaceId": workspace_id, "projectId": projects[(index + j) % PROJECTS]["id"],
                "billable": True, "tagIds": [f"g{j % 30:03d}"],
                "timeInterval": {"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 "end": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 "duration": "PT1H"}})
        fake.seed_time_entries(workspace_id, user["id"], entries)
    return {"clients": len(clients), "tags": 30, "projects": PROJECTS, "tasks": PROJECTS * TASKS_PER_PROJECT,
            "users": USERS, "time-entries": USERS * ENTRIES_PER_USER}


def measure(stack: Stack, bench: BenchEnvironment, engine: sa.Engine, *, fake: FakeClockify, addon_url: str,
            rate_limit_rps: int) -> dict:
    """One run per entry of ``WORKER_COUNTS``; return their figures and the targets."""
    runs, worker_memory = [], {}
    for count in WORKER_COUNTS:
        workers = [stack.worker(f"worker-bootstrap-{count}-{i}", env=OUTBOUND_OVERRIDES) for i in range(count)]
        try:
            _wait_for_workers(count)
            runs.append(_run(bench, engine, fake=fake, addon_url=addon_url, workspace_id=f"ws-bench-boot-{count}",
                             workers=count, rate_limit_rps=rate_limit_rps))
            worker_memory[f"{count}_workers"] = [memory.rq_worker(w) for w in workers]
        finally:
            for worker in workers:
                stack.stop_process(worker)
    return {"latency_seconds": LATENCY, "rate_limit_rps": rate_limit_rps, "runs": runs,
            "worker_rss_mib": worker_memory, "targets": _targets(runs, rate_limit_rps)}


def _wait_for_workers(count: int, timeout: float = 30.0) -> None:
    """Until ``count`` workers listen on the bootstrap queue."""
    connection = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + timeout
    while Worker.count(queue=Queue("bootstrap", connection=connection)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} RQ workers did not register within {timeout} s")
        time.sleep(0.1)


def _run(bench: BenchEnvironment, engine: sa.Engine, *, fake: FakeClockify, addon_url: str, workspace_id: str,
         workers: int, rate_limit_rps: int) -> dict:
    expected = seed(fake, workspace_id)
    simulator = ClockifySimulator(bench.signer, HttpTransport(addon_url, timeout=30), api_url=fake.api_url)
    started = time.monotonic()
    installed = simulator.install(workspace_id)
    if installed.reply is None or installed.reply.status_code != 200:
        raise RuntimeError(f"INSTALLED answered {installed.reply and installed.reply.status_code}")
    status = _wait_for_run(engine, workspace_id)
    wall = time.monotonic() - started

    times = sorted(r.at for r in fake.requests() if r.workspace_id == workspace_id)
    statuses: dict[str, int] = {}
    for r in fake.requests():
        if r.workspace_id == workspace_id:
            statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
    floor = len(times) / rate_limit_rps
    stored = _stored(engine, workspace_id)
    row = _run_row(engine, workspace_id)
    return {
        "workers": workers,
        "workspace": workspace_id,
        "status": status,
        "requests": len(times),
        "answers_by_status": statuses,
        "floor_seconds": round(floor, 2),
        "wall_seconds": round(wall, 2),
        "run_seconds": row["seconds"],
        "first_to_last_request_seconds": round(times[-1] - times[0], 2) if times else 0.0,
        "utilisation": round(floor / wall, 3),
        "max_per_window": max_in_sliding_window(times, 1.0),
        "windows_over_budget": windows_over(times, rate_limit_rps),
        "expected_entities": expected,
        "stored_entities": {kind: stored.get(kind, 0) for kind in expected},
        "items_stored": row["items_stored"],
        "errors": row["errors"],
    }


def windows_over(times: list[float], budget: int, window: float = 1.0) -> int:
    """How many sliding windows ``[t, t + window)``, one starting at each request, hold more
    than ``budget`` requests (each run of overlapping such windows counted per start)."""
    over, last = 0, 0
    for first, at in enumerate(times):
        last = max(last, first)
        while last + 1 < len(times) and times[last + 1] - at < window:
            last += 1
        if last - first + 1 > budget:
            over += 1
    return over


def _wait_for_run(engine: sa.Engine, workspace_id: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            status = conn.execute(sa.text("SELECT status FROM bootstrap_runs WHERE workspace_id = :ws "
                                          "ORDER BY id DESC LIMIT 1"), {"ws": workspace_id}).scalar_one_or_none()
        if status in ("completed", "failed", "cancelled"):
            return status
        time.sleep(0.05)
    raise RuntimeError(f"the bootstrap of {workspace_id} did not finish within {RUN_TIMEOUT} s")


def _run_row(engine: sa.Engine, workspace_id: str) -> dict:
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT r.started_at, r.finished_at, r.errors, coalesce(sum(c.items), 0) AS items_stored, "
            "count(c.error) AS failed FROM bootstrap_runs r LEFT JOIN bootstrap_checkpoints c ON c.run_id = r.id "
            "WHERE r.workspace_id = :ws GROUP BY r.id ORDER BY r.id DESC LIMIT 1"), {"ws": workspace_id}).one()
    seconds = (row.finished_at - row.started_at).total_seconds() if row.started_at and row.finished_at else None
    return {"seconds": round(seconds, 2) if seconds is not None else None, "items_stored": int(row.items_stored),
            "errors": len(row.errors or []) + int(row.failed)}


def _stored(engine: sa.Engine, workspace_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT source, count(*) FROM workspace_data WHERE workspace_id = :ws "
                                    "GROUP BY source"), {"ws": workspace_id})
        return {source: count for source, count in rows}


def _targets(runs: list[dict], rate_limit_rps: int) -> list[dict]:
    targets = []
    for run in runs:
        label = f"{run['workers']} worker{'s' if run['workers'] > 1 else ''}"
        targets.append({"name": f"bootstrap utilisation of the budget, {label}",
                        "target": f">= {UTILISATION_TARGET:.0%}", "measured": f"{run['utilisation']:.1%}",
                        "met": run["utilisation"] >= UTILISATION_TARGET})
        targets.append({"name": f"bootstrap 1 s windows over {rate_limit_rps} requests, {label}",
                        "target": "0", "measured": str(run["windows_over_budget"]),
                        "met": run["windows_over_budget"] == 0})
        complete = run["status"] == "completed" and run["stored_entities"] == run["expected_entities"]
        targets.append({"name": f"bootstrap completed with every entity stored once, {label}", "target": "yes",
                        "measured": "yes" if complete else f"{run['status']}, {run['stored_entities']}",
                        "met": complete})
    return targets
