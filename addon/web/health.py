"""Liveness, readiness and metrics."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from .. import metrics
from ..extensions import db
from ..queueing import get_redis

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    """Liveness: the process answers."""
    return jsonify(status="ok")


@bp.get("/ready")
def ready():
    """Readiness: the database and Redis both answer; 503 names the part that does not."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


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
