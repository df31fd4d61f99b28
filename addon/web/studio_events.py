"""API Studio's Events tab (workspace owners and admins): the add-on's own webhook inbox.

Lists the deliveries stored for the token's workspace, shows one payload, and retries a failed
event through the same path as ``flask webhooks replay`` (``addon.jobs.webhook_requeue.replay_event``).
Headers (they carry the webhook's token) are never shown; payloads and errors are redacted like
the audit trail's parameters.
"""

from __future__ import annotations

import json

from flask import Blueprint, g, jsonify, request

from ..errors import Conflict, NotFound
from ..jobs.webhook_requeue import replay_event
from ..logs import redact, redact_value
from ..models import isoformat_utc
from ..store import webhook_events
from .query_args import QueryArgs
from .studio_auth import user_required

bp = Blueprint("studio_events", __name__)
MAX_PAGE_SIZE = 100
# Event ids are 64-bit: a larger one is no event (404), never a database overflow.
MAX_EVENT_ID = 2**63 - 1
STATUSES = tuple(status.value for status in webhook_events.EventStatus)
RETRYABLE = (webhook_events.EventStatus.FAILED.value,)


@bp.get("/ui/events")
@user_required(admin=True)
def list_events():
    """One page of the workspace's webhook events, newest first: ``?eventType=&status=&page=&pageSize=``.

    :raise Forbidden: 403 ``admin_required`` for anyone but owners and admins.
    """
    workspace_id = g.claims.workspace_id
    args = QueryArgs(request.args)
    event_type = args.text("eventType", max_chars=64)
    status = args.choice("status", STATUSES)
    page_number = args.whole_number("page", 1, 1_000_000)
    page_size = args.whole_number("pageSize", 25, MAX_PAGE_SIZE)
    args.done()
    listing = webhook_events.page(workspace_id, event_type=event_type, status=status, page_number=page_number,
                          per_page=page_size)
    return jsonify(page=listing.page, pageSize=listing.per_page, total=listing.total,
                   eventTypes=webhook_events.event_types(workspace_id), statuses=list(STATUSES),
                   items=[_summary(event) for event in listing.items])


@bp.get(f"/ui/events/<int(max={MAX_EVENT_ID}):event_id>")
@user_required(admin=True)
def show_event(event_id: int):
    """One event with its payload (redacted).

    :raise NotFound: 404, no such event in the token's workspace.
    """
    event = _event_or_404(event_id)
    return jsonify({**_summary(event), "payload": _payload(event.payload)})


@bp.post(f"/ui/events/<int(max={MAX_EVENT_ID}):event_id>/retry")
@user_required(admin=True)
def retry_event(event_id: int):
    """Re-enqueue a failed event, as ``flask webhooks replay`` would.

    :raise NotFound: 404, no such event in the token's workspace.
    :raise Conflict: 409 ``not_failed``, only failed events are retried from here.
    """
    event = _event_or_404(event_id)
    if event.status not in RETRYABLE:
        raise Conflict(f"Only failed events can be retried; this one is {event.status}.", code="not_failed")
    result = replay_event(g.claims.workspace_id, event_id)
    event = _event_or_404(event_id)
    return jsonify(enqueued=bool(result and result.enqueued), event=_summary(event)), 202


def _event_or_404(event_id: int):
    event = webhook_events.get(g.claims.workspace_id, event_id)
    if event is None:
        raise NotFound(f"This workspace has no webhook event {event_id}.", code="unknown_event")
    return event


def _summary(event) -> dict:
    return {"id": event.id, "eventType": event.event_type, "route": event.route, "knownEvent": event.known_event,
            "status": event.status, "attempts": event.attempts or 0,
            "lastError": redact(event.last_error) if event.last_error else None,
            "receivedAt": isoformat_utc(event.received_at), "processedAt": isoformat_utc(event.processed_at)}


def _payload(raw: str):
    """The payload as JSON with secret-named keys and token-looking strings masked; text that
    is not JSON is redacted as text."""
    try:
        return redact_value(json.loads(raw))
    except ValueError:
        return redact(raw)
