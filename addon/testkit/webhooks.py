"""Build Clockify-shaped webhook deliveries for tests, the simulator and benchmarks."""

from __future__ import annotations

import uuid

from ..clockify.deliveries import EVENT_TYPE_HEADER, TOKEN_HEADER


def entity_payload(workspace_id: str, entity_id: str | None = None, **fields) -> dict:
    """A Clockify-like entity body: an ``id`` (random unless given), ``workspaceId`` and ``fields``."""
    return {"id": entity_id or uuid.uuid4().hex[:24], "workspaceId": workspace_id, **fields}


def delivery_headers(event_type: str | None, token: str | None) -> dict[str, str]:
    """The headers Clockify sends with a webhook delivery (either may be left out with None)."""
    headers = {"Content-Type": "application/json"}
    if event_type is not None:
        headers[EVENT_TYPE_HEADER] = event_type
    if token is not None:
        headers[TOKEN_HEADER] = token
    return headers
