"""Webhook tokens of an installation: the lookup that authenticates a delivery."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from ..crypto import token_digest
from ..extensions import db
from ..models import InstallationWebhook

ACTIVE = "active"


def find_webhook_token(workspace_id: str, path: str, token: str) -> InstallationWebhook | None:
    """The active webhook of ``workspace_id`` whose stored token equals ``token`` and whose path
    is ``path``, or None.

    One indexed lookup by the token's digest, then a constant-time comparison of the decrypted
    token. Stored paths may be the manifest path (``/webhooks/time``) or the full URL INSTALLED
    sends (``https://host/prefix/webhooks/time``); both match a request for ``/webhooks/time``.
    Manifest rows (any event) and API-registered rows (one event) both qualify.
    """
    if not token:
        return None
    row = db.session.execute(
        db.select(InstallationWebhook).where(
            InstallationWebhook.workspace_id == workspace_id,
            InstallationWebhook.token_digest == token_digest(token),
            InstallationWebhook.status == ACTIVE,
        )
    ).scalar_one_or_none()
    if row is None or row.token is None:
        return None
    if not hmac.compare_digest(row.token.encode(), token.encode()):
        return None
    return row if _same_path(row.path, path) else None


def _same_path(stored: str, path: str) -> bool:
    stored_path = (urlsplit(stored).path if "://" in stored else stored).rstrip("/")
    path = path.rstrip("/")
    # A suffix match keeps working behind a proxy that strips a path prefix of BASE_URL.
    return bool(path) and (stored_path == path or stored_path.endswith(path))
