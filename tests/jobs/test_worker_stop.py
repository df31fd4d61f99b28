"""SIGTERM between jobs stops the worker. RQ raises ``StopRequested`` from its signal handler,
in whatever code the main thread runs at that moment: a broad ``except`` there swallowed it, and
the worker went back to its dequeue loop and never ended (until the platform's SIGKILL, mid-job
by then). Our own excepts let it through, and whatever swallows it, the worker still stops
before its next job."""

from __future__ import annotations

import signal

import pytest
from rq.job import Job
from rq.worker import WorkerStatus

from addon import workers
from addon.queueing import enqueue, get_queue, get_redis

WORKER: list[workers.AppInProcessWorker] = []


def sigterm_now() -> None:
    """What the SIGTERM handler does when the signal lands in the code calling this."""
    WORKER[0].request_stop(signal.SIGTERM, None)


def _while_reading_a_finished_jobs_status(monkeypatch):
    read_status = Job.get_status

    def get_status(job, *args, **kwargs):
        # The job is over (RQ has set the worker idle) and the worker reads its outcome for the metrics.
        if WORKER[0].get_state() == WorkerStatus.IDLE and not WORKER[0].stop_requested:
            sigterm_now()
        return read_status(job, *args, **kwargs)

    monkeypatch.setattr(Job, "get_status", get_status)


def _while_a_sweep_runs(monkeypatch):
    monkeypatch.setattr(workers, "SWEEPS", (f"{__name__}.sigterm_now",))


def sigterm_in_code_that_swallows_everything() -> None:
    try:
        sigterm_now()
    except Exception:  # what any library's broad except would do with it
        pass


def _where_a_broad_except_swallows_it(monkeypatch):
    monkeypatch.setattr(workers, "SWEEPS", (f"{__name__}.sigterm_in_code_that_swallows_everything",))


@pytest.fixture
def signal_handlers():
    """RQ's worker installs its own SIGTERM and SIGINT handlers; give pytest its own back."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.parametrize("land", [_while_reading_a_finished_jobs_status, _while_a_sweep_runs,
                                  _where_a_broad_except_swallows_it],
                         ids=lambda land: land.__name__.strip("_"))
def test_sigterm_between_jobs_stops_the_worker_before_its_next_job(jobs_ctx, monkeypatch, signal_handlers, land):
    jobs = [enqueue("high", "time.sleep", 0) for _ in range(2)]
    land(monkeypatch)
    worker = workers.AppInProcessWorker([get_queue("high")], connection=get_redis(), app=jobs_ctx)
    WORKER[:] = [worker]
    # Not burst: a worker that missed the stop would wait for more jobs; after 2 idle seconds it
    # quits anyway, so that the test ends either way.
    worker.work(burst=False, max_idle_time=2, logging_level="WARNING")
    assert worker.stop_requested
    assert jobs[1].get_status(refresh=True) == "queued"
