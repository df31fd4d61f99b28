"""Webhook tokens of an installation (``installation_webhooks``).

Manifest rows come from INSTALLED's ``webhooks[]`` (``source="manifest"``, ``event=""``: the
payload names no event, and several rows may share a path); API rows are written by the
registration job (``source="api"``). Tokens are encrypted by the column type; ``token_digest``
(SHA-256) finds one in a single indexed lookup and is then compared in constant time: a delivery
never decrypts a token.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from ..crypto import token_digest
from ..extensions import db, execute_dml
from ..models import Installation, InstallationStatus, InstallationWebhook

MANIFEST, API = "manifest", "api"
ACTIVE = "active"


def add_manifest_tokens(workspace_id: str, entries: Iterable[tuple[str, str]]) -> list[InstallationWebhook]:
    """Add a manifest row per ``(route path, token)`` (a token listed twice is stored once).

    Does not commit: INSTALLED writes these in the same transaction as the installation.
    """
    rows: dict[str, InstallationWebhook] = {}
    for path, token in entries:
        digest = token_digest(token)
        if digest not in rows:
            rows[digest] = InstallationWebhook(workspace_id=workspace_id, path=path, event="", source=MANIFEST,
                                               token=token, token_digest=digest, status=ACTIVE)
    db.session.add_all(rows.values())
    return list(rows.values())


def replace_manifest_tokens(workspace_id: str, entries: Iterable[tuple[str, str]]) -> list[InstallationWebhook]:
    """Drop the workspace's manifest rows and add the new ones (a reinstall rotates tokens).

    API-registered rows are left to the registration jobs. Does not commit.
    """
    db.session.execute(db.delete(InstallationWebhook).where(
        InstallationWebhook.workspace_id == workspace_id, InstallationWebhook.source == MANIFEST))
    db.session.flush()
    return add_manifest_tokens(workspace_id, entries)


def erase_tokens(workspace_id: str) -> int:
    """Erase the stored webhook tokens of ``workspace_id`` (at DELETED: Clockify has revoked
    them), keeping the rows and digests. Does not commit.

    :return: how many rows held a token.
    """
    return execute_dml(db.update(InstallationWebhook).where(
        InstallationWebhook.workspace_id == workspace_id, InstallationWebhook.token.is_not(None)
    ).values(token=None)).rowcount


def holds_digest(workspace_id: str, digest: str) -> bool:
    """Whether a webhook row of ``workspace_id`` (manifest or API, any status, its token erased
    or not) has the token digest ``digest``: one indexed lookup, then a constant-time compare."""
    found = db.session.execute(sa.select(InstallationWebhook.token_digest).where(
        InstallationWebhook.workspace_id == workspace_id, InstallationWebhook.token_digest == digest).limit(1)
    ).scalar()  # (rows sharing a token, if Clockify ever issued one twice, are one answer)
    return found is not None and hmac.compare_digest(found, digest)


@dataclass(frozen=True, slots=True)
class DeliveryTarget:
    """What a delivery's checks need of the webhook row that holds its token and of the
    workspace's installation (of any status)."""

    event: str
    addon_id: str
    installation_status: str

    @property
    def installation_active(self) -> bool:
        return self.installation_status == InstallationStatus.ACTIVE.value


_hooks, _installations = InstallationWebhook.__table__, Installation.__table__
# Built once, run on every delivery: the columns the checks need and nothing else (no token is
# decrypted: the stored digest of the token is compared instead).
_DELIVERY_TARGET = (
    sa.select(_hooks.c.token_digest, _hooks.c.path, _hooks.c.event, _hooks.c.status,
              _installations.c.addon_id, _installations.c.status.label("installation_status"))
    .join(_installations, _installations.c.workspace_id == _hooks.c.workspace_id)
    .where(_hooks.c.workspace_id == sa.bindparam("workspace_id"), _hooks.c.token_digest == sa.bindparam("digest"))
)


def find_delivery_target(workspace_id: str, path: str, token: str) -> DeliveryTarget | None:
    """The live webhook row that authenticates a delivery of ``token`` on route ``path``, with
    the workspace's installation (any status), or None.

    One Core query on the session's connection: this runs on every delivery.
    """
    if not token:
        return None
    digest = token_digest(token)
    found = db.session.connection().execute(
        _DELIVERY_TARGET, {"workspace_id": workspace_id, "digest": digest}).one_or_none()
    # SHA-256 digests are equal exactly when the tokens are: compared in constant time.
    if (found is None or not hmac.compare_digest(found.token_digest, digest) or found.path != path
            or found.status != ACTIVE):
        return None
    return DeliveryTarget(found.event or "", found.addon_id, found.installation_status)
