"""Bootstrap endpoints: start a run (workspace owners and admins) and read its progress."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from ..errors import Conflict
from ..jobs import schedule
from ..models import BootstrapRun, isoformat_utc
from ..store import bootstrap_runs
from .studio_auth import user_required

bp = Blueprint("bootstrap", __name__)


def status_body(run: BootstrapRun | None) -> dict:
    """The answer of ``GET /bootstrap/status`` for ``run`` (``status: none`` without one).

    ``resume_at`` is set while the run is ``waiting`` (Clockify throttled the workspace).
    """
    if run is None:
        return {"status": "none", "operations_total": 0, "operations_done": 0, "items_stored": 0, "errors": [],
                "started_at": None, "finished_at": None, "resume_at": None}
    summary = bootstrap_runs.summary(run)
    return {"status": run.status, "operations_total": run.operations_total,
            "operations_done": summary.operations_done, "items_stored": summary.items_stored,
            "errors": summary.errors, "started_at": isoformat_utc(run.started_at),
            "finished_at": isoformat_utc(run.finished_at), "resume_at": isoformat_utc(run.resume_at)}


@bp.post("/bootstrap")
@user_required(admin=True)
def start_bootstrap():
    """202 with the new run's status; 409 with the running one's when one is in progress."""
    run, created = schedule.request_bootstrap(g.claims.workspace_id, "manual")
    body = status_body(run)
    if not created:
        conflict = Conflict("A bootstrap of this workspace is already in progress.", code="bootstrap_in_progress")
        conflict.extra.update(body)
        raise conflict
    return jsonify(body), 202


@bp.get("/bootstrap/status")
@user_required
def bootstrap_status():
    """The latest run of the caller's workspace (``status: none`` before the first)."""
    return jsonify(status_body(bootstrap_runs.latest(g.claims.workspace_id)))
