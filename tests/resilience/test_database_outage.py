"""PostgreSQL becomes unreachable (a FaultProxy between the processes and the server is cut):
webhook and lifecycle calls answer 503 with Retry-After so Clockify retries, /ready answers 503,
gunicorn and the worker stay up, and everything recovers when the proxy is restored; the
redelivered webhook is then stored once and processed."""

from __future__ import annotations

import time

import pytest
import requests
import sqlalchemy as sa

from addon.extensions import db
from addon.models import Installation, WebhookEvent
from addon.testkit.addon_transports import HttpTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.fault_stack import wait_until
from addon.testkit.faultproxy import FaultProxy
from addon.testkit.webhooks import entity_payload

pytestmark = pytest.mark.resilience

WS, ADDON = "ws-db-outage", "addon-db-outage"


@pytest.fixture
def database_proxy(base_overrides):
    """A FaultProxy in front of the test PostgreSQL server."""
    url = sa.engine.make_url(base_overrides["DATABASE_URL"])
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxy.url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    yield proxy
    proxy.close()


def _rows(app, model, **where):
    with app.app_context():
        rows = list(db.session.execute(db.select(model).filter_by(**where)).scalars())
        db.session.expunge_all()
        db.session.remove()
    return rows


def _assert_unavailable(reply, what: str) -> None:
    assert reply.status_code == 503, f"{what}: {reply.status_code} {reply.body[:300]!r}"
    assert reply.json()["error"] == "storage_unavailable", what
    assert reply.headers["Retry-After"] == "5", what


def test_database_outage_is_503_everywhere_and_recovers(app, signer, pool, private_redis, stack_env,
                                                        database_proxy):
    env = {**stack_env, "REDIS_URL": private_redis.url, "DATABASE_URL": database_proxy.url}
    web = pool.gunicorn(env)
    worker = pool.worker(env)
    kit = ClockifySimulator(signer, HttpTransport(web.url))
    assert kit.install(WS, ADDON, settings={"auto_bootstrap": False}).reply.status_code == 200
    before = kit.send_webhook("NEW_PROJECT", entity_payload(WS, "p-before"))
    assert before.status_code == 200

    database_proxy.cut()
    started = time.monotonic()
    during = entity_payload(WS, "p-during", name="sent while the database was away")
    _assert_unavailable(kit.send_webhook("NEW_PROJECT", during), "webhook")
    _assert_unavailable(kit.update_settings(WS, {"developer_mode": True}), "SETTINGS_UPDATED")
    _assert_unavailable(kit.change_status(WS, "INACTIVE"), "STATUS_CHANGED")
    _assert_unavailable(kit.install("ws-new", "addon-new", settings={"auto_bootstrap": False}).reply, "INSTALLED")
    _assert_unavailable(kit.uninstall(WS), "DELETED")
    ready = requests.get(f"{web.url}/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unavailable") and ready.json()["checks"]["redis"] == "ok"
    assert requests.get(f"{web.url}/health", timeout=10).status_code == 200
    assert time.monotonic() - started < 30, "answers during the outage must come fast, not after long timeouts"
    time.sleep(2)  # the worker's sweep meets the outage too
    assert web.alive(), web.log_tail()
    assert worker.alive(), worker.log_tail()

    database_proxy.restore()
    wait_until(lambda: requests.get(f"{web.url}/ready", timeout=10).status_code == 200, 20,
               message="/ready answering 200 after the database came back")
    # Clockify retries what got a 503: each lands once.
    assert kit.send_webhook("NEW_PROJECT", during).json()["status"] == "accepted"
    assert kit.send_webhook("NEW_PROJECT", during).json()["status"] == "duplicate"
    assert kit.update_settings(WS, {"developer_mode": True}).status_code == 200
    assert kit.install("ws-new", "addon-new", settings={"auto_bootstrap": False}).reply.status_code == 200

    def processed() -> bool:
        assert worker.alive(), worker.log_tail()
        rows = _rows(app, WebhookEvent, workspace_id=WS)
        return len(rows) == 2 and all(r.status == "processed" for r in rows)

    wait_until(processed, 30, interval=0.25, message="both deliveries processed")
    rows = _rows(app, WebhookEvent, workspace_id=WS)
    assert [r.attempts for r in rows] == [1, 1]
    [installation] = _rows(app, Installation, workspace_id=WS)
    assert installation.status == "ACTIVE" and installation.settings["developer_mode"] is True
    assert len(_rows(app, Installation, workspace_id="ws-new")) == 1
    assert web.alive() and worker.alive()
