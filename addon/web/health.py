"""Liveness, readiness and metrics."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from .. import jobs_health, metrics
from ..extensions import db
from ..queueing import get_redis

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    """Liveness: the process answers."""
    return jsonify(status="ok")


@bp.get("/ready")
def ready():
    """Readiness: the database and Redis both answer, and no queue's work has waited with no live
    worker beyond the grace period; 503 names the part that fails. ``jobs`` carries the figures
    (cached a few seconds, see ``addon.jobs_health``)."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    jobs = jobs_health.snapshot()
    problem = jobs.problem()
    checks["workers"] = "ok" if problem is None else f"unavailable: {problem}"
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks, jobs=jobs.as_json()), 200 if ok else 503


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus text exposition."""
    return metrics.render()


def _check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # readiness reports any failure instead of raising it
        db.session.rollback()
        return f"unavailable: {type(exc).__name__}"


def _check_redis() -> str:
    try:
        get_redis().ping()
        return "ok"
    except Exception as exc:  # readiness reports any failure instead of raising it
        return f"unavailable: {type(exc).__name__}"
