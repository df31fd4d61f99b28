"""Liveness, readiness and metrics."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import text

from .. import jobs_health, metrics
from ..errors import InvalidToken
from ..extensions import db
from ..queueing import get_redis

log = logging.getLogger(__name__)
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
    """Prometheus text exposition, behind ``METRICS_TOKEN`` (see ``_check_metrics_access``)."""
    _check_metrics_access(current_app.config["SETTINGS"])
    return metrics.render()


def _check_metrics_access(settings) -> None:
    """``METRICS_PUBLIC=true`` opens ``/metrics``; otherwise a configured ``METRICS_TOKEN`` must
    come as ``Authorization: Bearer``, and production without a token refuses everyone (the
    metrics name workspaces and operations).

    :raise InvalidToken: 401 ``metrics_token``.
    """
    if settings.metrics_public or (settings.metrics_token is None and settings.env != "production"):
        return
    header = request.headers.get("Authorization", "")
    sent = header[7:].strip() if header[:7].lower() == "bearer " else ""
    expected = settings.metrics_token
    if expected is not None and sent and hmac.compare_digest(sent.encode(), expected.encode()):
        return
    log.warning("metrics scrape refused", extra={"check": "metrics_token"})
    raise InvalidToken("/metrics needs Authorization: Bearer <METRICS_TOKEN>.", check="metrics_token")


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
