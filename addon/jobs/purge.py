"""Purge of an uninstalled workspace's cached data (enqueued by the DELETED lifecycle call)."""

from __future__ import annotations

import logging

from ..extensions import db
from ..store import installations, workspace_data

log = logging.getLogger(__name__)


def purge_workspace(workspace_id: str) -> int:
    """Delete the cached ``workspace_data`` of ``workspace_id`` if it is still uninstalled.

    The installation row is locked while it runs, so a reinstall arriving meanwhile waits and
    its fresh data is never purged; a workspace reinstalled before the job ran keeps its data.
    :return: how many cached entities were removed.
    """
    if not installations.lock_if_deleted(workspace_id):
        log.info("purge skipped: the workspace is installed again or unknown")
        return 0
    removed = workspace_data.delete_workspace(workspace_id)
    db.session.commit()
    log.info("purged %d cached entities", removed)
    return removed
