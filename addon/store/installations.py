"""Installations: one row per workspace."""

from __future__ import annotations

from ..errors import Gone, NotFound
from ..extensions import db
from ..models import Installation


def get(workspace_id: str) -> Installation | None:
    """The installation of ``workspace_id`` (any status), or None."""
    return db.session.execute(
        db.select(Installation).where(Installation.workspace_id == workspace_id)
    ).scalar_one_or_none()


def require(workspace_id: str) -> Installation:
    """The installation of ``workspace_id`` (any status).

    :raise NotFound: 404 ``not_installed`` when the workspace never installed the add-on.
    """
    installation = get(workspace_id)
    if installation is None:
        raise NotFound("The add-on is not installed on this workspace.", code="not_installed")
    return installation


def require_active(workspace_id: str) -> Installation:
    """The ACTIVE installation of ``workspace_id``.

    :raise NotFound: never installed. :raise Gone: 410 when inactive or deleted.
    """
    installation = require(workspace_id)
    if not installation.is_active:
        raise Gone(f"The add-on is {installation.status.lower()} on this workspace.",
                   status_value=installation.status)
    return installation
