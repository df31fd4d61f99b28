"""Webhook ingestion: one delivery from Clockify verified, stored and queued for processing.

``ingest`` checks, in this order, failing closed: size (413) → token present and valid (401) →
token equals a stored webhook token of this installation and path (401, ``check:
webhook_token``) → workspace and add-on match the installation and the payload (403) →
installation active (410) → event type known for this route (400 ``wrong_category``;
``invalid_event_type`` when there is none) → body is JSON (400 ``malformed_json``) → its text can
be stored (400 ``unsupported_text``). Then one transaction (committed before it returns): the
dedupe decision (``addon.store.webhook_events.record``) and the insert; and one enqueue: a ``SET
NX`` in Redis, plus an RQ job when none is queued for the workspace yet. Every delivery, whatever
its fate, is counted in ``WEBHOOK_DELIVERIES{event, outcome}``.

The hot path of the add-on: one query to find the delivery target, one transaction to store, no
ORM loads.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .. import auth
from ..clockify import deliveries
from ..errors import AddonError, BadRequest, Forbidden, InvalidToken, ServiceUnavailable
from ..jobs import schedule
from ..json_bodies import decode_json, refuse_unsupported_text
from ..metrics import WEBHOOK_DELIVERIES
from ..store import webhook_events
from ..store.webhooks import find_delivery_target
from .installation_checks import gone

log = logging.getLogger(__name__)
# Stored as text, verbatim: a NUL escape is kept, not refused as the JSONB columns must.
_DECODE_VERBATIM = functools.partial(decode_json, storable=False)


@dataclass(frozen=True, slots=True)
class Ingested:
    """A stored delivery: the id of its row, or of the row of the latest delivery it repeats."""

    id: int
    duplicate: bool

    def answer(self) -> dict:
        """``{"status": "accepted", "id"}``, or ``{"status": "duplicate", "duplicate": true, "id"}``."""
        if self.duplicate:
            return {"status": "duplicate", "duplicate": True, "id": str(self.id)}
        return {"status": "accepted", "id": str(self.id)}


def ingest(category: str, read_body: Callable[[int], bytes], *, token: str, path: str, headers,
           settings) -> Ingested:
    """Store one delivery on route ``category`` and enqueue its processing (see the module
    docstring for the checks).

    :param read_body: reads the body, at most the given number of bytes (raising
        ``PayloadTooLarge`` beyond); called first, so a refused size is counted like any refusal.
    :param token: the ``Clockify-Signature`` header (blank is refused as missing).
    :param path: the request's path, which the webhook token must have been issued for.
    :param headers: the request's headers (werkzeug's ``Headers`` or a dict).
    :raise AddonError: the refusal. :raise ServiceUnavailable: 503 when no database connection
        is free.
    """
    label = deliveries.event_label(headers.get(deliveries.EVENT_TYPE_HEADER, "").strip())
    try:
        raw = read_body(settings.webhook_max_payload_bytes)
        claims = auth.verify(token, kind="webhook token")
        workspace_id = claims.workspace_id
        target = find_delivery_target(workspace_id, path, token)
        if target is None:
            log.warning("webhook token not stored for this path", extra={"path": path})
            raise InvalidToken("The token is not a webhook token of this installation for this path.",
                               check="webhook_token")
        if claims.addon_id is not None and claims.addon_id != target.addon_id:
            raise Forbidden("The token belongs to another installation of the add-on.", code="addon_mismatch")
        body = deliveries.parse_body(raw, _DECODE_VERBATIM)
        if body.ok and deliveries.payload_workspace_ids(body.value) - {workspace_id}:
            raise Forbidden("The payload is about another workspace than the token.", code="workspace_mismatch")

        if not target.installation_active:
            raise gone(target.installation_status)

        event_type = deliveries.event_type_of(headers.get(deliveries.EVENT_TYPE_HEADER), body)
        if event_type is None:
            raise BadRequest(f"No valid event type: send it in the {deliveries.EVENT_TYPE_HEADER} header.",
                             code="invalid_event_type")
        label = deliveries.event_label(event_type)
        verdict = deliveries.check_route(category, event_type, target.event)
        if not verdict.allowed:
            raise BadRequest(verdict.message, code="wrong_category")

        if body.text is None:  # not body.ok
            raise BadRequest("The body is not valid UTF-8 JSON.", code="malformed_json")
        # Acknowledged means processed: text the handlers could never store is refused now.
        refuse_unsupported_text(body.value)

        stored = webhook_events.record(
            workspace_id, event_type=event_type, route=category, known_event=verdict.known,
            dedupe=deliveries.dedupe_key(event_type, raw, body, deliveries.delivery_id(headers)),
            window_seconds=settings.webhook_dedupe_window_seconds,
            payload=body.text, headers=webhook_events.storable_headers(headers))
    except AddonError as error:
        _count(label, f"rejected_{deliveries.rejection_reason(error.code, error.extra.get('check'))}")
        raise
    except DBAPIError:
        _count(label, "rejected_storage_unavailable")
        raise
    except PoolTimeout:
        _count(label, "rejected_storage_unavailable")
        raise ServiceUnavailable("The database is unavailable; try again later.", code="storage_unavailable",
                                 headers={"Retry-After": "5"}) from None
    if not stored.created:
        _count(label, "duplicate")
        return Ingested(stored.id, duplicate=True)
    if not verdict.known:
        log.warning("unknown webhook event %s stored as %s", event_type, stored.id,
                    extra={"event_type": event_type, "event_id": stored.id})
    _enqueue(stored.id, workspace_id)
    _count(label, "accepted")
    return Ingested(stored.id, duplicate=False)


def _enqueue(event_id: int, workspace_id: str) -> None:
    # The row is committed: a queue outage must not fail the delivery; the sweep enqueues it later.
    try:
        schedule.enqueue_process_received_events(workspace_id)
    except RedisError as error:
        log.warning("webhook event %s stored but not enqueued (%s); the sweep will enqueue it",
                    event_id, type(error).__name__)


def _count(label: str, outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(event=label, outcome=outcome).inc()
