"""Bootstrap endpoints: start a run (workspace owners and admins) and read its progress."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from ..auth import user_required
from ..errors import Conflict
from ..jobs import schedule
from ..store import bootstrap_runs

bp = Blueprint("bootstrap", __name__)


@bp.post("/bootstrap")
@user_required(admin=True)
def start_bootstrap():
    """202 with the new run's status; 409 with the running one's when one is in progress."""
    run, created = schedule.request_bootstrap(g.claims.workspace_id, "manual")
    body = bootstrap_runs.status_body(run)
    if not created:
        conflict = Conflict("A bootstrap of this workspace is already in progress.", code="bootstrap_in_progress")
        conflict.extra.update(body)
        raise conflict
    return jsonify(body), 202


@bp.get("/bootstrap/status")
@user_required
def bootstrap_status():
    """The latest run of the caller's workspace (``status: none`` before the first)."""
    return jsonify(bootstrap_runs.status_body(bootstrap_runs.latest(g.claims.workspace_id)))
