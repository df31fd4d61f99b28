"""Per-workspace Clockify rate limit shared by every process: GCRA with reservations, in Redis.

Clockify allows ``RATE_LIMIT_RPS`` (50) requests per second per add-on per workspace, and the
budget is strict: no sliding one-second window may hold more. So requests are spaced evenly,
never bursted: one Lua script keeps, per workspace, the time of the next free slot (Redis
server time, so clock skew between dynos does not matter) and hands slots out one emission
interval apart. A caller that may wait *reserves* the next slot (if it is at most ``horizon``
seconds away) and sleeps until it: waiting callers are served first come, first served, and no
slot is lost to callers waking late. A caller that may not wait (API Studio) gets a slot only
when one is free now.

Why a Lua script and not the ``limits`` library: ``limits`` offers fixed and moving windows and
a sliding-window counter, all of which admit a whole second's budget at once (a burst of 50 on
top of a full previous second breaks the strict window), it has no blocking acquire or
reservation, its moving window reads the client's clock, and it has no way to push everyone back
after an upstream 429.

Safety margin: the interval is ``(1 + margin) / rate`` (margin 10%: 45.5 requests/s for 50), so
requests still fit the strict window at Clockify when each arrives up to ~100 ms later or earlier
than its slot (network and scheduling jitter). A caller that wakes more than ``late_tolerance``
(20 ms) after its slot gives the slot up and reserves another, so a descheduled thread cannot
crowd the slots after its own.

Upstream 429: ``penalize`` pushes the workspace's next slot to now + Retry-After for everyone.

Redis unreachable: each process falls back to its own limiter at ``fallback_share`` of the rate
(10%: safe while at most 10 processes call Clockify for one workspace at once; in practice the
RQ workers stop taking jobs without Redis, leaving the web processes). It first waits one
window plus the reservation horizon, so slots already handed out by Redis are out of the window
before its own; when Redis answers again, the workspace is pushed back the same way before
Redis hands out slots. Each switch is logged and counted (``on_fallback``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .client_errors import RateLimitExceeded

log = logging.getLogger(__name__)

__all__ = ["RateLimiter", "RateLimitExceeded", "connect"]

WINDOW_SECONDS = 1.0

# KEYS[1]: the workspace's next free slot, in microseconds of Redis server time.
# ARGV[1]: emission interval (us); ARGV[2]: longest wait the caller accepts for a reservation
# (us); ARGV[3]: penalty (us; > 0 pushes the next slot to now + penalty and reserves nothing).
# Returns {1 if a slot was reserved, microseconds until that slot (or until the next free one)}.
GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local penalty = tonumber(ARGV[3])
if penalty > 0 then
  if now + penalty > slot then
    slot = now + penalty
    redis.call('SET', KEYS[1], string.format('%.0f', slot), 'PX', math.ceil((slot - now) / 1000) + 1000)
  end
  return {0, slot - now}
end
local wait = slot - now
if wait > tonumber(ARGV[2]) then return {0, wait} end
local following = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', following), 'PX', math.ceil((following - now) / 1000) + 1000)
return {1, wait}
"""


def connect(redis_url: str, timeout: float = 1.0) -> redis.Redis:
    """A Redis client for the limiter: short timeouts and one immediate retry, so an unreachable
    Redis sends callers to the fallback within about ``2 * timeout`` (redis-py's default retries
    back off for seconds)."""
    return redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 1))


class RateLimiter:
    """Hands out Clockify request slots per workspace; one instance per process.

    :param connection: a Redis client of its own with short timeouts (see ``connect``).
    :param rate: requests per second per workspace (``RATE_LIMIT_RPS``).
    """

    def __init__(self, connection: redis.Redis, rate: float, *, margin: float = 0.1, horizon: float = 2.0,
                 late_tolerance: float = 0.02, fallback_share: float = 0.1, retry_redis_after: float = 1.0,
                 key_prefix: str = "addon:ratelimit:",
                 on_fallback: Callable[[], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0 or not 0 < fallback_share <= 1 or margin < 0 or horizon <= 0:
            raise ValueError("rate, margin, horizon and fallback_share must be positive (share at most 1)")
        self.connection = connection
        self.rate = rate
        self.interval = (1.0 + margin) / rate
        self.horizon = horizon
        self.late_tolerance = late_tolerance
        self.key_prefix = key_prefix
        self.on_fallback = on_fallback or (lambda: None)
        self.clock, self.sleep = clock, sleep
        self._script = connection.register_script(GCRA_SCRIPT)
        self._fallback = _LocalLimiter(self.interval / fallback_share, clock)
        self._retry_redis_after = retry_redis_after
        self._lock = threading.Lock()
        self._redis_down_until: float | None = None  # set while in fallback mode

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, interval={self.interval:.4f}s, horizon={self.horizon}s)"

    def try_acquire(self, workspace_id: str, max_wait: float = 0.0) -> tuple[bool, float]:
        """Reserve the workspace's next slot if it comes within ``max_wait`` seconds (capped at
        the horizon).

        :return: (reserved, seconds until the slot). When reserved, the caller must sleep that
            long before sending; when not, it is how long until a slot frees up.
        """
        max_wait = min(max(max_wait, 0.0), self.horizon)
        return self._call(workspace_id, self.interval, max_wait, 0.0)

    def acquire(self, workspace_id: str, timeout: float | None = 30.0) -> float:
        """Wait for a slot of ``workspace_id`` and return the seconds waited.

        :param timeout: the longest wait (0 = take a slot only if one is free now; None = no limit).
        :raise RateLimitExceeded: when no slot comes within ``timeout`` (``retry_after`` = when one will).
        """
        started = self.clock()
        deadline = None if timeout is None else started + timeout
        while True:
            asked = self.clock()
            remaining = float("inf") if deadline is None else deadline - asked
            reserved, wait = self.try_acquire(workspace_id, remaining)
            if reserved:
                if wait > 0:
                    self.sleep(wait)
                # A slot used late would crowd the next ones inside a window: if this thread was
                # descheduled past its slot, let the slot go and take a new one.
                if self.clock() - (asked + wait) <= self.late_tolerance:
                    return self.clock() - started
                continue
            if wait > remaining:
                raise RateLimitExceeded(wait)
            # The slot is beyond the reservation horizon (a long penalty or a long queue):
            # come back when it is within reach.
            self.sleep(max(wait - self.horizon / 2, 0.001))

    def penalize(self, workspace_id: str, seconds: float) -> None:
        """Push every process's next slot of ``workspace_id`` to now + ``seconds`` (upstream 429)."""
        if seconds > 0:
            self._call(workspace_id, self.interval, 0.0, seconds)

    def _call(self, workspace_id: str, interval: float, max_wait: float, penalty: float) -> tuple[bool, float]:
        if self._use_redis():
            try:
                reserved, wait_us = self._script(keys=[self.key_prefix + workspace_id],
                                                 args=[int(interval * 1e6), int(max_wait * 1e6), int(penalty * 1e6)])
            except redis.RedisError as exc:
                self._enter_fallback(exc)
            else:
                self._leave_fallback_if_needed()
                return bool(reserved), wait_us / 1e6
        if penalty > 0:
            self._fallback.penalize(workspace_id, penalty)
            return False, penalty
        return self._fallback.reserve(workspace_id, max_wait)

    def _use_redis(self) -> bool:
        with self._lock:
            return self._redis_down_until is None or self.clock() >= self._redis_down_until

    def _enter_fallback(self, exc: Exception) -> None:
        with self._lock:
            entering = self._redis_down_until is None
            self._redis_down_until = self.clock() + self._retry_redis_after
            if entering:
                # Redis may have handed out slots up to the horizon ahead: wait a whole window
                # past them before the local limiter hands out its own.
                self._fallback.start(cooldown=WINDOW_SECONDS + self.horizon)
        if entering:
            log.warning("rate limiter: Redis unreachable (%s); per-process fallback at %.2f requests/s "
                        "per workspace", type(exc).__name__, 1.0 / self._fallback.interval)
            self.on_fallback()

    def _leave_fallback_if_needed(self) -> None:
        with self._lock:
            if self._redis_down_until is None:
                return
            self._redis_down_until = None
            pushback = self._fallback.stop()
        # The local limiter's slots are unknown to Redis: keep Redis's next slots a whole window
        # past the last local one.
        for workspace_id, seconds in pushback.items():
            try:
                self._script(keys=[self.key_prefix + workspace_id], args=[int(self.interval * 1e6), 0,
                                                                          int((seconds + WINDOW_SECONDS) * 1e6)])
            except redis.RedisError:
                log.warning("rate limiter: could not push back workspace after Redis recovered")
        log.warning("rate limiter: Redis reachable again; shared limiting resumed")


class _LocalLimiter:
    """The per-process fallback: the same reservation scheme on this process's clock."""

    def __init__(self, interval: float, clock: Callable[[], float]):
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._earliest = 0.0

    def start(self, cooldown: float) -> None:
        with self._lock:
            self._next.clear()
            self._earliest = self.clock() + cooldown

    def stop(self) -> dict[str, float]:
        """Forget local state; return, per workspace, seconds until its last local slot passes."""
        with self._lock:
            now = self.clock()
            pending = {ws: max(0.0, slot - now) for ws, slot in self._next.items()}
            self._next.clear()
            return pending

    def reserve(self, workspace_id: str, max_wait: float) -> tuple[bool, float]:
        with self._lock:
            now = self.clock()
            slot = max(self._next.get(workspace_id, 0.0), self._earliest, now)
            wait = slot - now
            if wait > max_wait:
                return False, wait
            self._next[workspace_id] = slot + self.interval
            return True, wait

    def penalize(self, workspace_id: str, seconds: float) -> None:
        with self._lock:
            now = self.clock()
            self._next[workspace_id] = max(self._next.get(workspace_id, 0.0), now + seconds)
