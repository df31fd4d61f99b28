"""Redis-side coordination of the jobs ("parts") working on one bootstrap run.

* Each part holds a lease (``part:<token>``, a few seconds, renewed by its heartbeat) and keeps
  the run's ``alive`` key fresh. A SIGKILLed part simply stops renewing.
* Parts claim operations before working on them (``claims``: op key -> part token). A claim whose
  owner's lease has expired may be taken over: that is how a surviving or resumed part picks up
  the operations of a dead one, from their checkpoints.
* ``jobs`` lists the RQ job ids enqueued for the run, so the sweep can tell a run waiting in a
  queue from an abandoned one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import redis
from rq.job import Job, JobStatus

from ..models import as_utc

PREFIX = "addon:bootstrap:"
LEASE_SECONDS = 6.0
KEY_TTL_SECONDS = 24 * 3600
WAITING_STATUSES = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}

# KEYS[1]: claims hash. ARGV: op key, my token, lease key prefix, hash TTL (ms).
_CLAIM = """
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[2] and redis.call('EXISTS', ARGV[3] .. owner) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


class RunCoordination:
    """Leases, claims and job tracking of bootstrap run ``run_id``."""

    def __init__(self, connection: redis.Redis, run_id: int):
        self.connection = connection
        self.run_id = run_id
        self.base = f"{PREFIX}{run_id}:"
        self._claim = connection.register_script(_CLAIM)

    # -- parts -----------------------------------------------------------------------------
    def join(self) -> str:
        """Start a part: a new token with a fresh lease."""
        token = uuid.uuid4().hex
        self.heartbeat(token)
        return token

    def heartbeat(self, token: str) -> None:
        """Renew the part's lease and the run's ``alive`` mark."""
        ttl = int(LEASE_SECONDS * 1000)
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.set(self.base + "part:" + token, 1, px=ttl)
            pipe.set(self.base + "alive", token, px=ttl)
            pipe.execute()

    def leave(self, token: str) -> None:
        """End a part: its claims become free at once."""
        self.connection.delete(self.base + "part:" + token)

    def any_alive(self) -> bool:
        """True while some part of the run renewed its lease recently."""
        return bool(self.connection.exists(self.base + "alive"))

    # -- claims ----------------------------------------------------------------------------
    def claim(self, op_key: str, token: str) -> bool:
        """Take ``op_key`` for the part ``token`` unless a live part holds it."""
        return bool(self._claim(keys=[self.base + "claims"],
                                args=[op_key, token, self.base + "part:", KEY_TTL_SECONDS * 1000]))

    def held_by_others(self, token: str) -> set[str]:
        """Op keys claimed by other parts whose lease is still alive."""
        claims = {k.decode(): v.decode() for k, v in self.connection.hgetall(self.base + "claims").items()}
        owners = sorted({owner for owner in claims.values() if owner != token})
        if not owners:
            return set()
        with self.connection.pipeline(transaction=False) as pipe:
            for owner in owners:
                pipe.exists(self.base + "part:" + owner)
            alive = {owner for owner, live in zip(owners, pipe.execute(), strict=True) if live}
        return {key for key, owner in claims.items() if owner in alive}

    # -- jobs ------------------------------------------------------------------------------
    def track_job(self, job_id: str) -> None:
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.sadd(self.base + "jobs", job_id)
            pipe.expire(self.base + "jobs", KEY_TTL_SECONDS)
            pipe.execute()

    def has_waiting_job(self) -> bool:
        """True when a job of the run is queued, scheduled or deferred, or started less than a
        lease ago (it may not have joined yet): it will work on the run."""
        ids = [i.decode() for i in self.connection.smembers(self.base + "jobs")]
        recently = datetime.now(UTC) - timedelta(seconds=LEASE_SECONDS)
        for job in Job.fetch_many(ids, connection=self.connection):
            if job is None:
                continue
            status = job.get_status(refresh=False)
            if status in WAITING_STATUSES or (status == JobStatus.STARTED and job.started_at is not None
                                              and as_utc(job.started_at) > recently):
                return True
        return False

    def next_resume(self) -> int:
        """Count one more resume of the run; returns the count."""
        key = self.base + "resumes"
        count = self.connection.incr(key)
        self.connection.expire(key, KEY_TTL_SECONDS)
        return int(count)

    def finalize_lock(self) -> bool:
        """True for the one part that may finalize the run."""
        return bool(self.connection.set(self.base + "finalize", 1, nx=True, ex=30))

    def forget(self) -> None:
        """Drop the run's coordination keys (it has ended)."""
        keys = list(self.connection.scan_iter(match=self.base + "*", count=200))
        if keys:
            self.connection.delete(*keys)


