"""Decisions about one webhook delivery, in plain Python (no Flask, no database).

The HTTP adapter (``addon.web.webhooks``) reads the request and calls these functions in the
order of the contract; they only look at values and return verdicts.

What Clockify sends beyond the two documented headers is UNCONFIRMED, so:

* the event type comes from the ``Clockify-Webhook-Event-Type`` header; only when that header is
  absent is it read from the body's top-level ``eventType``, then ``event`` field (strings only);
* the payload's workspace is its top-level ``workspaceId`` (for a top-level list, each element's);
  nested objects are not inspected, since they may legitimately name other ids;
* what a delivery is about (its dedupe subject, see ``dedupe_key``) is a delivery id header
  (``Clockify-Delivery-Id`` or ``X-Clockify-Delivery-Id``) when one is sent; else the entity the
  payload describes (its top-level string ``id``, per event family, see ``ENTITY_ID_FIELD``);
  else the body itself. ``X-Request-ID`` is never used: proxies set it per hop, and it does not
  identify a Clockify delivery.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import event_types
from .lifecycle import HeaderLookup

EVENT_TYPE_HEADER = "Clockify-Webhook-Event-Type"
TOKEN_HEADER = "Clockify-Signature"
DELIVERY_ID_HEADERS = ("Clockify-Delivery-Id", "X-Clockify-Delivery-Id")
BODY_EVENT_TYPE_FIELDS = ("eventType", "event")
UNKNOWN_EVENT_LABEL = "UNKNOWN"

_EVENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Why a delivery was refused; metric outcomes are ``rejected_<reason>`` from this fixed list.
REJECTION_REASONS = (
    "payload_too_large", "invalid_token", "webhook_token", "workspace_mismatch", "addon_mismatch",
    "installation_inactive", "invalid_event_type", "wrong_category", "malformed_json", "unsupported_text",
    "storage_unavailable",
    "other",
)


@dataclass(frozen=True)
class ParsedBody:
    """The body decoded as UTF-8 JSON; ``ok`` is False when it is not valid JSON."""

    text: str | None
    value: Any = None

    @property
    def ok(self) -> bool:
        return self.text is not None


def parse_body(raw: bytes, decode: Callable[[bytes], Any]) -> ParsedBody:
    """Decode ``raw`` as UTF-8 JSON with the app's parser ``decode`` (which raises ``ValueError``
    for what it refuses). Never raises: a refused body gives ``ok == False``."""
    try:
        return ParsedBody(raw.decode("utf-8"), decode(raw))
    except ValueError:
        return ParsedBody(None)


def event_type_of(header_value: str | None, body: ParsedBody) -> str | None:
    """The delivery's event type: the header, else a body field (see module docstring).

    :return: the name, or None when neither gives a well-formed event name.
    """
    if header_value is not None and header_value.strip():
        value = header_value.strip()
        return value if _EVENT_NAME.match(value) else None
    if body.ok and isinstance(body.value, dict):
        for name in BODY_EVENT_TYPE_FIELDS:
            field = body.value.get(name)
            if isinstance(field, str) and _EVENT_NAME.match(field.strip()):
                return field.strip()
    return None


@dataclass(frozen=True)
class RouteVerdict:
    """Whether ``event_type`` may be delivered to a route, and whether the contract knows it."""

    allowed: bool
    known: bool
    message: str = ""


def check_route(category: str, event_type: str, registered_event: str = "") -> RouteVerdict:
    """Decide whether ``event_type`` belongs on the ``category`` route.

    Known events only on their own category; unknown (new) events only on ``generic``. A token
    registered through the API for one event (``registered_event``) is valid for that event only.
    """
    known = event_types.is_known(event_type)
    if registered_event and registered_event != event_type:
        return RouteVerdict(False, known, f"This webhook token was registered for {registered_event}, "
                                          f"not {event_type}.")
    if known:
        own = event_types.category_of(event_type)
        if own != category:
            return RouteVerdict(False, True, f"{event_type} is delivered to {event_types.route_path(own)}, "
                                             f"not {event_types.route_path(category)}.")
        return RouteVerdict(True, True)
    if category != event_types.GENERIC:
        return RouteVerdict(False, False, f"Unknown event {event_type} is accepted only on "
                                          f"{event_types.route_path(event_types.GENERIC)}.")
    return RouteVerdict(True, False)


def payload_workspace_ids(value: Any) -> set[str]:
    """Workspace ids a payload names: a top-level ``workspaceId``, or each top-level list
    element's. Non-string values count as a (mismatching) workspace so they fail closed."""
    items = value if isinstance(value, list) else [value]
    found = set()
    for item in items:
        if isinstance(item, dict) and "workspaceId" in item and item["workspaceId"] is not None:
            found.add(item["workspaceId"] if isinstance(item["workspaceId"], str) else repr(item["workspaceId"]))
    return found


def delivery_id(headers: HeaderLookup) -> str | None:
    """A well-formed delivery id header, if the sender gave one."""
    for name in DELIVERY_ID_HEADERS:
        value = (headers.get(name) or "").strip()
        if value and _DELIVERY_ID.match(value):
            return value
    return None


# Where each event family names the entity a delivery is about. Payload schemas are UNCONFIRMED
# (Clockify documents none): every family is read as "the body is the entity", its top-level
# ``id``. Events whose body is not one entity (a list of invited users, a split into several
# entries) have no entity id and fall back to the body's digest within the dedupe window.
ENTITY_ID_FIELD = "id"
WITHOUT_ENTITY = frozenset({"TIME_ENTRY_SPLIT", "USERS_INVITED_TO_WORKSPACE", "LIMITED_USERS_ADDED_TO_WORKSPACE"})
_ENTITY_ID_MAX_LENGTH = 256


@dataclass(frozen=True)
class DedupeKey:
    """What a delivery is about, and the state it reports.

    ``subject`` names the delivery (``delivery:``), the entity (``entity:``) or, without either,
    the body (``body:``); ``digest`` is the SHA-256 of the raw body. A delivery repeats another
    when it has the same event type and the same digest as the latest one stored for its
    subject, whatever that one's type (so deleted → restored → deleted is three changes);
    ``windowed`` subjects (``body:``) match only within the dedupe window.
    """

    subject: str
    digest: str
    windowed: bool


def dedupe_key(event_type: str, raw_body: bytes, body: ParsedBody, delivery: str | None = None) -> DedupeKey:
    """The dedupe key of a delivery (see ``DedupeKey``); the delivery id header decides first."""
    digest = hashlib.sha256(raw_body).hexdigest()
    if delivery:
        return DedupeKey("delivery:" + hashlib.sha256(delivery.encode()).hexdigest(), "", False)
    entity = entity_id(event_type, body)
    if entity is not None:
        return DedupeKey("entity:" + hashlib.sha256(entity.encode()).hexdigest(), digest, False)
    return DedupeKey("body:" + digest, digest, True)


def entity_id(event_type: str, body: ParsedBody) -> str | None:
    """The id of the entity the payload describes, or None when it names none we can trust."""
    if event_type in WITHOUT_ENTITY or not body.ok or not isinstance(body.value, dict):
        return None
    value = body.value.get(ENTITY_ID_FIELD)
    if isinstance(value, str) and 0 < len(value.strip()) <= _ENTITY_ID_MAX_LENGTH:
        return value.strip()
    return None


def event_label(event_type: str | None) -> str:
    """Metric label of an event type: the name when the contract knows it, else ``UNKNOWN``."""
    return event_type if event_type and event_types.is_known(event_type) else UNKNOWN_EVENT_LABEL


def rejection_reason(code: str, check: str | None = None) -> str:
    """Map an error code (and, for 401s, the failed check) to one of ``REJECTION_REASONS``."""
    reason = "webhook_token" if check == "webhook_token" else code
    return reason if reason in REJECTION_REASONS else "other"
