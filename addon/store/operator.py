"""Read-only listings for the development operator views: never a token.

Rows are read column by column so encrypted tokens are not even decrypted.
"""

from __future__ import annotations

from ..extensions import db
from ..models import Installation, InstallationWebhook, WebhookEvent
from .webhook_events import Page

INSTALLATION_COLUMNS = (
    Installation.id, Installation.workspace_id, Installation.addon_id, Installation.status, Installation.api_url,
    Installation.reports_url, Installation.installed_at, Installation.status_changed_at,
    Installation.uninstalled_at, Installation.settings_updated_at,
)
WEBHOOK_COLUMNS = (
    InstallationWebhook.workspace_id, InstallationWebhook.path, InstallationWebhook.event,
    InstallationWebhook.source, InstallationWebhook.status, InstallationWebhook.clockify_webhook_id,
)


def page_installations(workspace_id: str | None = None, status: str | None = None, event_type: str | None = None,
                       page_number: int = 1, per_page: int = 50) -> Page:
    """Installations newest first, each with its webhooks (path, event, source, status).

    ``event_type`` keeps installations with an API-registered webhook for that event.
    """
    query = db.select(*INSTALLATION_COLUMNS)
    if workspace_id is not None:
        query = query.where(Installation.workspace_id == workspace_id)
    if status is not None:
        query = query.where(Installation.status == status)
    if event_type is not None:
        query = query.where(Installation.workspace_id.in_(
            db.select(InstallationWebhook.workspace_id).where(InstallationWebhook.event == event_type)))
    total = db.session.execute(db.select(db.func.count()).select_from(query.subquery())).scalar_one()
    rows = [dict(r._mapping) for r in db.session.execute(
        query.order_by(Installation.id.desc()).limit(per_page).offset((page_number - 1) * per_page))]
    hooks: dict[str, list[dict]] = {r["workspace_id"]: [] for r in rows}
    if hooks:
        for hook in db.session.execute(db.select(*WEBHOOK_COLUMNS).where(
                InstallationWebhook.workspace_id.in_(list(hooks))).order_by(InstallationWebhook.id)):
            item = dict(hook._mapping)
            hooks[item.pop("workspace_id")].append(item)
    for row in rows:
        row["webhooks"] = hooks[row["workspace_id"]]
    return Page(rows, page_number, per_page, total)


def event_counts_by_status() -> dict[str, int]:
    """How many stored webhook events are in each status, every workspace together."""
    return dict(db.session.execute(
        db.select(WebhookEvent.status, db.func.count()).group_by(WebhookEvent.status).order_by(WebhookEvent.status)
    ).tuples().all())
