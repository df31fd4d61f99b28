"""Lifecycle calls against real gunicorn, ``python worker.py`` processes, a private redis-server
and the fake Clockify.

* Redis dies before a lifecycle call: the call answers 200 with its jobs kept in the outbox;
  once Redis is back, the worker's sweep (no retry) or Clockify's retry enqueues them, and they run
  exactly once (#16 item 2).
* INACTIVE and ACTIVE in quick random succession, with two workers that could run a
  deregistration and a registration at once: once the jobs settle, API webhooks exist exactly when
  the last status is ACTIVE, never twice at Clockify (#16 item 3).
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from addon.testkit.addon_transports import HttpTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.fake_clockify import FakeClockify
from addon.testkit.fault_stack import wait_until

pytestmark = pytest.mark.resilience

# Schema 1.3 cannot declare the last two events: they are registered through the API.
HOOK_SETTINGS = {"WEBHOOK_EVENTS": "NEW_TIME_ENTRY,TIME_ENTRY_SPLIT,PROJECT_UPDATED", "MANIFEST_SCHEMA_VERSION": "1.3"}
VIA_API = 2
SEQUENCES = 20


@pytest.fixture
def fake(signer):
    # A little latency per call keeps a (de)registration in flight long enough to overlap.
    with FakeClockify(latency=0.05, signer=signer) as server:
        yield server


@pytest.fixture
def slow_fake(signer):
    with FakeClockify(latency=0.3, signer=signer) as server:
        yield server


@pytest.fixture
def hook_env(stack_env, private_redis) -> dict:
    return {**stack_env, **HOOK_SETTINGS, "REDIS_URL": private_redis.url}


def _calls(fake, workspace_id: str, method: str) -> int:
    return len(fake.requests(method=method, path_glob=f"*/workspaces/{workspace_id}/webhooks*"))


def _settled(fake, workspace_id: str, expected: int, quiet: float = 2.0) -> bool:
    """The fake holds ``expected`` webhooks of the workspace and got no call for ``quiet`` s."""
    hooks = fake.webhooks(workspace_id)
    recent = [r for r in fake.requests(path_glob=f"*/workspaces/{workspace_id}/*")
              if r.at > time.monotonic() - quiet]
    return len(hooks) == expected and not recent


@pytest.mark.parametrize("retried", [True, False], ids=["retried", "not-retried"])
def test_status_changes_while_redis_is_down_run_their_jobs_once(app, signer, pool, private_redis, hook_env, fake,
                                                               retried):
    ws, addon = f"ws-outbox-{int(retried)}", "addon-outbox"
    web = pool.gunicorn(hook_env)
    worker = pool.worker(hook_env)
    kit = ClockifySimulator(signer, HttpTransport(web.url), api_url=fake.api_url)

    private_redis.kill()
    reply = kit.install(ws, addon, settings={"auto_bootstrap": False}).reply
    assert reply.status_code == 200 and reply.json()["jobs"]["webhookRegistration"] == "queued"
    private_redis.start()
    if retried:
        assert kit.install(ws, addon, settings={"auto_bootstrap": False}).reply.status_code == 200
    wait_until(lambda: _settled(fake, ws, VIA_API), timeout=60, interval=0.25, message="webhooks registered")
    assert _calls(fake, ws, "POST") == VIA_API

    for status, expected in (("INACTIVE", 0), ("ACTIVE", VIA_API)):
        private_redis.kill()
        reply = kit.change_status(ws, status)
        assert reply.status_code == 200 and reply.json()["changed"] is True, reply.json()
        private_redis.start()  # empty: whatever the call could have enqueued is gone
        if retried:
            assert kit.change_status(ws, status).json()["changed"] is False
        wait_until(lambda expected=expected: _settled(fake, ws, expected), timeout=60, interval=0.25,
                   message=f"webhooks following {status}")

    assert _calls(fake, ws, "POST") == 2 * VIA_API and _calls(fake, ws, "DELETE") == VIA_API
    assert web.alive() and worker.alive()


def test_random_inactive_active_sequences_converge_to_the_last_status(app, signer, pool, hook_env, slow_fake):
    """Each sequence alternates INACTIVE and ACTIVE (2 to 5 calls, 0-200 ms apart) on a workspace
    whose jobs run on two idle workers, so a registration can start while a deregistration is
    still deleting (each Clockify call takes 0.3 s)."""
    fake = slow_fake
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    web = pool.gunicorn(hook_env)
    workers = [pool.worker(hook_env), pool.worker(hook_env)]
    kit = ClockifySimulator(signer, HttpTransport(web.url), api_url=fake.api_url)
    outcomes = {}
    for n in range(SEQUENCES):
        ws = f"ws-race-{n:02d}"
        assert kit.install(ws, f"addon-race-{n:02d}", settings={"auto_bootstrap": False}).reply.status_code == 200
        wait_until(lambda ws=ws: _settled(fake, ws, VIA_API, quiet=1.0), timeout=60, interval=0.2,
                   message=f"{ws} registered after install")
        plan = [("INACTIVE", "ACTIVE")[i % 2] for i in range(rng.randint(2, 5))]
        for status in plan:
            reply = kit.change_status(ws, status)
            assert reply.status_code == 200 and reply.json()["changed"] is True, (seed, ws, reply.json())
            time.sleep(rng.uniform(0, 0.2))
        expected = VIA_API if plan[-1] == "ACTIVE" else 0
        try:
            wait_until(lambda ws=ws, expected=expected: _settled(fake, ws, expected, quiet=1.5), timeout=60,
                       interval=0.2, message=f"{ws} settled")
        except TimeoutError:
            pass
        outcomes[ws] = (plan, expected, len(fake.webhooks(ws)))

    wrong = {ws: outcome for ws, outcome in outcomes.items() if outcome[1] != outcome[2]}
    assert not wrong, f"seed {seed}: (statuses, webhooks expected, webhooks at Clockify) {wrong}"
    for ws in outcomes:
        pairs = Counter((hook["url"], hook["webhookEvent"]) for hook in fake.webhooks(ws))
        assert all(count == 1 for count in pairs.values()), (seed, ws, pairs)
    assert all(worker.alive() for worker in workers) and web.alive()
