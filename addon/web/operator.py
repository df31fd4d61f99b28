"""Operator views for development: ``GET /webhooks`` (stored events) and ``GET /installations``.

Registered only when ``ADDON_ENV=development`` (everywhere else these paths are 404). Paginated
with ``page`` / ``per_page``; filtered by ``workspace``, ``event`` and ``status``. No token is
ever read or shown.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify, request

from ..models import WebhookEvent, isoformat_utc
from ..store import operator as operator_store
from ..store import webhook_events
from .query_args import QueryArgs

bp = Blueprint("operator", __name__)
MAX_PER_PAGE = 200


@bp.get("/webhooks")
def list_webhook_events():
    """Stored webhook events, newest first."""
    args = QueryArgs(request.args)
    page_number, per_page = _pagination(args)
    workspace_id, event_type, status = args.text("workspace"), args.text("event"), args.text("status")
    args.done()
    result = webhook_events.page(workspace_id=workspace_id, event_type=event_type, status=status,
                              page_number=page_number, per_page=per_page)
    return jsonify(items=[_event_json(e) for e in result.items], page=result.page, per_page=result.per_page,
                   total=result.total)


@bp.get("/installations")
def list_installations():
    """Installations with their webhooks (no tokens), newest first."""
    args = QueryArgs(request.args)
    page_number, per_page = _pagination(args)
    workspace_id, status, event_type = args.text("workspace"), args.text("status"), args.text("event")
    args.done()
    result = operator_store.page_installations(
        workspace_id=workspace_id, status=status, event_type=event_type,
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


def _pagination(args: QueryArgs) -> tuple[int, int]:
    return args.whole_number("page", 1, 1_000_000), args.whole_number("per_page", 50, MAX_PER_PAGE)
