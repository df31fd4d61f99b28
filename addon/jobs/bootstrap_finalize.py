"""The end of a bootstrap run whose listings are all settled.

Entities the run did not see are removed, per source, only when every listing of that source
succeeded (and, for dependents, their parent listing too); time entries only inside the run's
window, since older ones were not listed. A webhook that stored an entity while the run was
listing keeps it. For such a source, the checkpoints earlier runs left are dropped (the table
keeps about one run per workspace). The run is ``completed``, or ``failed`` when every listing
failed.
"""

from __future__ import annotations

import logging

from ..extensions import db
from ..models import BootstrapRun, BootstrapRunStatus, CheckpointState
from ..store import bootstrap_runs, workspace_data
from ..store.bootstrap_runs import Checkpoint
from .bootstrap_plan import PlannedOp, base_ops, dependent_ops, expansions

log = logging.getLogger(__name__)


def finalize(run: BootstrapRun) -> BootstrapRunStatus:
    """Remove what the run proved gone, then end it; returns its final status."""
    done = bootstrap_runs.checkpoints(run.id)
    window = {"start": run.window_start, "end": run.window_end}
    ops = base_ops(run.workspace_id, run.sources)
    by_source: dict[str, list[PlannedOp]] = {}
    for parent, dependent in expansions(run.sources).items():
        parent_key = next((op.key for op in ops if op.source == parent), None)
        if parent_key is not None and _state(done, parent_key) == CheckpointState.DONE:
            # Listed in full even with no parents at all: then every stored one has gone.
            by_source[dependent] = []
            ops = ops + dependent_ops(run.workspace_id, parent,
                                      workspace_data.seen_ids(run.workspace_id, parent, run.id), window)
    for op in ops:
        by_source.setdefault(op.source, []).append(op)
    for source, source_ops in by_source.items():
        if all(_state(done, op.key) == CheckpointState.DONE for op in source_ops):
            _remove_unseen(run, source)
            bootstrap_runs.forget_older(run.workspace_id, run.id, source)
    failed = bool(ops) and all(_state(done, op.key) == CheckpointState.FAILED for op in ops)
    status = BootstrapRunStatus.FAILED if failed else BootstrapRunStatus.COMPLETED
    bootstrap_runs.finish(run.id, status)
    db.session.commit()
    log.info("bootstrap run %s of %s %s", run.id, run.workspace_id, status)
    return status


def _state(done: dict[str, Checkpoint], key: str) -> CheckpointState | None:
    return done.get(key, Checkpoint()).state


def _remove_unseen(run: BootstrapRun, source: str) -> None:
    if source != "time-entries":
        workspace_data.delete_not_seen(run.workspace_id, source, run.id, fetched_before=run.started_at)
        return
    stale = [row.id for row in workspace_data.not_seen(run.workspace_id, source, run.id, run.started_at)
             if _entry_start(row.data) >= (run.window_start or "")]
    workspace_data.delete_ids(run.workspace_id, stale)


def _entry_start(data: dict) -> str:
    interval = data.get("timeInterval") if isinstance(data, dict) else None
    start = interval.get("start") if isinstance(interval, dict) else None
    return start if isinstance(start, str) else ""
