"""Operator views for development: ``GET /webhooks`` (stored events) and ``GET /installations``.

Registered only when ``ADDON_ENV=development`` (everywhere else these paths are 404). Paginated
with ``page`` / ``per_page``; filtered by ``workspace``, ``event`` and ``status``. No token is
ever read or shown.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify, request

from ..errors import ValidationFailed
from ..models import WebhookEvent, isoformat_utc
from ..store import events as event_store
from ..store import operator as operator_store
from .request_body import storable_text

bp = Blueprint("operator", __name__)
MAX_PER_PAGE = 200


@bp.get("/webhooks")
def list_webhook_events():
    """Stored webhook events, newest first."""
    page_number, per_page = _pagination()
    result = event_store.page(workspace_id=_text("workspace"), event_type=_text("event"), status=_text("status"),
                              page_number=page_number, per_page=per_page)
    return jsonify(items=[_event_json(e) for e in result.items], page=result.page, per_page=result.per_page,
                   total=result.total)


@bp.get("/installations")
def list_installations():
    """Installations with their webhooks (no tokens), newest first."""
    page_number, per_page = _pagination()
    result = operator_store.page_installations(
        workspace_id=_text("workspace"), status=_text("status"), event_type=_text("event"),
        page_number=page_number, per_page=per_page)
    return jsonify(items=[{k: _json_value(v) for k, v in row.items()} for row in result.items],
                   page=result.page, per_page=result.per_page, total=result.total)


def _event_json(event: WebhookEvent) -> dict:
    return {
        "id": str(event.id), "workspace_id": event.workspace_id, "event_type": event.event_type,
        "route": event.route, "known_event": event.known_event, "status": event.status,
        "attempts": event.attempts, "last_error": event.last_error,
        "received_at": _json_value(event.received_at), "enqueued_at": _json_value(event.enqueued_at),
        "processed_at": _json_value(event.processed_at), "headers": event.headers, "payload": event.payload,
    }


def _json_value(value):
    return isoformat_utc(value) if isinstance(value, datetime) else value


def _text(name: str) -> str | None:
    value = request.args.get(name, "").strip()
    if not storable_text(value):
        raise ValidationFailed("Invalid filter.", errors=[
            {"location": "query", "field": name, "message": "must not contain NUL characters"}])
    return value or None


def _pagination() -> tuple[int, int]:
    errors = []
    values = {}
    for name, default, high in (("page", 1, 1_000_000), ("per_page", 50, MAX_PER_PAGE)):
        raw = request.args.get(name, str(default))
        try:
            values[name] = int(raw)
            if not 1 <= values[name] <= high:
                raise ValueError
        except ValueError:
            errors.append({"field": name, "message": f"must be a whole number from 1 to {high}"})
    if errors:
        raise ValidationFailed("Invalid pagination parameters.", errors=errors)
    return values["page"], values["per_page"]
