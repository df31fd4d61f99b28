"""The only worker stops while webhooks keep coming: they are acknowledged and stored, ``/ready``
turns 503 naming the ``high`` queue once the grace period has passed (not before), and turns back
to 200 once a worker is started again and has drained the backlog. Real gunicorn, real
``python worker.py``, a private redis-server."""

from __future__ import annotations

import time

import pytest
import requests

from addon.extensions import db
from addon.models import WebhookEvent
from addon.testkit.addon_transports import HttpTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.fault_stack import wait_until
from addon.testkit.webhooks import entity_payload

pytestmark = pytest.mark.resilience

WS, ADDON = "ws-missing-worker", "addon-missing-worker"
GRACE_SECONDS = 3
DELIVERIES = 12


def _ready(url: str) -> tuple[int, dict]:
    response = requests.get(f"{url}/ready", timeout=10)
    return response.status_code, response.json()


def _statuses(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(db.select(WebhookEvent.status, db.func.count()).group_by(WebhookEvent.status)).all()
        db.session.remove()
    return dict(rows)


def test_ready_names_the_queue_left_without_a_worker_and_recovers(app, signer, pool, private_redis, stack_env):
    env = {**stack_env, "REDIS_URL": private_redis.url, "WORKER_MISSING_GRACE_SECONDS": str(GRACE_SECONDS)}
    web = pool.gunicorn(env)
    worker = pool.worker(env)
    kit = ClockifySimulator(signer, HttpTransport(web.url))
    assert kit.install(WS, ADDON, settings={"auto_bootstrap": False}).reply.status_code == 200
    wait_until(lambda: _ready(web.url)[0] == 200, 30, message="/ready 200 with the worker running")

    worker.stop()
    first_delivery = time.monotonic()
    for n in range(DELIVERIES):
        reply = kit.send_webhook("NEW_PROJECT", entity_payload(WS, f"project-{n:02d}", n=n))
        assert reply.status_code == 200 and reply.json()["status"] == "accepted"
    assert _statuses(app) == {"received": DELIVERIES}

    def stalled():
        status, body = _ready(web.url)
        return (status, body) if status == 503 else None

    status, body = wait_until(stalled, GRACE_SECONDS + 25, interval=0.2, message="/ready 503 without a worker")
    waited = time.monotonic() - first_delivery
    assert waited >= GRACE_SECONDS - 0.5, f"503 after {waited:.1f} s, before the {GRACE_SECONDS} s grace period"
    assert "high" in body["jobs"]["stalled"]
    assert body["checks"]["database"] == body["checks"]["redis"] == "ok"
    assert body["checks"]["workers"].startswith("unavailable: work waits with no live worker on queue")
    assert "high for" in body["checks"]["workers"] and "scale worker=1" in body["checks"]["workers"]
    assert body["jobs"]["queues"]["high"]["workers"] == 0
    assert body["jobs"]["oldest_unprocessed_webhook_seconds"] >= GRACE_SECONDS - 0.5

    pool.worker(env)

    def drained():
        status, body = _ready(web.url)
        jobs = body["jobs"]
        return (status == 200 and jobs["oldest_unprocessed_webhook_seconds"] is None
                and jobs["queues"]["high"]["depth"] == 0 and jobs["queues"]["high"]["workers"] >= 1)

    wait_until(drained, 60, interval=0.2, message="/ready 200 with the backlog drained")
    assert _statuses(app) == {"processed": DELIVERIES}
    assert web.alive()
