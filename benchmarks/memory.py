"""Resident memory of the benchmarked processes."""

from __future__ import annotations

import subprocess

from .stack import children, rss_mib


def web(master: subprocess.Popen) -> dict:
    """RSS of a gunicorn master and of each of its workers, MiB."""
    workers = [round(rss_mib(pid), 1) for pid in children(master.pid)]
    return {"master_mib": round(rss_mib(master.pid), 1), "workers_mib": workers,
            "max_worker_mib": max(workers, default=0.0)}


def rq_worker(process: subprocess.Popen) -> float:
    """RSS of one ``python worker.py`` (the long-lived parent; horses come and go per job), MiB."""
    return round(rss_mib(process.pid), 1)
