"""The lifecycle outbox (``lifecycle_outbox``): the jobs each lifecycle state change implies,
added in the change's own transaction, then dispatched to Redis by ``addon.jobs.lifecycle_outbox``."""

from __future__ import annotations

from ..extensions import db
from ..models import LifecycleOutbox, utcnow

LAST_ERROR_MAX_CHARS = 500


def add(workspace_id: str, change: str, steps: list[str]) -> LifecycleOutbox:
    """Add the row of a state change (the caller commits it together with the change)."""
    row = LifecycleOutbox(workspace_id=workspace_id, change=change, steps=list(steps), steps_done=0)
    db.session.add(row)
    return row


def pending(workspace_id: str) -> list[LifecycleOutbox]:
    """``workspace_id``'s rows not fully dispatched, oldest first (their steps must run in order)."""
    return list(db.session.execute(
        db.select(LifecycleOutbox).where(LifecycleOutbox.workspace_id == workspace_id,
                                         LifecycleOutbox.dispatched_at.is_(None))
        .order_by(LifecycleOutbox.id)).scalars())


def workspaces_with_pending() -> list[str]:
    """Workspaces with rows not fully dispatched (maintenance: the sweep is about every workspace)."""
    return list(db.session.execute(
        db.select(LifecycleOutbox.workspace_id).where(LifecycleOutbox.dispatched_at.is_(None))
        .distinct().order_by(LifecycleOutbox.workspace_id)).scalars())


def step_done(row: LifecycleOutbox) -> None:
    """Count one more step done; the row is dispatched after its last (caller commits)."""
    row.steps_done += 1
    row.last_error = None
    if row.steps_done >= len(row.steps):
        row.dispatched_at = utcnow()


def step_failed(row: LifecycleOutbox, error: str) -> None:
    """Remember why the next step could not run (caller commits)."""
    row.last_error = error[:LAST_ERROR_MAX_CHARS]
