"""``python worker.py`` as a real process: with no argument it listens on every queue, highest
priority first; SIGTERM is a warm shutdown (the running job finishes, or fails into its retry when
it outlasts the grace period); job metrics recorded in the parent survive the forked horse."""

from __future__ import annotations

import os
import time

import pytest
from rq import Retry, Worker
from rq.job import Job

from addon.metrics import SharedMetricsCollector
from addon.queueing import enqueue, get_redis
from addon.testkit import processes

QUEUES_BY_PRIORITY = ["high", "default", "bootstrap"]


@pytest.fixture
def worker_variables(base_overrides):
    """Production with exactly the required variables: the worker needs nothing else."""
    database = os.environ.get("TEST_DATABASE_URL", "")
    return {
        "ADDON_ENV": "production",
        "BASE_URL": "https://addon.example.com",
        "DATABASE_URL": database if database.startswith("postgres") else processes.UNREACHABLE_POSTGRES,
        "REDIS_URL": base_overrides["REDIS_URL"],
        "TOKEN_ENCRYPTION_KEY": base_overrides["TOKEN_ENCRYPTION_KEY"],
    }


@pytest.fixture
def start_worker(worker_variables, tmp_path):
    """Starts ``python worker.py [args]``; stops whatever is left at the end."""
    started = []

    def start(*args):
        log_path = tmp_path / f"worker-{len(started)}.log"
        log = open(log_path, "wb")
        process = processes.start("worker", worker_variables, tmp_path, *args, stdout=log)
        process.log_path = log_path
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        processes.stop(process, timeout=30)
        log.close()


def _wait(condition, process, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"worker exited with {process.returncode}"
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.slow
def test_no_argument_means_every_queue_highest_priority_first(ctx, start_worker):
    redis = get_redis()
    for name in reversed(QUEUES_BY_PRIORITY):  # lowest priority enqueued first
        enqueue(name, "addon.testkit.jobs.record", "order", name)
    worker = start_worker()

    _wait(lambda: redis.llen("order") == 3, worker)
    assert [v.decode() for v in redis.lrange("order", 0, -1)] == QUEUES_BY_PRIORITY
    registered = Worker.all(connection=redis)
    assert [w.queue_names() for w in registered] == [QUEUES_BY_PRIORITY]

    # Jobs ran in forked horses; the parent counted each outcome in Redis once the horse was done.
    _wait(lambda: sum(_job_counts(redis).values()) >= 3, worker)
    assert _job_counts(redis) == {("record", "finished"): 3.0}
    assert processes.stop(worker) == 0


def _job_counts(redis) -> dict[tuple, float]:
    return {tuple(s.labels.values()): s.value for family in SharedMetricsCollector(redis).collect()
            if family.name == "addon_jobs" for s in family.samples}


@pytest.mark.slow
@pytest.mark.parametrize(("args", "forks"), [((), True), (("--no-fork",), False)])
def test_no_fork_runs_jobs_in_the_worker_process(ctx, start_worker, args, forks):
    redis = get_redis()
    worker = start_worker(*args, "high")
    for _ in range(2):
        enqueue("high", "addon.testkit.jobs.record_pid", "pids")
    _wait(lambda: redis.llen("pids") == 2, worker)
    pids = {int(v) for v in redis.lrange("pids", 0, -1)}
    # `processes.start` runs the worker itself, so its pid is the worker's.
    assert (worker.pid not in pids) is forks
    if not forks:
        assert pids == {worker.pid}
    _wait(lambda: _job_counts(redis).get(("record_pid", "finished")) == 2.0, worker)
    assert processes.stop(worker) == 0


@pytest.mark.slow
def test_arguments_choose_the_queues(ctx, start_worker):
    redis = get_redis()
    worker = start_worker("bootstrap", "high")
    # Idle = waiting for a job: RQ installs its SIGTERM handler only after registering the worker.
    _wait(lambda: [w.state for w in Worker.all(connection=redis)] == ["idle"], worker)
    assert Worker.all(connection=redis)[0].queue_names() == ["high", "bootstrap"]
    assert processes.stop(worker) == 0


@pytest.mark.slow
def test_sigterm_lets_the_running_job_finish(ctx, start_worker):
    redis = get_redis()
    job = enqueue("default", "addon.testkit.jobs.sleep_then_record", 1.5, "warm", "done")
    worker = start_worker()
    _wait(lambda: redis.llen("warm:started") == 1, worker)

    assert processes.stop(worker) == 0  # SIGTERM, then wait for the exit
    assert job.get_status(refresh=True) == "finished"
    assert redis.lrange("warm", 0, -1) == [b"done"]


@pytest.mark.slow
def test_sigterm_fails_a_long_job_into_its_retry(ctx, start_worker):
    """Past the grace period (RQ's HerokuWorker: 6 s) the job is interrupted and retried, not lost."""
    redis = get_redis()
    job = enqueue("default", "addon.testkit.jobs.sleep_then_record", 60, "long", "done", retry=Retry(max=1))
    worker = start_worker()
    _wait(lambda: redis.llen("long:started") == 1, worker)

    assert processes.stop(worker, timeout=30) == 0
    job = Job.fetch(job.id, connection=redis)
    assert job.get_status() == "queued" and job.retries_left == 0  # back on its queue for the next worker
    assert redis.lrange("long", 0, -1) == []
    log = worker.log_path.read_text()
    assert "warm shut down requested" in log and "ShutDownImminentException" in log
