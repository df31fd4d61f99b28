"""CPU time spent by the processes of a load run, read from ``/proc`` before and after it: what
each delivery costs, per kind of process, on a machine where they all share the same cores."""

from __future__ import annotations

import os
from collections.abc import Iterable

import sqlalchemy as sa

TICKS = os.sysconf("SC_CLK_TCK")


def seconds(pid: int, with_reaped_children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (every thread); with ``with_reaped_children``, plus
    its children that have exited (an RQ worker's horses). 0 when the process is gone."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")" closing the command name: state is field 0, utime 11, stime 12, cutime 13, cstime 14.
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS


def total(pids: Iterable[int], with_children: bool = False) -> float:
    """CPU seconds of ``pids``; with ``with_children``, plus their children, live (an RQ worker's
    lingering horse) or exited."""
    if not with_children:
        return sum(seconds(pid) for pid in pids)
    return sum(seconds(pid, True) + sum(seconds(child, True) for child in _children(pid)) for pid in pids)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def database_backends(engine: sa.Engine) -> list[int]:
    """PostgreSQL server processes connected to the benchmark database (except this one's)."""
    with engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )).scalars())


class Meter:
    """CPU seconds of named groups of processes between ``start()`` and ``stop()``."""

    def __init__(self, groups: dict[str, tuple[list[int], bool]]):
        """:param groups: name -> (pids, whether to count their children too)."""
        self.groups = groups
        self.before: dict[str, float] = {}

    def start(self) -> None:
        self.before = {name: total(pids, children) for name, (pids, children) in self.groups.items()}

    def stop(self) -> dict[str, float]:
        return {name: round(total(pids, children) - self.before[name], 3)
                for name, (pids, children) in self.groups.items()}
