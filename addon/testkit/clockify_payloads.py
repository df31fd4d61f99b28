"""The bodies Clockify sends, for hand-made calls: the lifecycle payloads (INSTALLED,
SETTINGS_UPDATED, STATUS_CHANGED, DELETED) and a small sample webhook delivery.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from .signing import Signer

DEFAULT_API_URL = "https://api.clockify.me/api"


def installed_payload(signer: Signer, workspace_id: str, addon_id: str, *, auth_token: str | None = None,
                      api_url: str = DEFAULT_API_URL, webhooks: Iterable[Mapping] = (), settings=None,
                      as_user: str = "owner-user", addon_user_id: str = "addon-user") -> dict:
    """An INSTALLED body as Clockify sends it (``settings`` only when given: unconfirmed)."""
    body = {
        "addonId": addon_id,
        "authToken": auth_token or signer.installation_token(workspace_id, addon_id),
        "workspaceId": workspace_id,
        "asUser": as_user,
        "apiUrl": api_url,
        "addonUserId": addon_user_id,
        "webhooks": [dict(w) for w in webhooks],
    }
    if settings is not None:
        body["settings"] = settings
    return body


def settings_list(values: Mapping) -> list[dict]:
    """SETTINGS_UPDATED's flat list from ``{id: value}``."""
    return [{"id": key, "name": key.replace("_", " ").capitalize(), "value": value} for key, value in values.items()]


def settings_updated_payload(workspace_id: str, addon_id: str, settings: Mapping | list) -> dict:
    """A SETTINGS_UPDATED body; ``settings`` as ``{id: value}`` or the flat list itself."""
    flat = settings_list(settings) if isinstance(settings, Mapping) else list(settings)
    return {"workspaceId": workspace_id, "addonId": addon_id, "settings": flat}


def status_changed_payload(workspace_id: str, addon_id: str, status: str) -> dict:
    """A STATUS_CHANGED body (``ACTIVE`` or ``INACTIVE``)."""
    return {"addonId": addon_id, "workspaceId": workspace_id, "status": status}


def deleted_payload(workspace_id: str, addon_id: str, as_user: str = "owner-user") -> dict:
    """A DELETED body."""
    return {"addonId": addon_id, "workspaceId": workspace_id, "asUser": as_user}


def sample_webhook_payload(event: str, workspace_id: str, entity_id: str | None = None) -> dict:
    """A small delivery body for ``event``: an entity id, the workspace id, and the event name.

    Real bodies are the entity as Clockify's API returns it; pass your own for richer tests.
    """
    return {"id": entity_id or uuid.uuid4().hex[:24], "workspaceId": workspace_id, "name": f"sample {event}"}
