"""Fixtures of the jobs tests: installations pointing at the fake Clockify, a small workspace,
in-process RQ workers, and real ``python worker.py`` processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from addon import create_app
from addon.extensions import db
from addon.models import Installation
from addon.queueing import PRIORITY_ORDER, get_queue, get_redis
from addon.testkit.worker_processes import WorkerProcess
from addon.workers import AppSimpleWorker

ADDON_ID = "addon-1"
WORKSPACE = "ws1"


@pytest.fixture(scope="session")
def jobs_overrides(base_overrides) -> dict:
    """Small pages, so a small workspace still has several of them."""
    return {**base_overrides, "BOOTSTRAP_PAGE_SIZE": "3", "RATE_LIMIT_RPS": "50"}


@pytest.fixture(scope="session")
def jobs_app(app, jobs_overrides):
    """An app like the session one (same database and Redis) with the jobs settings."""
    return create_app(jobs_overrides)


@pytest.fixture
def jobs_ctx(jobs_app):
    with jobs_app.app_context():
        yield jobs_app
        db.session.remove()


@pytest.fixture
def install(jobs_ctx, signer, fake_clockify):
    """``install(workspace_id, api_url=None)`` -> an ACTIVE installation using the fake Clockify."""
    def make(workspace_id: str = WORKSPACE, api_url: str | None = None, status: str = "ACTIVE") -> Installation:
        installation = Installation(workspace_id=workspace_id, addon_id=ADDON_ID, status=status,
                                    installation_token=signer.installation_token(workspace_id, ADDON_ID),
                                    api_url=api_url or fake_clockify.api_url, reports_url=fake_clockify.reports_url)
        db.session.add(installation)
        db.session.commit()
        return installation
    return make


@pytest.fixture
def work(jobs_ctx):
    """Run every queued job (retries due now included) on an in-process worker, until none is left."""
    def run(queues=PRIORITY_ORDER):
        worker = AppSimpleWorker([get_queue(n) for n in queues], connection=get_redis(), app=jobs_ctx)
        worker.work(burst=True, logging_level="WARNING")
        return worker
    return run


def recent(days: float = 1) -> str:
    """A Clockify timestamp ``days`` ago (inside the default 30-day time-entry window)."""
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_workspace(fake, workspace_id: str = WORKSPACE, *, projects: int = 7, tasks: int = 4, users: int = 2,
                   entries: int = 5) -> dict[str, int]:
    """A small workspace; returns how many entities of each source it holds."""
    start = recent()
    project_list = [{"id": f"p{i}", "name": f"Project {i}"} for i in range(projects)]
    user_list = [{"id": f"u{i}", "name": f"User {i}"} for i in range(users)]
    fake.seed(workspace_id, "projects", project_list)
    fake.seed(workspace_id, "users", user_list)
    fake.seed(workspace_id, "clients", [{"id": "c1", "name": "Client"}])
    fake.seed(workspace_id, "invoices", [{"id": "i1"}, {"id": "i2"}])
    fake.seed(workspace_id, "", {"id": workspace_id, "name": "Acme"})
    for project in project_list[:2]:
        fake.seed_tasks(workspace_id, project["id"], [{"id": f"{project['id']}-t{j}"} for j in range(tasks)])
    for user in user_list:
        fake.seed_time_entries(workspace_id, user["id"], [
            {"id": f"{user['id']}-e{j}", "timeInterval": {"start": start}} for j in range(entries)])
    return {"projects": projects, "users": users, "clients": 1, "invoices": 2, "workspaces": 1,
            "tasks": 2 * tasks, "time-entries": users * entries}


@pytest.fixture
def worker_env(jobs_overrides):
    """The environment of a ``python worker.py`` that shares the tests' database and Redis."""
    def env(**extra) -> dict:
        return {**{k: v for k, v in jobs_overrides.items() if k.isupper()}, **{k: str(v) for k, v in extra.items()}}
    return env


@pytest.fixture
def workers(tmp_path):
    """``workers(env, n, queues)`` starts real worker processes; all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start(env: dict, count: int = 1, queues: tuple[str, ...] = ()) -> list[WorkerProcess]:
        batch = [WorkerProcess(env, queues, log_path=tmp_path / f"worker-{len(started) + i}.log").start()
                 for i in range(count)]
        started.extend(batch)
        return batch

    yield start
    for process in started:
        process.stop(timeout=10)
