"""Installations: one row per workspace, written by the lifecycle callbacks.

Lookups answer the row or None; what a missing or inactive installation means to a caller (404,
410) is the caller's to say (``addon.flows.installation_checks``).
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..clockify.tokens import INSTALLATION, WEBHOOK
from ..crypto import current_cipher, token_digest
from ..extensions import autocommit_connection, db
from ..models import Installation, InstallationStatus, utcnow
from . import lifecycle_outbox, webhooks

CREATED, UPDATED, REACTIVATED = "created", "updated", "reactivated"


_BY_WORKSPACE = db.select(Installation).where(Installation.workspace_id == sa.bindparam("workspace_id"))
_BY_WORKSPACE_FOR_CHANGE = _BY_WORKSPACE.with_for_update()


def get(workspace_id: str) -> Installation | None:
    """The installation of ``workspace_id`` (any status), or None."""
    return db.session.execute(_BY_WORKSPACE, {"workspace_id": workspace_id}).scalar_one_or_none()


def get_for_change(workspace_id: str) -> Installation | None:
    """``get``, its row locked until the session commits or rolls back (``FOR UPDATE``; SQLite has
    one writer at a time): lifecycle calls of a workspace racing each other (a retry, a status
    change during an uninstall) then apply one after the other, each seeing the other's outcome,
    instead of one writing ACTIVE over a DELETED committed while it ran."""
    return db.session.execute(_BY_WORKSPACE_FOR_CHANGE, {"workspace_id": workspace_id}).scalar_one_or_none()


@dataclass(frozen=True)
class InstallationSummary:
    """What a sidebar request needs of its workspace's installation (``summary``): read-only,
    and the installation token decrypted only when a call asks for it."""

    workspace_id: str
    addon_id: str
    status: str
    api_url: str
    reports_url: str | None
    installation_token_digest: str | None = field(repr=False)
    encrypted_installation_token: str | None = field(repr=False)

    @property
    def is_active(self) -> bool:
        return self.status == InstallationStatus.ACTIVE.value

    @property
    def installation_token(self) -> str | None:
        """The installation token, decrypted (None once erased at DELETED)."""
        token = self.encrypted_installation_token
        return None if token is None else current_cipher().decrypt(token)


# Built once, without the ORM: every sidebar request reads it (API Studio's execute overhead is
# benchmarked; loading a mapped object and decrypting its token cost more than the round trip).
_SUMMARY = sa.select(
    Installation.workspace_id, Installation.addon_id, Installation.status, Installation.api_url,
    Installation.reports_url, Installation.installation_token_digest,
    sa.type_coerce(Installation.installation_token, sa.Text).label("encrypted_installation_token"),
).where(Installation.workspace_id == sa.bindparam("workspace_id"))


def summary(workspace_id: str) -> InstallationSummary | None:
    """The installation of ``workspace_id`` (any status) as an ``InstallationSummary``, or None;
    one autocommitted statement outside the session (``autocommit_connection``)."""
    with autocommit_connection() as connection:
        row = connection.execute(_SUMMARY, {"workspace_id": workspace_id}).one_or_none()
    return None if row is None else InstallationSummary(**row._mapping)


def is_active(workspace_id: str) -> bool:
    """Whether ``workspace_id`` has an active installation (reads the status alone: no token is
    decrypted)."""
    return _status(workspace_id) == InstallationStatus.ACTIVE.value


def is_installed(workspace_id: str) -> bool:
    """Whether the add-on is installed on ``workspace_id``, active or not: its data is kept."""
    return _status(workspace_id) in (InstallationStatus.ACTIVE.value, InstallationStatus.INACTIVE.value)


def _status(workspace_id: str) -> str | None:
    return db.session.execute(
        db.select(Installation.status).where(Installation.workspace_id == workspace_id)).scalar_one_or_none()


@dataclass(frozen=True)
class InstallRecord:
    """What INSTALLED tells us about one workspace's installation."""

    workspace_id: str
    addon_id: str
    installation_token: str = field(repr=False)
    api_url: str
    reports_url: str | None
    as_user: str | None
    addon_user_id: str | None
    settings: dict
    webhooks: tuple[tuple[str, str], ...] = field(default=(), repr=False)


def record_install(record: InstallRecord, jobs: tuple[str, ...] = ()) -> tuple[Installation, str]:
    """Create or refresh the workspace's installation, its manifest webhook tokens and the
    outbox row of the ``jobs`` it implies (``addon.jobs.lifecycle_outbox`` steps) in one
    transaction, and commit.

    A reinstall rotates every token (old manifest rows are replaced) and reactivates a DELETED
    installation with the new ``addonId``. Two concurrent INSTALLED calls for a new workspace
    collide on the unique workspace id; the loser retries as an update.
    :return: the installation and ``created``, ``updated`` or ``reactivated``.
    """
    try:
        installation, outcome = _upsert(record)
    except IntegrityError:
        db.session.rollback()
        installation, outcome = _upsert(record)  # the other call's row exists now: update it
    _add_outbox(record.workspace_id, "installed", jobs)
    db.session.commit()
    return installation, outcome


def lock_if_deleted(workspace_id: str) -> bool:
    """Lock the installation row of ``workspace_id`` until the transaction ends, and tell whether
    it is DELETED. A reinstall arriving meanwhile waits for the lock, so the caller can act on the
    uninstalled workspace's data knowing no new installation can appear under it.

    :return: False (the lock is released by a rollback) when the row is unknown or not DELETED.
    """
    installation = _locked(workspace_id)
    if installation is None or installation.status != InstallationStatus.DELETED.value:
        db.session.rollback()
        return False
    return True


def _locked(workspace_id: str) -> Installation | None:
    return db.session.execute(
        db.select(Installation).where(Installation.workspace_id == workspace_id).with_for_update()
    ).scalar_one_or_none()


def _upsert(record: InstallRecord) -> tuple[Installation, str]:
    now = utcnow()
    installation = _locked(record.workspace_id)
    if installation is None:
        installation, outcome = Installation(workspace_id=record.workspace_id, created_at=now), CREATED
        db.session.add(installation)
    else:
        outcome = REACTIVATED if installation.status == InstallationStatus.DELETED.value else UPDATED
    installation.addon_id = record.addon_id
    installation.status = InstallationStatus.ACTIVE.value
    installation.installation_token = record.installation_token
    installation.api_url = record.api_url
    installation.reports_url = record.reports_url
    installation.as_user = record.as_user
    installation.addon_user_id = record.addon_user_id
    installation.settings = dict(record.settings)
    installation.settings_updated_at = now
    installation.installed_at = now
    installation.status_changed_at = now
    installation.uninstalled_at = None
    db.session.flush()
    webhooks.replace_manifest_tokens(record.workspace_id, record.webhooks)
    db.session.flush()
    return installation, outcome


def is_installation_token(installation: Installation | InstallationSummary | None, token: str) -> bool:
    """Whether ``token`` is the installation's token (current or erased at DELETED), by its
    stored digest compared in constant time: nothing is decrypted."""
    stored = installation.installation_token_digest if installation is not None else None
    return stored is not None and hmac.compare_digest(stored, token_digest(token))


def stored_token_kind(workspace_id: str, token: str) -> str | None:
    """Which token of ``workspace_id``'s installation ``token`` is, by its SHA-256 digest compared
    in constant time (nothing decrypted): ``INSTALLATION`` (current, or erased at DELETED),
    ``WEBHOOK`` (any of its webhook rows, erased tokens included), or None.

    The lifecycle gate uses it: a lifecycle token's claims are unconfirmed and may look like a
    webhook token's, so only the digest tells these tokens apart from a lifecycle token.
    """
    digest = token_digest(token)
    stored = db.session.execute(db.select(Installation.installation_token_digest).where(
        Installation.workspace_id == workspace_id)).scalar_one_or_none()
    if stored is not None and hmac.compare_digest(stored, digest):
        return INSTALLATION
    return WEBHOOK if webhooks.holds_digest(workspace_id, digest) else None


def update_settings(installation: Installation, values: dict) -> bool:
    """Store the settings ``{id: value}``; commits and returns True only when they changed."""
    if _canonical(values) == _canonical(installation.settings or {}):
        return False
    installation.settings = dict(values)
    installation.settings_updated_at = utcnow()
    db.session.commit()
    return True


def set_status(installation: Installation, status: str, jobs: tuple[str, ...] = ()) -> bool:
    """Record ACTIVE or INACTIVE with the outbox row of the ``jobs`` the change implies; commits
    and returns True only when the status changed."""
    if installation.status == status:
        return False
    installation.status = status
    installation.status_changed_at = utcnow()
    _add_outbox(installation.workspace_id, f"status:{status}", jobs)
    db.session.commit()
    return True


def mark_deleted(installation: Installation, jobs: tuple[str, ...] = ()) -> bool:
    """Soft delete (status DELETED, ``uninstalled_at``) with the outbox row of the ``jobs`` it
    implies, and erase the installation token and the webhook tokens, keeping their digests (a late
    delivery is told apart from a forgery, and the dead installation token is still recognised and
    refused); commits.

    :return: False when it was already deleted.
    """
    if installation.status == InstallationStatus.DELETED.value:
        return False
    now = utcnow()
    installation.installation_token = None
    webhooks.erase_tokens(installation.workspace_id)
    installation.status = InstallationStatus.DELETED.value
    installation.status_changed_at = now
    installation.uninstalled_at = now
    _add_outbox(installation.workspace_id, "deleted", jobs)
    db.session.commit()
    return True


def add_outbox(workspace_id: str, change: str, jobs: tuple[str, ...]) -> None:
    """Add an outbox row of ``jobs`` for a change already recorded; commits."""
    _add_outbox(workspace_id, change, jobs)
    db.session.commit()


def _add_outbox(workspace_id: str, change: str, jobs: tuple[str, ...]) -> None:
    if jobs:
        lifecycle_outbox.add(workspace_id, change, list(jobs))


def _canonical(values: dict) -> str:
    # json, not ==: True == 1 in Python, but a checkbox turning into a number is a change.
    return json.dumps(values, sort_keys=True, default=str)

