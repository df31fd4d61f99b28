"""The shared rate limiter on real Redis: even spacing, reservations, penalties, other processes,
and the per-process fallback when Redis goes away (a private redis-server we stop and restart)."""

import os
import socket
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fakeredis
import pytest
import redis

from addon.clockify.client import ClockifyClient, join_url
from addon.clockify.hosts import HostPolicy
from addon.clockify.ratelimit import RateLimiter, RateLimitExceeded, connect

ROOT = Path(__file__).resolve().parents[2]


def test_slots_are_spaced_one_interval_apart(redis_conn):
    limiter = RateLimiter(redis_conn, rate=10)
    assert limiter.try_acquire("ws1") == (True, 0.0)
    reserved, wait = limiter.try_acquire("ws1")
    assert not reserved and 0 < wait <= limiter.interval
    assert limiter.interval == pytest.approx(0.11)


def test_waiting_callers_reserve_consecutive_slots(redis_conn):
    limiter = RateLimiter(redis_conn, rate=10)
    waits = [limiter.try_acquire("ws1", max_wait=1.0) for _ in range(3)]
    assert [r for r, _ in waits] == [True, True, True]
    assert waits[0][1] == 0.0
    assert waits[2][1] - waits[1][1] == pytest.approx(limiter.interval, abs=0.005)
    # Further than the caller accepts: nothing is reserved.
    reserved, wait = limiter.try_acquire("ws1", max_wait=0.05)
    assert not reserved and wait > 0.2


def test_workspaces_have_separate_budgets(redis_conn):
    limiter = RateLimiter(redis_conn, rate=1)
    assert limiter.try_acquire("ws1")[0] and limiter.try_acquire("ws2")[0]
    assert not limiter.try_acquire("ws1")[0]


def test_non_blocking_acquire_refuses_with_retry_after(redis_conn):
    limiter = RateLimiter(redis_conn, rate=2)
    limiter.acquire("ws1", timeout=0)
    with pytest.raises(RateLimitExceeded) as raised:
        limiter.acquire("ws1", timeout=0)
    assert 0 < raised.value.retry_after <= limiter.interval


def test_penalty_pushes_every_caller_back(redis_conn):
    first = RateLimiter(redis_conn, rate=50)
    other_process = RateLimiter(connect(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")), rate=50)
    first.penalize("ws1", 2.0)
    with pytest.raises(RateLimitExceeded) as raised:
        other_process.acquire("ws1", timeout=0.5)
    assert 1.4 < raised.value.retry_after <= 2.0
    # A shorter penalty never shortens a longer one.
    first.penalize("ws1", 0.1)
    assert first.try_acquire("ws1")[1] > 1.4


def test_threads_never_exceed_the_rate_at_the_server(redis_conn, fake_clockify):
    rate = 20
    client = ClockifyClient(hosts=HostPolicy(["127.0.0.1"]), rate_limiter=RateLimiter(redis_conn, rate))
    url = join_url(fake_clockify.api_url, "/v1/workspaces/ws1/tags")
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: client.request("GET", url, workspace_id="ws1", token="t").status,
                                 range(30)))
    assert statuses == [200] * 30
    assert fake_clockify.max_requests_per_window(1.0, workspace_id="ws1") <= rate


HAMMER = textwrap.dedent("""
    import sys
    from concurrent.futures import ThreadPoolExecutor
    import redis
    from addon.clockify.client import ClockifyClient
    from addon.clockify.hosts import HostPolicy
    from addon.clockify.ratelimit import RateLimiter
    redis_url, url, rate, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    limiter = RateLimiter(redis.Redis.from_url(redis_url), rate)
    client = ClockifyClient(hosts=HostPolicy(["127.0.0.1"]), rate_limiter=limiter)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: client.request("GET", url, workspace_id="ws1", token="t", wait=None), range(count)))
""")


@pytest.mark.slow
def test_three_processes_share_one_budget(redis_conn, fake_clockify):
    rate, each = 20, 12
    url = join_url(fake_clockify.api_url, "/v1/workspaces/ws1/tags")
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    processes = [subprocess.Popen([sys.executable, "-c", HAMMER, redis_url, url, str(rate), str(each)], cwd=ROOT)
                 for _ in range(3)]
    for process in processes:
        assert process.wait(timeout=60) == 0
    assert len(fake_clockify.requests()) == 3 * each
    assert fake_clockify.max_requests_per_window(1.0, workspace_id="ws1") <= rate


def test_works_on_fakeredis_for_embedded_mode():
    limiter = RateLimiter(fakeredis.FakeRedis(server=fakeredis.FakeServer()), rate=5)
    assert limiter.try_acquire("ws1") == (True, 0.0)
    assert not limiter.try_acquire("ws1")[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of our own on a free port, so the test can stop and restart it."""

    def __init__(self):
        self.port = _free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_falls_back_per_process_when_redis_blinks_and_recovers(private_redis, caplog):
    fallbacks = []
    connection = connect(f"redis://127.0.0.1:{private_redis.port}/0", timeout=0.5)
    limiter = RateLimiter(connection, rate=20, horizon=0.5, fallback_share=0.5, retry_redis_after=0.2,
                          on_fallback=lambda: fallbacks.append(1))
    limiter.acquire("ws1")
    private_redis.stop()

    started = time.monotonic()
    limiter.acquire("ws1", timeout=None)
    acquired = time.monotonic()
    waited = acquired - started
    # The fallback first lets the slots Redis handed out leave the window (1 s + horizon).
    assert waited >= 1.4
    assert fallbacks == [1]
    assert "per-process fallback" in caplog.text
    reserved, wait = limiter.try_acquire("ws1")
    # The local spacing is the shared one divided by the share, less the time this test took
    # to ask (a loaded machine can take tens of milliseconds between the two calls).
    spacing, asked_after = limiter.interval / 0.5, time.monotonic() - acquired
    assert not reserved and spacing - asked_after - 0.02 <= wait <= spacing + 0.02

    private_redis.start()
    time.sleep(0.3)
    limiter.try_acquire("ws2")  # the first call after the retry delay goes to Redis again
    assert "shared limiting resumed" in caplog.text
    # Redis keeps ws1's slots a whole window past the last local one.
    reserved, wait = limiter.try_acquire("ws1")
    assert not reserved and wait > 0.9
    assert fallbacks == [1]
