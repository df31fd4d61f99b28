"""Lifecycle callbacks: their types, the paths we declare for them, the headers their token
arrives in, and how INSTALLED's ``webhooks[].path`` and ``settings`` map onto our terms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

INSTALLED, DELETED, SETTINGS_UPDATED, STATUS_CHANGED = "INSTALLED", "DELETED", "SETTINGS_UPDATED", "STATUS_CHANGED"


class HeaderLookup(Protocol):
    """Request headers as the contract reads them: a dict, or werkzeug's case-insensitive ``Headers``."""

    def get(self, key: str, /) -> str | None: ...

PATHS: dict[str, str] = {
    INSTALLED: "/lifecycle/installed",
    SETTINGS_UPDATED: "/lifecycle/settings-updated",
    STATUS_CHANGED: "/lifecycle/status-changed",
    DELETED: "/lifecycle/deleted",
}

# Where the token of a lifecycle call is looked for, first match wins. Clockify documents the
# first; the others are accepted for older platform versions and tools.
TOKEN_HEADERS = ("X-Addon-Lifecycle-Token", "Clockify-Signature", "X-Addon-Signature", "X-Webhook-Signature")

ACTIVE, INACTIVE = "ACTIVE", "INACTIVE"
STATUSES = (ACTIVE, INACTIVE)


def token_from(headers: HeaderLookup) -> str | None:
    """The lifecycle token of a request: the first non-blank of ``TOKEN_HEADERS``."""
    for name in TOKEN_HEADERS:
        value = (headers.get(name) or "").strip()
        if value:
            return value
    return None


def webhook_route_path(path: str, base_url: str) -> str:
    """The route path of an INSTALLED ``webhooks[].path``.

    Clockify's docs show both a full URL (``https://addon.example.com/webhooks/time``) and the
    manifest's path (``/webhooks/time``); both map to ``/webhooks/time``. A ``baseUrl`` with a
    path prefix (``https://host/addon``) has that prefix removed. Trailing slashes are dropped.
    """
    value = path.strip()
    parts = urlsplit(value)
    if parts.scheme and parts.netloc:
        value = parts.path
        prefix = urlsplit(base_url).path.rstrip("/")
        if prefix and (value == prefix or value.startswith(prefix + "/")):
            value = value[len(prefix):]
    else:
        value = value.split("?", 1)[0]
    value = "/" + value.strip("/")
    return value


def settings_values(raw) -> dict:
    """``{id: value}`` of the settings a lifecycle payload carries.

    Accepts SETTINGS_UPDATED's flat list ``[{"id", "name", "value"}]``, the manifest's tree
    ``{"tabs": [{"settings": [...], "groups": [{"settings": [...]}]}]}`` and a plain
    ``{id: value}`` mapping (INSTALLED's ``settings`` shape is unconfirmed). Anything else: ``{}``.
    """
    if isinstance(raw, list):
        return {s["id"]: s.get("value") for s in raw if isinstance(s, Mapping) and isinstance(s.get("id"), str)}
    if not isinstance(raw, Mapping):
        return {}
    if isinstance(raw.get("tabs"), list):
        found: list = []
        for tab in _mappings(raw["tabs"]):
            found.extend(_list(tab.get("settings")))
            for group in _mappings(tab.get("groups")):
                found.extend(_list(group.get("settings")))
        return settings_values(found)
    return {k: v for k, v in raw.items() if isinstance(k, str)}


def _list(value) -> list:
    # A part of the tree in another shape is ignored, not iterated: a string would give its letters.
    return value if isinstance(value, list) else []


def _mappings(value) -> list:
    return [item for item in _list(value) if isinstance(item, Mapping)]


def is_checked(value) -> bool:
    """Whether a CHECKBOX setting value means "on" (Clockify may send a boolean or a string)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return value is True or (isinstance(value, (int, float)) and not isinstance(value, bool) and value != 0)
