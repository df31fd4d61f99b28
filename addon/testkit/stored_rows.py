"""Stored rows read back for tests' assertions; the runtime reads them through narrower queries
(``store.webhooks.find_delivery_target``, ``store.workspace_data.search_entities``...)."""

from __future__ import annotations

import hmac

from ..crypto import token_digest
from ..extensions import db
from ..models import InstallationWebhook, WorkspaceData


def webhook_holding(workspace_id: str, token: str, path: str | None = None) -> InstallationWebhook | None:
    """The webhook row of ``workspace_id`` whose stored (decrypted) token is ``token`` and, when
    given, whose route is ``path``; any status."""
    row = db.session.execute(db.select(InstallationWebhook).where(
        InstallationWebhook.workspace_id == workspace_id,
        InstallationWebhook.token_digest == token_digest(token))).scalar_one_or_none()
    if row is None or row.token is None or not hmac.compare_digest(row.token.encode(), token.encode()):
        return None
    return row if path is None or row.path == path else None


def webhook_rows(workspace_id: str, source: str | None = None) -> list[InstallationWebhook]:
    """The webhook rows of ``workspace_id`` (optionally of one ``source``), oldest first."""
    query = db.select(InstallationWebhook).where(InstallationWebhook.workspace_id == workspace_id)
    if source is not None:
        query = query.where(InstallationWebhook.source == source)
    return list(db.session.execute(query.order_by(InstallationWebhook.id)).scalars())


def workspace_entities(workspace_id: str, source: str | None = None) -> list[WorkspaceData]:
    """Every cached entity of ``workspace_id`` (optionally of one ``source``), by source, then
    oldest first."""
    query = db.select(WorkspaceData).where(WorkspaceData.workspace_id == workspace_id)
    if source is not None:
        query = query.where(WorkspaceData.source == source)
    return list(db.session.execute(query.order_by(WorkspaceData.source, WorkspaceData.id)).scalars())
