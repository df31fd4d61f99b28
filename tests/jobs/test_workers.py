"""Worker plumbing the jobs rely on: periodic sweeps, and timed jobs on the embedded thread worker."""

import threading

from addon import workers
from addon.queueing import enqueue, get_queue, get_redis


def test_jobs_with_a_timeout_run_on_a_worker_thread(jobs_ctx):
    job = enqueue("high", "time.sleep", 0, job_timeout=30)
    worker = workers._ThreadWorker([get_queue("high")], connection=get_redis(), app=jobs_ctx)
    thread = threading.Thread(target=worker.work, kwargs={"burst": True, "logging_level": "WARNING"})
    thread.start()
    thread.join(30)
    assert job.get_status(refresh=True) == "finished"


SWEPT = []


def record_sweep():
    SWEPT.append("swept")


def test_a_failing_sweep_does_not_stop_the_others(jobs_ctx, monkeypatch):
    monkeypatch.setattr(workers, "SWEEPS", ("addon.jobs.bootstrap.no_such_sweep", f"{__name__}.record_sweep"))
    workers.run_sweeps()
    assert SWEPT == ["swept"]


def test_workers_run_the_bootstrap_sweeps_during_maintenance(jobs_ctx):
    from rq.utils import import_attribute

    assert {"addon.jobs.bootstrap.resume_unattended", "addon.jobs.bootstrap.schedule_refreshes"} <= set(workers.SWEEPS)
    assert all(callable(import_attribute(dotted)) for dotted in workers.SWEEPS)
    worker = workers.AppWorker([get_queue("high")], connection=get_redis(), app=jobs_ctx)
    assert worker.maintenance_interval == workers.MAINTENANCE_SECONDS
    assert worker.worker_ttl - 15 == workers.MAINTENANCE_SECONDS  # idle workers wake to sweep
