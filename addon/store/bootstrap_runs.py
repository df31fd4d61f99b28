"""Bootstrap runs (``bootstrap_jobs``): status, progress, errors and per-operation checkpoints.

Several threads and processes work on one run at once, so progress is written with single
atomic UPDATE statements (counters incremented in SQL, one checkpoint key set with the
database's JSON functions) instead of read-modify-write of the row. Callers commit, usually
together with the entities a page brought.

``checkpoints`` = ``{"window": {"start", "end"}, "ops": {<op key>: {"page", "items", "state"}}}``:
``page`` is the next page to fetch, ``state`` is ``running``, ``done`` or ``failed``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..models import BootstrapJob, isoformat_utc, utcnow

ACTIVE = ("pending", "running")
FINISHED = ("completed", "failed", "cancelled")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9:_.-]{1,200}$")


@dataclass(frozen=True)
class Snapshot:
    """A fresh read of a run (never from the session's identity map)."""

    id: int
    workspace_id: str
    status: str
    checkpoints: dict
    started_at: datetime | None

    @property
    def ops(self) -> dict[str, dict]:
        return self.checkpoints.get("ops") or {}

    @property
    def window(self) -> dict | None:
        return self.checkpoints.get("window")

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def create(workspace_id: str, trigger: str) -> BootstrapJob:
    """A new ``pending`` run (flushed, not committed)."""
    run = BootstrapJob(workspace_id=workspace_id, trigger=trigger, status="pending", checkpoints={}, errors=[])
    db.session.add(run)
    db.session.flush()
    return run


def get(run_id: int) -> BootstrapJob | None:
    return db.session.get(BootstrapJob, run_id, populate_existing=True)


def latest(workspace_id: str) -> BootstrapJob | None:
    """The most recent run of ``workspace_id``."""
    return db.session.execute(
        db.select(BootstrapJob).where(BootstrapJob.workspace_id == workspace_id)
        .order_by(BootstrapJob.id.desc()).limit(1).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def active(workspace_id: str) -> BootstrapJob | None:
    """The pending or running run of ``workspace_id``, if any."""
    return db.session.execute(
        db.select(BootstrapJob).where(BootstrapJob.workspace_id == workspace_id, BootstrapJob.status.in_(ACTIVE))
        .order_by(BootstrapJob.id.desc()).limit(1).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def active_runs() -> list[Snapshot]:
    """Every pending or running run."""
    rows = db.session.execute(_snapshot_query().where(BootstrapJob.status.in_(ACTIVE))).all()
    return [Snapshot(*row) for row in rows]


def snapshot(run_id: int) -> Snapshot | None:
    row = db.session.execute(_snapshot_query().where(BootstrapJob.id == run_id)).one_or_none()
    return Snapshot(*row) if row is not None else None


def op_state(run_id: int, key: str) -> dict:
    """The checkpoint of one operation (``{}`` if it has none), read without loading the rest."""
    if not _SAFE_KEY.match(key):
        raise ValueError(f"unsafe checkpoint key {key!r}")
    if db.session.get_bind().dialect.name == "postgresql":
        value = db.session.execute(sa.text("SELECT checkpoints -> 'ops' -> :key FROM bootstrap_jobs WHERE id = :id"),
                                   {"key": key, "id": run_id}).scalar()
    else:
        value = db.session.execute(
            sa.text("SELECT json_extract(checkpoints, :path) FROM bootstrap_jobs WHERE id = :id"),
            {"path": f'$.ops."{key}"', "id": run_id}).scalar()
        value = json.loads(value) if value else None
    return value if isinstance(value, dict) else {}


def relax_durability() -> None:
    """Let the current transaction commit without waiting for its WAL flush (PostgreSQL).

    For bootstrap pages only: their entities and checkpoint commit together, so losing the last
    instants of them in a database crash only means fetching those pages again.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))


def _snapshot_query():
    return sa.select(BootstrapJob.id, BootstrapJob.workspace_id, BootstrapJob.status, BootstrapJob.checkpoints,
                     BootstrapJob.started_at)


def status_body(run: BootstrapJob | None) -> dict:
    """The answer of ``GET /bootstrap/status`` for ``run`` (``status: none`` without one)."""
    if run is None:
        return {"status": "none", "operations_total": 0, "operations_done": 0, "items_stored": 0, "errors": [],
                "started_at": None, "finished_at": None}
    return {"status": run.status, "operations_total": run.operations_total, "operations_done": run.operations_done,
            "items_stored": run.items_stored, "errors": list(run.errors or []),
            "started_at": isoformat_utc(run.started_at), "finished_at": isoformat_utc(run.finished_at)}


def start(run_id: int, operations_total: int, window: dict) -> bool:
    """Move a pending run to running with its checkpoint skeleton; False if it was not pending."""
    result = db.session.execute(
        sa.update(BootstrapJob).where(BootstrapJob.id == run_id, BootstrapJob.status == "pending")
        .values(status="running", started_at=utcnow(), operations_total=operations_total,
                checkpoints={"window": window, "ops": {}}, updated_at=utcnow()))
    return result.rowcount == 1


def add_operations(run_id: int, count: int) -> None:
    """Count ``count`` more operations (dependents found) in the run's total."""
    db.session.execute(sa.update(BootstrapJob).where(BootstrapJob.id == run_id)
                       .values(operations_total=BootstrapJob.operations_total + count, updated_at=utcnow()))


def record_op(run_id: int, key: str, state: dict, *, items: int = 0, settled: bool = False,
              error: dict | None = None) -> None:
    """Set the checkpoint of operation ``key``, add ``items`` stored, count it done when
    ``settled`` and append ``error``: one atomic statement."""
    if not _SAFE_KEY.match(key):
        raise ValueError(f"unsafe checkpoint key {key!r}")
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        checkpoints = "jsonb_set(checkpoints, CAST(:path AS text[]), CAST(:state AS jsonb), true)"
        errors = "errors || CAST(:error AS jsonb)"
        params = {"path": "{ops," + key + "}", "error": json.dumps([error] if error else [])}
    else:
        checkpoints = "json_set(checkpoints, :path, json(:state))"
        errors = "CASE WHEN :error IS NULL THEN errors ELSE json_insert(errors, '$[#]', json(:error)) END"
        params = {"path": f'$.ops."{key}"', "error": json.dumps(error) if error else None}
    db.session.execute(_timestamped(
        f"UPDATE bootstrap_jobs SET checkpoints = {checkpoints}, errors = {errors}, "
        "items_stored = items_stored + :items, operations_done = operations_done + :settled, updated_at = :now "
        "WHERE id = :id"),
        {**params, "state": json.dumps(state), "items": items, "settled": int(settled), "now": utcnow(),
         "id": run_id})


def add_error(run_id: int, error: dict) -> None:
    """Append ``error`` (``{"operation", "status", "message"}``) to the run's errors."""
    if db.session.get_bind().dialect.name == "postgresql":
        statement, value = "errors || CAST(:error AS jsonb)", json.dumps([error])
    else:
        statement, value = "json_insert(errors, '$[#]', json(:error))", json.dumps(error)
    db.session.execute(
        _timestamped(f"UPDATE bootstrap_jobs SET errors = {statement}, updated_at = :now WHERE id = :id"),
        {"error": value, "now": utcnow(), "id": run_id})


def finish(run_id: int, status: str) -> bool:
    """End an active run as ``completed``, ``failed`` or ``cancelled``; False if it had ended."""
    if status not in FINISHED:
        raise ValueError(f"not a final status: {status!r}")
    result = db.session.execute(
        sa.update(BootstrapJob).where(BootstrapJob.id == run_id, BootstrapJob.status.in_(ACTIVE))
        .values(status=status, finished_at=utcnow(), updated_at=utcnow()))
    return result.rowcount == 1


def cancel_active(workspace_id: str) -> int:
    """Cancel the active runs of ``workspace_id``; returns how many."""
    result = db.session.execute(
        sa.update(BootstrapJob).where(BootstrapJob.workspace_id == workspace_id, BootstrapJob.status.in_(ACTIVE))
        .values(status="cancelled", finished_at=utcnow(), updated_at=utcnow()))
    return result.rowcount


def _timestamped(sql: str) -> sa.TextClause:
    """``sql`` with ``:now`` bound as the models' DateTime, so both dialects store it their way."""
    return sa.text(sql).bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)))

