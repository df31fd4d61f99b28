"""Fixtures of the lifecycle tests: a Clockify simulator on the test client, and queue helpers."""

from __future__ import annotations

import pytest
from rq.job import Job

from addon import create_app
from addon.queueing import get_queue
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator


@pytest.fixture
def kit(app, client, signer):
    """Plays Clockify against the session app."""
    return ClockifySimulator(signer, FlaskTransport(client))


@pytest.fixture
def app_with(app, base_overrides):
    """Build another app on the same database and Redis with some settings changed."""
    def build(**overrides):
        return create_app({**base_overrides, **{k: str(v) for k, v in overrides.items()}})
    return build


@pytest.fixture
def queued(app, redis_conn):
    """``queued(name)``: the jobs waiting on queue ``name`` as (id, func_name, args)."""
    def jobs(name: str) -> list[tuple[str, str, tuple]]:
        with app.app_context():
            queue = get_queue(name)
            return [(j.id, j.func_name, j.args) for j in
                    (Job.fetch(i, connection=queue.connection) for i in queue.job_ids)]
    return jobs
