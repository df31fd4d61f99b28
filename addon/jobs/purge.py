"""Purge of an uninstalled workspace's cached data (enqueued by the DELETED lifecycle call)."""

from __future__ import annotations

import logging

from ..extensions import db
from ..models import Installation, InstallationStatus
from ..store import workspace_data

log = logging.getLogger(__name__)


def purge_workspace(workspace_id: str) -> int:
    """Delete the cached ``workspace_data`` of ``workspace_id`` if it is still uninstalled.

    The installation row is locked while it runs, so a reinstall arriving meanwhile waits and
    its fresh data is never purged; a workspace reinstalled before the job ran keeps its data.
    :return: how many cached entities were removed.
    """
    installation = db.session.execute(
        db.select(Installation).where(Installation.workspace_id == workspace_id).with_for_update()
    ).scalar_one_or_none()
    if installation is None or installation.status != InstallationStatus.DELETED.value:
        db.session.rollback()
        log.info("purge skipped: the workspace is installed again or unknown")
        return 0
    removed = workspace_data.delete_workspace(workspace_id)
    db.session.commit()
    log.info("purged %d cached entities", removed)
    return removed
