"""Bootstrap runs (``bootstrap_runs``) and their per-listing checkpoints (``bootstrap_checkpoints``).

A run's progress is the sum of its checkpoint rows: one row per listing, upserted with the
entities of each page in one transaction, so the threads of a run never contend on one row.
Callers commit. Nothing here knows about HTTP: views turn ``RunSummary`` into bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db, execute_dml
from ..models import (
    ACTIVE_RUN_STATUSES,
    BootstrapCheckpoint,
    BootstrapRun,
    BootstrapRunStatus,
    CheckpointState,
    Installation,
    InstallationStatus,
    utcnow,
)

FINAL_STATUSES = (BootstrapRunStatus.COMPLETED, BootstrapRunStatus.FAILED, BootstrapRunStatus.CANCELLED)
_INSERT: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {"postgresql": postgresql.insert,
                                                                     "sqlite": sqlite.insert}


@dataclass(frozen=True)
class Checkpoint:
    """Where one listing stands: the next page to fetch, the items stored, its state."""

    next_page: int = 1
    items: int = 0
    state: CheckpointState | None = None

    @property
    def settled(self) -> bool:
        return self.state in (CheckpointState.DONE, CheckpointState.FAILED)


@dataclass(frozen=True)
class RunSummary:
    """A run with its progress summed from the checkpoints."""

    run: BootstrapRun
    operations_done: int
    items_stored: int
    errors: list[dict]


def create(workspace_id: str, trigger: str, *, sources: list[str] | None = None,
           request_id: str | None = None) -> BootstrapRun:
    """A new ``pending`` run (flushed, not committed); ``sources`` None lists everything."""
    run = BootstrapRun(workspace_id=workspace_id, trigger=trigger, status=BootstrapRunStatus.PENDING.value,
                       sources=sources, request_id=request_id, errors=[], operations_total=0, resumes=0)
    db.session.add(run)
    db.session.flush()
    return run


def get(run_id: int) -> BootstrapRun | None:
    """The run, read afresh (never from the session's identity map)."""
    return db.session.get(BootstrapRun, run_id, populate_existing=True)


def require(run_id: int) -> BootstrapRun:
    """``get`` for a run that must exist. :raise LookupError: when it is gone (purged)."""
    run = get(run_id)
    if run is None:
        raise LookupError(f"bootstrap run {run_id} is gone")
    return run


def latest(workspace_id: str) -> BootstrapRun | None:
    """The most recent run of ``workspace_id``."""
    return db.session.execute(
        db.select(BootstrapRun).where(BootstrapRun.workspace_id == workspace_id)
        .order_by(BootstrapRun.id.desc()).limit(1).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def active(workspace_id: str) -> BootstrapRun | None:
    """The pending, running or waiting run of ``workspace_id``, if any."""
    return db.session.execute(
        db.select(BootstrapRun).where(BootstrapRun.workspace_id == workspace_id,
                                      BootstrapRun.status.in_(ACTIVE_RUN_STATUSES))
        .order_by(BootstrapRun.id.desc()).limit(1).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def unattended(cutoff: datetime) -> list[BootstrapRun]:
    """Active runs no job has touched since ``cutoff`` (waiting ones only once their
    ``resume_at`` is also before it)."""
    last_seen = sa.func.coalesce(BootstrapRun.heartbeat_at, BootstrapRun.created_at)
    return list(db.session.execute(
        db.select(BootstrapRun).where(
            BootstrapRun.status.in_(ACTIVE_RUN_STATUSES), last_seen < cutoff,
            (BootstrapRun.status != BootstrapRunStatus.WAITING.value) | (BootstrapRun.resume_at < cutoff))
        .order_by(BootstrapRun.id).execution_options(populate_existing=True)).scalars())


def summary(run: BootstrapRun) -> RunSummary:
    """``run`` with its progress: listings settled, items stored, errors (the run's, then the
    failed listings')."""
    done, items = db.session.execute(
        sa.select(sa.func.count().filter(BootstrapCheckpoint.state != CheckpointState.RUNNING.value),
                  sa.func.coalesce(sa.func.sum(BootstrapCheckpoint.items), 0))
        .where(BootstrapCheckpoint.run_id == run.id)).one()
    failed = db.session.execute(
        sa.select(BootstrapCheckpoint.error).where(BootstrapCheckpoint.run_id == run.id,
                                                   BootstrapCheckpoint.error.is_not(None))
        .order_by(BootstrapCheckpoint.updated_at, BootstrapCheckpoint.id)).scalars()
    return RunSummary(run, int(done), int(items), list(run.errors or []) + list(failed))


def checkpoints(run_id: int) -> dict[str, Checkpoint]:
    """Every checkpoint of the run by listing key."""
    rows = db.session.execute(sa.select(BootstrapCheckpoint.op_key, BootstrapCheckpoint.next_page,
                                        BootstrapCheckpoint.items, BootstrapCheckpoint.state)
                              .where(BootstrapCheckpoint.run_id == run_id)).all()
    return {key: Checkpoint(page, items, CheckpointState(state)) for key, page, items, state in rows}


def save_checkpoint(run_id: int, workspace_id: str, op_key: str, source: str, checkpoint: Checkpoint,
                    error: dict | None = None) -> None:
    """Insert or move the checkpoint of one listing (one statement)."""
    if checkpoint.state is None:
        raise ValueError("a checkpoint is saved with its state")
    connection = db.session.connection()
    insert = _INSERT[connection.dialect.name](BootstrapCheckpoint.__table__)
    values = {"next_page": checkpoint.next_page, "items": checkpoint.items, "state": checkpoint.state.value,
              "error": sa.null() if error is None else error, "updated_at": utcnow()}
    connection.execute(insert.values(run_id=run_id, workspace_id=workspace_id, op_key=op_key, source=source,
                                     **values)
                       .on_conflict_do_update(index_elements=["run_id", "op_key"], set_=values))


def relax_durability() -> None:
    """Let the current transaction commit without waiting for its WAL flush (PostgreSQL).

    For bootstrap pages only: their entities and checkpoint commit together, so losing the last
    instants of them in a database crash only means fetching those pages again.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))


def start(run_id: int, operations_total: int, window: dict) -> bool:
    """Move a pending run to running with its time-entry window; False if it was not pending."""
    now = utcnow()
    return _update(run_id, (BootstrapRunStatus.PENDING,), status=BootstrapRunStatus.RUNNING.value, started_at=now,
                   heartbeat_at=now, operations_total=operations_total, window_start=window["start"],
                   window_end=window["end"])


def attend(run_id: int, rq_job_id: str | None) -> bool:
    """A job works on the run now: running, heartbeat renewed; False if the run has ended."""
    return _update(run_id, ACTIVE_RUN_STATUSES, status=BootstrapRunStatus.RUNNING.value, heartbeat_at=utcnow(),
                   resume_at=None, rq_job_id=rq_job_id)


def heartbeat(run_id: int) -> None:
    """Renew the heartbeat of the job working on the run."""
    _update(run_id, ACTIVE_RUN_STATUSES, heartbeat_at=utcnow())


def hand_over(run_id: int, rq_job_id: str, resume_at: datetime | None = None, *, resumed: bool = False) -> None:
    """Record the job that continues the run; with ``resume_at`` the run is ``waiting`` until then."""
    values: dict = {"rq_job_id": rq_job_id, "heartbeat_at": utcnow()}
    if resume_at is not None:
        values.update(status=BootstrapRunStatus.WAITING.value, resume_at=resume_at)
    if resumed:
        values["resumes"] = BootstrapRun.resumes + 1
    _update(run_id, ACTIVE_RUN_STATUSES, **values)


def add_operations(run_id: int, count: int) -> None:
    """Count ``count`` more listings (dependents found) in the run's total."""
    _update(run_id, ACTIVE_RUN_STATUSES, operations_total=BootstrapRun.operations_total + count)


def add_error(run_id: int, error: dict) -> None:
    """Append a run-level ``error`` (``{"operation", "status", "message"}``): rare, whole-run events."""
    run = get(run_id)
    if run is not None:
        run.errors = [*(run.errors or []), error]


def finish(run_id: int, status: BootstrapRunStatus) -> bool:
    """End an active run as ``completed``, ``failed`` or ``cancelled``; False if it had ended."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"not a final status: {status!r}")
    return _update(run_id, ACTIVE_RUN_STATUSES, status=status.value, finished_at=utcnow(), resume_at=None)


def cancel_active(workspace_id: str) -> int:
    """Cancel the active runs of ``workspace_id``; returns how many."""
    result = execute_dml(
        sa.update(BootstrapRun).where(BootstrapRun.workspace_id == workspace_id,
                                      BootstrapRun.status.in_(ACTIVE_RUN_STATUSES))
        .values(status=BootstrapRunStatus.CANCELLED.value, finished_at=utcnow(), resume_at=None,
                updated_at=utcnow()))
    return result.rowcount


def forget_older(workspace_id: str, run_id: int, source: str) -> int:
    """Drop the checkpoints of ``source`` left by runs before ``run_id`` (which listed it in
    full), so the table holds about one run per workspace; returns how many went."""
    return execute_dml(sa.delete(BootstrapCheckpoint).where(
        BootstrapCheckpoint.workspace_id == workspace_id, BootstrapCheckpoint.source == source,
        BootstrapCheckpoint.run_id < run_id)).rowcount


def last_listed(workspace_id: str) -> dict[str, datetime]:
    """Per source, when a run last finished listing it in full."""
    rows = db.session.execute(
        sa.select(BootstrapCheckpoint.source, sa.func.max(BootstrapCheckpoint.updated_at))
        .where(BootstrapCheckpoint.workspace_id == workspace_id,
               BootstrapCheckpoint.state == CheckpointState.DONE.value)
        .group_by(BootstrapCheckpoint.source)).all()
    return dict(rows)


def due_for_refresh(cutoff: datetime) -> list[str]:
    """Active installations' workspaces with a completed run, no active one, and no run created
    since ``cutoff``."""
    ever_completed = sa.func.count().filter(BootstrapRun.status == BootstrapRunStatus.COMPLETED.value)
    active_count = sa.func.count().filter(BootstrapRun.status.in_(ACTIVE_RUN_STATUSES))
    rows = db.session.execute(
        sa.select(BootstrapRun.workspace_id)
        .join(Installation, Installation.workspace_id == BootstrapRun.workspace_id)
        .where(Installation.status == InstallationStatus.ACTIVE.value)
        .group_by(BootstrapRun.workspace_id)
        .having(ever_completed > 0, active_count == 0, sa.func.max(BootstrapRun.created_at) < cutoff)).scalars()
    return sorted(rows)


def _update(run_id: int, statuses, **values) -> bool:
    result = execute_dml(
        sa.update(BootstrapRun).where(BootstrapRun.id == run_id, BootstrapRun.status.in_(statuses))
        .values(**values, updated_at=utcnow()))
    return result.rowcount == 1
