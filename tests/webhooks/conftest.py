"""Fixtures for webhook ingestion: installed workspaces with stored webhook tokens (created
directly through the models), a signed-delivery helper, and a real RQ worker runner."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import pytest
import redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from addon import create_app
from addon.clockify import deliveries
from addon.clockify.event_types import CATEGORIES, category_of, route_path
from addon.crypto import token_digest
from addon.extensions import db
from addon.jobs import schedule
from addon.json_bodies import decode_json
from addon.models import Installation, InstallationWebhook, WebhookEvent
from addon.queueing import PRIORITY_ORDER, get_queue
from addon.store import webhook_events
from addon.testkit.webhooks import delivery_headers, entity_payload
from addon.workers import AppSimpleWorker


@dataclass
class InstalledWorkspace:
    """A workspace with an installation row and one manifest webhook token per route."""

    workspace_id: str
    addon_id: str
    tokens: dict[str, str]
    api_tokens: dict[str, str] = field(default_factory=dict)

    def token_for(self, event: str) -> str:
        return self.tokens[category_of(event)]


@pytest.fixture
def install(app, signer):
    """``install(workspace_id, addon_id, status=..., api_events=(...))`` commits an installation,
    one manifest webhook per route and one API-registered webhook per ``api_events`` item."""

    def _install(workspace_id: str = "ws-alpha", addon_id: str = "addon-alpha", status: str = "ACTIVE",
                 api_events: tuple[str, ...] = ()) -> InstalledWorkspace:
        tokens, api_tokens = {}, {}
        with app.app_context():
            db.session.add(Installation(
                workspace_id=workspace_id, addon_id=addon_id, status=status,
                installation_token=signer.installation_token(workspace_id, addon_id),
                api_url="https://api.clockify.me/api", reports_url="https://reports.api.clockify.me"))
            for category in CATEGORIES:
                tokens[category] = signer.webhook_token(workspace_id, addon_id)
                db.session.add(InstallationWebhook(
                    workspace_id=workspace_id, path=route_path(category), event="", source="manifest",
                    token=tokens[category], token_digest=token_digest(tokens[category])))
            for event in api_events:
                api_tokens[event] = signer.webhook_token(workspace_id, addon_id)
                db.session.add(InstallationWebhook(
                    workspace_id=workspace_id, path=route_path(category_of(event)), event=event, source="api",
                    token=api_tokens[event], token_digest=token_digest(api_tokens[event]),
                    clockify_webhook_id=f"clockify-{event.lower()}"))
            db.session.commit()
            db.session.remove()
        return InstalledWorkspace(workspace_id, addon_id, tokens, api_tokens)

    return _install


@pytest.fixture
def workspace(install) -> InstalledWorkspace:
    return install()


@pytest.fixture
def deliver(client):
    """``deliver(ws, event, payload=None, category=None, token=None, headers=None, body=None,
    app_client=None)`` posts a signed delivery like Clockify would."""

    def _deliver(ws: InstalledWorkspace, event: str | None, payload=None, *, category: str | None = None,
                 token: str | None = None, headers: dict | None = None, body: bytes | None = None,
                 app_client=None):
        signature = token if token is not None else ws.token_for(event or "ASSIGNMENT_CREATED")
        sent = {**delivery_headers(event, signature or None), **(headers or {})}
        if body is None:
            body = json.dumps(payload if payload is not None else entity_payload(ws.workspace_id)).encode()
        path = route_path(category or category_of(event or ""))
        return (app_client or client).post(path, data=body, headers=sent)

    return _deliver


@pytest.fixture
def rq_connection(base_overrides) -> redis.Redis:
    """A client of the test Redis DB for workers and assertions."""
    return redis.Redis.from_url(base_overrides["REDIS_URL"])


@pytest.fixture
def run_jobs(app, rq_connection):
    """Run every queued job with a real in-process RQ worker (burst); returns the worker."""

    def _run() -> AppSimpleWorker:
        connection = rq_connection
        worker = AppSimpleWorker([get_queue(n, connection) for n in PRIORITY_ORDER], connection=connection, app=app)
        worker.work(burst=True, logging_level="WARNING")
        return worker

    return _run


@pytest.fixture
def release_retries(app, rq_connection):
    """Move webhook-event retries waiting for their backoff back onto their queues now (the
    periodic sweep, which workers keep scheduled, is left where it is)."""

    def _release() -> int:
        connection = rq_connection
        moved = 0
        for name in PRIORITY_ORDER:
            queue = get_queue(name, connection)
            registry = ScheduledJobRegistry(queue=queue)
            for job_id in registry.get_job_ids():
                if job_id.startswith(schedule.SWEEP_JOB_PREFIX):
                    continue
                job = Job.fetch(job_id, connection=connection)
                registry.remove(job)
                queue.enqueue_job(job)
                moved += 1
        return moved

    return _release


@pytest.fixture
def stored_events(app):
    """``stored_events(workspace_id=None)``: the committed webhook_events rows, oldest first."""

    def _rows(workspace_id: str | None = None) -> list[WebhookEvent]:
        with app.app_context():
            query = db.select(WebhookEvent).order_by(WebhookEvent.id)
            if workspace_id is not None:
                query = query.where(WebhookEvent.workspace_id == workspace_id)
            rows = list(db.session.execute(query).scalars())
            db.session.expunge_all()
            db.session.remove()
        return rows

    return _rows


@pytest.fixture
def queued_jobs(app, rq_connection):
    """``queued_jobs(queue="high")``: ``(function name, args)`` of the jobs waiting on a queue."""

    def _jobs(name: str = "high") -> list[tuple[str, tuple]]:
        return [(job.func_name.rsplit(".", 1)[-1], job.args) for job in get_queue(name, rq_connection).get_jobs()]

    return _jobs


@pytest.fixture
def queued_job_ids(app, rq_connection):
    """``queued_job_ids(queue="high")``: job ids waiting on a queue."""

    def _ids(name: str = "high") -> list[str]:
        return get_queue(name, rq_connection).get_job_ids()

    return _ids


@pytest.fixture
def make_app(base_overrides):
    """Build extra apps sharing the test settings; their engines are disposed afterwards."""
    apps = []

    def _make(**overrides):
        extra = create_app({**base_overrides, **overrides})
        apps.append(extra)
        return extra

    yield _make
    for extra in apps:
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def record_concurrently(app):
    """``record_concurrently(workspace_id, event_type, raw, copies=20)``: ``copies`` threads record the
    same delivery at once through ``webhook_events.record``; returns their ``Stored`` results."""

    def _record(workspace_id: str, event_type: str, raw: bytes, copies: int = 20) -> list:
        key = deliveries.dedupe_key(event_type, raw, deliveries.parse_body(raw, decode_json))
        barrier, results, lock = threading.Barrier(copies), [], threading.Lock()

        def record():
            with app.app_context():
                barrier.wait()
                stored = webhook_events.record(workspace_id, event_type=event_type, route="time", known_event=True,
                                               dedupe=key, window_seconds=3600, payload=raw.decode(), headers={})
                db.session.remove()
            with lock:
                results.append(stored)

        threads = [threading.Thread(target=record) for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    return _record
