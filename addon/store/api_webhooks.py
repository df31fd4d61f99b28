"""Webhooks the add-on registered through Clockify's API (``installation_webhooks``, source ``api``).

Status of a row: ``active`` (registered), ``failed`` (registration failed), ``deleted``
(deregistered, or already gone at Clockify), ``delete_failed`` (deregistration retries exhausted:
``flask webhooks deregister --retry`` tries again), ``delete_refused`` (Clockify answered 401 or
403: terminal, never retried).
"""

from __future__ import annotations

from ..crypto import token_digest
from ..extensions import db
from ..models import InstallationWebhook

SOURCE = "api"
PENDING_DELETION = ("active", "delete_failed")


def for_workspace(workspace_id: str) -> list[InstallationWebhook]:
    """Every API-registered webhook row of ``workspace_id``, oldest first."""
    return list(db.session.execute(
        db.select(InstallationWebhook).where(InstallationWebhook.workspace_id == workspace_id,
                                             InstallationWebhook.source == SOURCE)
        .order_by(InstallationWebhook.id)).scalars())


def active_events(workspace_id: str) -> set[str]:
    """Events with an active API-registered webhook."""
    return {row.event for row in for_workspace(workspace_id) if row.status == "active"}


def save_registered(workspace_id: str, event: str, path: str, webhook_id: str,
                    token: str | None) -> InstallationWebhook:
    """Record a webhook Clockify created for ``event`` (reusing the event's inactive row)."""
    row = _reusable(workspace_id, event) or InstallationWebhook(workspace_id=workspace_id, source=SOURCE, event=event)
    row.path, row.clockify_webhook_id, row.status, row.last_error = path, webhook_id, "active", None
    row.token = token
    row.token_digest = token_digest(token) if token else None
    db.session.add(row)
    db.session.flush()
    return row


def save_registration_failure(workspace_id: str, event: str, path: str, message: str) -> InstallationWebhook:
    """Record that registering ``event`` failed."""
    row = _reusable(workspace_id, event) or InstallationWebhook(workspace_id=workspace_id, source=SOURCE, event=event)
    row.path, row.status, row.last_error = path, "failed", message[:500]
    db.session.add(row)
    db.session.flush()
    return row


def to_deregister(workspace_id: str, only_failed: bool = False) -> list[InstallationWebhook]:
    """Rows whose webhook may still exist at Clockify (only the failed deletions, if asked)."""
    statuses = ("delete_failed",) if only_failed else PENDING_DELETION
    return [row for row in for_workspace(workspace_id)
            if row.clockify_webhook_id and row.status in statuses]


def workspaces_with_failed_deregistration() -> list[str]:
    """Workspaces with at least one ``delete_failed`` row."""
    return list(db.session.execute(
        db.select(InstallationWebhook.workspace_id).where(InstallationWebhook.source == SOURCE,
                                                          InstallationWebhook.status == "delete_failed")
        .distinct().order_by(InstallationWebhook.workspace_id)).scalars())


def mark(row: InstallationWebhook, status: str, last_error: str | None = None) -> None:
    """Set a row's status and last error (no secret in ``last_error``)."""
    row.status = status
    row.last_error = last_error[:500] if last_error else None
    if status == "deleted":
        row.token, row.token_digest = None, None  # the webhook is gone: its token must no longer verify


def _reusable(workspace_id: str, event: str) -> InstallationWebhook | None:
    rows = [r for r in for_workspace(workspace_id) if r.event == event and r.status in ("failed", "deleted")]
    return rows[-1] if rows else None
