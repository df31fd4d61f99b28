"""Redis dies and comes back empty, in the middle of a burst of webhook deliveries (the worker is
busy) or while the worker waits for work: every delivery answered 2xx is stored, every stored one
is processed once Redis is back (the sweep enqueues what the queue lost), none twice, and gunicorn
and the worker stay up."""

from __future__ import annotations

import threading
import time

import pytest

from addon.extensions import db
from addon.models import WebhookEvent
from addon.store import workspace_data
from addon.testkit.addon_transports import HttpTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.fault_stack import wait_until
from addon.testkit.webhooks import entity_payload

pytestmark = pytest.mark.resilience

WS, ADDON = "ws-redis-restart", "addon-redis-restart"
DELIVERIES = 120
SENDERS = 4
EVENTS = ("NEW_TIME_ENTRY", "NEW_PROJECT", "NEW_TAG")
SOURCES = {"NEW_TIME_ENTRY": "time-entries", "NEW_PROJECT": "projects", "NEW_TAG": "tags"}


def _events(app) -> list[WebhookEvent]:
    with app.app_context():
        rows = list(db.session.execute(db.select(WebhookEvent).order_by(WebhookEvent.id)).scalars())
        db.session.expunge_all()
        db.session.remove()
    return rows


def test_a_redis_restart_mid_burst_loses_no_delivery(app, signer, pool, private_redis, stack_env):
    env = {**stack_env, "REDIS_URL": private_redis.url}
    web = pool.gunicorn(env)
    worker = pool.worker(env)
    kit = ClockifySimulator(signer, HttpTransport(web.url))
    assert kit.install(WS, ADDON, settings={"auto_bootstrap": False}).reply.status_code == 200

    deliveries = [(EVENTS[i % len(EVENTS)], entity_payload(WS, f"entity-{i:03d}", n=i)) for i in range(DELIVERIES)]
    answers: dict[int, int] = {}
    sent = threading.Semaphore(0)

    def send(indexes):
        sender = ClockifySimulator(signer, HttpTransport(web.url))
        sender.installs = kit.installs
        for i in indexes:
            event, payload = deliveries[i]
            answers[i] = sender.send_webhook(event, payload).status_code
            sent.release()
            time.sleep(0.01)

    threads = [threading.Thread(target=send, args=(range(n, DELIVERIES, SENDERS),)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    for _ in range(DELIVERIES // 3):
        sent.acquire()
    private_redis.kill()
    for _ in range(DELIVERIES // 4):
        sent.acquire()
    private_redis.start()
    for thread in threads:
        thread.join(timeout=60)

    # Clockify redelivers what was not acknowledged with a 2xx.
    for i, status in sorted(answers.items()):
        if not 200 <= status < 300:
            event, payload = deliveries[i]
            answers[i] = kit.send_webhook(event, payload).status_code
    assert sorted(answers) == list(range(DELIVERIES)) and set(answers.values()) == {200}, answers

    _wait_all_processed(app, worker, DELIVERIES)
    with app.app_context():
        cached = workspace_data.counts(WS)
    assert cached == {source: DELIVERIES // len(EVENTS) for source in SOURCES.values()}
    assert web.alive() and worker.alive()


def test_a_redis_restart_while_the_worker_idles_loses_nothing(app, signer, pool, private_redis, stack_env):
    env = {**stack_env, "REDIS_URL": private_redis.url}
    web = pool.gunicorn(env)
    worker = pool.worker(env)
    kit = ClockifySimulator(signer, HttpTransport(web.url))
    assert kit.install(WS, ADDON, settings={"auto_bootstrap": False}).reply.status_code == 200
    for i in range(3):
        assert kit.send_webhook("NEW_TAG", entity_payload(WS, f"before-{i}")).status_code == 200
    _wait_all_processed(app, worker, 3)  # the worker now waits on an empty queue

    private_redis.kill()
    for i in range(12):  # stored, not enqueued: the delivery is acknowledged all the same
        assert kit.send_webhook("NEW_TAG", entity_payload(WS, f"during-{i}")).json()["status"] == "accepted"
    assert {r.status for r in _events(app)[3:]} == {"received"}
    time.sleep(2)  # long enough for the worker's scheduler to notice and die
    private_redis.start()

    _wait_all_processed(app, worker, 15)
    with app.app_context():
        assert workspace_data.counts(WS) == {"tags": 15}
    assert web.alive() and worker.alive()


def _wait_all_processed(app, worker, count: int, timeout: float = 40) -> None:
    """Wait until ``count`` events are stored and processed, each exactly once."""
    def all_processed() -> bool:
        rows = _events(app)
        assert worker.alive(), f"the worker died:\n{worker.log_tail()}"
        return len(rows) == count and all(r.status == "processed" for r in rows)

    try:
        wait_until(all_processed, timeout=timeout, interval=0.25, message="every stored delivery processed")
    except TimeoutError:
        rows = _events(app)
        pytest.fail(f"{sum(r.status == 'processed' for r in rows)}/{len(rows)} processed; statuses "
                    f"{sorted({r.status for r in rows})}\nworker log:\n{worker.log_tail()}")
    assert [r.attempts for r in _events(app)] == [1] * count, "an event was processed more than once"
