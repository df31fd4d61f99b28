"""Webhook ingestion: ``POST /webhooks/time|project|user|expense|custom|generic``.

Checks, in this order, failing closed: size (413) → token present and valid (401) → token equals
a stored webhook token of this installation and path (401, ``check: webhook_token``) → workspace
and add-on match the installation and the payload (403) → installation active (410) → event type
known for this route (400 ``wrong_category``; ``invalid_event_type`` when there is none) → body
is JSON (400 ``malformed_json``) → its text can be stored (400 ``unsupported_text``). Then one
transaction (committed before answering): the dedupe decision (``addon.store.webhook_events.record``)
and the insert; and one enqueue: a ``SET NX`` in Redis, plus an RQ job when none is queued for
the workspace yet.
"""

from __future__ import annotations

import functools
import logging

from flask import Blueprint, current_app, g, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .. import auth
from ..clockify import deliveries, event_types
from ..errors import AddonError, BadRequest, Forbidden, Gone, InvalidToken, ServiceUnavailable
from ..jobs import schedule
from ..metrics import WEBHOOK_DELIVERIES
from ..store import webhook_events
from ..store.webhooks import find_delivery_target
from .request_body import decode_json, read_limited_body, refuse_unsupported_text

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)


@bp.post(f"/webhooks/<any({', '.join(event_types.CATEGORIES)}):category>")
def receive(category: str):
    """Store one delivery and enqueue its processing; see the module docstring for the checks.

    :return: 200 ``{"status": "accepted", "id"}`` once committed, or 200 ``{"status":
        "duplicate", "duplicate": true, "id"}`` with the id of the row stored for the latest
        delivery it repeats.
    """
    g.webhook_event_label = deliveries.event_label(request.headers.get(deliveries.EVENT_TYPE_HEADER, "").strip())
    try:
        return _ingest(category)
    except AddonError as error:
        _count(f"rejected_{deliveries.rejection_reason(error.code, error.extra.get('check'))}")
        raise
    except DBAPIError:
        _count("rejected_storage_unavailable")
        raise
    except PoolTimeout:
        _count("rejected_storage_unavailable")
        raise ServiceUnavailable("The database is unavailable; try again later.", code="storage_unavailable",
                                 headers={"Retry-After": "5"}) from None


def _ingest(category: str):
    raw = read_limited_body(current_app.config["SETTINGS"].webhook_max_payload_bytes)

    token = request.headers.get(deliveries.TOKEN_HEADER, "")  # blank is refused as missing
    claims = auth.verify(token, kind="webhook token")
    workspace_id = claims.workspace_id
    target = find_delivery_target(workspace_id, request.path, token)
    if target is None:
        log.warning("webhook token not stored for this path", extra={"path": request.path})
        raise InvalidToken("The token is not a webhook token of this installation for this path.",
                           check="webhook_token")
    if claims.addon_id is not None and claims.addon_id != target.addon_id:
        raise Forbidden("The token belongs to another installation of the add-on.", code="addon_mismatch")
    # Stored as text, verbatim: a NUL escape is kept, not refused as the JSONB columns must.
    body = deliveries.parse_body(raw, functools.partial(decode_json, storable=False))
    if body.ok and deliveries.payload_workspace_ids(body.value) - {workspace_id}:
        raise Forbidden("The payload is about another workspace than the token.", code="workspace_mismatch")

    if not target.installation_active:
        raise Gone(f"The add-on is {target.installation_status.lower()} on this workspace.",
                   status_value=target.installation_status)

    event_type = deliveries.event_type_of(request.headers.get(deliveries.EVENT_TYPE_HEADER), body)
    if event_type is None:
        raise BadRequest(f"No valid event type: send it in the {deliveries.EVENT_TYPE_HEADER} header.",
                         code="invalid_event_type")
    g.webhook_event_label = deliveries.event_label(event_type)
    verdict = deliveries.check_route(category, event_type, target.event)
    if not verdict.allowed:
        raise BadRequest(verdict.message, code="wrong_category")

    if body.text is None:  # not body.ok
        raise BadRequest("The body is not valid UTF-8 JSON.", code="malformed_json")
    # Acknowledged means processed: text the handlers could never store is refused now.
    refuse_unsupported_text(body.value)

    stored = webhook_events.record(
        workspace_id, event_type=event_type, route=category, known_event=verdict.known,
        dedupe=deliveries.dedupe_key(event_type, raw, body, deliveries.delivery_id(request.headers)),
        window_seconds=current_app.config["SETTINGS"].webhook_dedupe_window_seconds,
        payload=body.text, headers=webhook_events.storable_headers(request.headers))
    if not stored.created:
        _count("duplicate")
        return jsonify(status="duplicate", duplicate=True, id=str(stored.id))
    if not verdict.known:
        log.warning("unknown webhook event %s stored as %s", event_type, stored.id,
                    extra={"event_type": event_type, "event_id": stored.id})
    _enqueue(stored.id, workspace_id)
    _count("accepted")
    return jsonify(status="accepted", id=str(stored.id))


def _enqueue(event_id: int, workspace_id: str) -> None:
    # The row is committed: a queue outage must not fail the delivery; the sweep enqueues it later.
    try:
        schedule.enqueue_process_received_events(workspace_id)
    except RedisError as error:
        log.warning("webhook event %s stored but not enqueued (%s); the sweep will enqueue it",
                    event_id, type(error).__name__)


def _count(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(event=g.get("webhook_event_label", deliveries.UNKNOWN_EVENT_LABEL),
                              outcome=outcome).inc()
