"""Lifecycle callbacks from Clockify: ``POST /lifecycle/installed|settings-updated|status-changed|deleted``.

Each view reads the body within ``WEBHOOK_MAX_PAYLOAD_BYTES`` (413), hands it with the lifecycle
token to its flow in ``addon.flows.lifecycle`` (the gate and the state change, explained there),
answers the flow's result as JSON, and counts the call in ``LIFECYCLE_EVENTS{type, outcome}``.
"""

from __future__ import annotations

import functools

from flask import Blueprint, current_app, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from .. import metrics
from ..clockify import lifecycle
from ..errors import AddonError
from ..flows.lifecycle import change_status, delete, install, update_settings
from .request_body import read_limited_body

bp = Blueprint("lifecycle", __name__, url_prefix="/lifecycle")

# Metric labels: a small fixed set.
_OUTCOMES = {"invalid_token": "invalid_token", "workspace_mismatch": "forbidden", "addon_mismatch": "forbidden",
             "not_installed": "not_installed", "validation_failed": "invalid_body", "malformed_json": "invalid_body",
             "payload_too_large": "too_large", "installation_inactive": "gone"}


def _counted(kind: str):
    """Count the call in ``LIFECYCLE_EVENTS{type, outcome}`` whatever its answer."""
    label = kind.lower()

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                response = view(*args, **kwargs)
            except AddonError as error:
                metrics.LIFECYCLE_EVENTS.labels(type=label, outcome=_OUTCOMES.get(error.code, "error")).inc()
                raise
            except (SQLAlchemyError, RedisError):
                metrics.LIFECYCLE_EVENTS.labels(type=label, outcome="unavailable").inc()
                raise
            except Exception:
                metrics.LIFECYCLE_EVENTS.labels(type=label, outcome="error").inc()
                raise
            metrics.LIFECYCLE_EVENTS.labels(type=label, outcome="ok").inc()
            return response
        return wrapper
    return decorate


def _run(run_flow):
    """Read the call (413 first, before the token is looked at), run ``run_flow`` on it, answer."""
    settings = current_app.config["SETTINGS"]
    raw = read_limited_body(settings.webhook_max_payload_bytes)
    return jsonify(run_flow(raw, lifecycle.token_from(request.headers), settings).answer())


@bp.post("/installed")
@_counted(lifecycle.INSTALLED)
def installed():
    """Store (or refresh) the installation; enqueue the bootstrap and the webhook registration."""
    return _run(install)


@bp.post("/settings-updated")
@_counted(lifecycle.SETTINGS_UPDATED)
def settings_updated():
    """Store the settings; a repeat changes nothing."""
    return _run(update_settings)


@bp.post("/status-changed")
@_counted(lifecycle.STATUS_CHANGED)
def status_changed():
    """Record ACTIVE/INACTIVE, registering or deregistering the API webhooks."""
    return _run(change_status)


@bp.post("/deleted")
@_counted(lifecycle.DELETED)
def deleted():
    """Soft-delete the installation and enqueue its cleanup; a repeat answers 200 too."""
    return _run(delete)
