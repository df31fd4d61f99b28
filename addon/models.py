"""Database tables. Every table carries an indexed ``workspace_id``; read them through ``addon.store``.

Tokens live only in ``EncryptedText`` columns. JSON columns are JSONB on PostgreSQL and JSON
(text) on SQLite.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, validates

from .crypto import EncryptedText, token_digest
from .extensions import Model

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the models use."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC: the one conversion of naive times, which are UTC here (SQLite hands
    stored times back naive; so does ``datetime.fromisoformat`` for a time without offset)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def isoformat_utc(value: datetime | None) -> str | None:
    """ISO 8601 with the UTC offset (None stays None)."""
    return None if value is None else as_utc(value).isoformat()


class InstallationStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    DELETED = "DELETED"


class Installation(Model):
    """One Clockify workspace that installed the add-on (soft-deleted on uninstall)."""

    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(sa.String(64), unique=True, index=True)
    addon_id: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default=InstallationStatus.ACTIVE.value)
    # Erased at DELETED; the digest stays, so the token is still recognised (and refused).
    installation_token: Mapped[str | None] = mapped_column(EncryptedText())
    installation_token_digest: Mapped[str | None] = mapped_column(sa.String(64))
    api_url: Mapped[str] = mapped_column(sa.String(512))
    reports_url: Mapped[str | None] = mapped_column(sa.String(512))
    as_user: Mapped[str | None] = mapped_column(sa.String(64))
    addon_user_id: Mapped[str | None] = mapped_column(sa.String(64))
    settings: Mapped[dict] = mapped_column(JSONType, default=dict)
    settings_updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    installed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    status_changed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    uninstalled_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    @property
    def is_active(self) -> bool:
        return self.status == InstallationStatus.ACTIVE.value

    @validates("installation_token")
    def _keep_digest(self, _key, token: str | None) -> str | None:
        # Setting a token sets its digest; erasing it keeps the digest (see the column comment).
        if token is not None:
            self.installation_token_digest = token_digest(token)
        return token

    def __repr__(self) -> str:
        return f"<Installation {self.workspace_id} {self.status}>"


class InstallationWebhook(Model):
    """A webhook of an installation: declared in the manifest or registered through the API.

    ``token_digest`` finds a delivery's token in one indexed lookup; ``token`` keeps the secret
    itself, encrypted. INSTALLED's ``webhooks[]`` names no event, so manifest rows have
    ``event = ""`` and several may share a path. ``clockify_webhook_id`` is set for
    API-registered webhooks.
    """

    __tablename__ = "installation_webhooks"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "token_digest"),
        sa.Index("ix_installation_webhooks_workspace_path", "workspace_id", "path"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    path: Mapped[str] = mapped_column(sa.String(255))
    event: Mapped[str] = mapped_column(sa.String(64), default="")
    source: Mapped[str] = mapped_column(sa.String(16), default="manifest")
    token: Mapped[str | None] = mapped_column(EncryptedText())
    token_digest: Mapped[str | None] = mapped_column(sa.String(64))
    clockify_webhook_id: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<InstallationWebhook {self.workspace_id} {self.path} {self.event or '*'} {self.status}>"


class WebhookEvent(Model):
    """Immutable ledger of accepted webhook deliveries; only the processing fields change.

    ``dedupe_key`` is the delivery's dedupe subject (not unique: an entity changes many times);
    ``LatestDelivery`` decides what a duplicate is.
    """

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    event_type: Mapped[str] = mapped_column(sa.String(64), index=True)
    route: Mapped[str] = mapped_column(sa.String(16))
    known_event: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    dedupe_key: Mapped[str] = mapped_column(sa.String(128))
    payload: Mapped[str] = mapped_column(sa.Text)
    headers: Mapped[dict] = mapped_column(JSONType, default=dict)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="received", index=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    enqueued_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<WebhookEvent {self.id} {self.workspace_id} {self.event_type} {self.status}>"


class ApiCall(Model):
    """Audit trail of API Studio calls (parameters stored with secrets redacted)."""

    __tablename__ = "api_calls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(sa.String(64))
    operation_id: Mapped[str | None] = mapped_column(sa.String(128))
    method: Mapped[str] = mapped_column(sa.String(8))
    path: Mapped[str] = mapped_column(sa.String(512))
    # The URL exactly as it went on the wire (query included); None for a refused call.
    url: Mapped[str | None] = mapped_column(sa.Text)
    token_kind: Mapped[str] = mapped_column(sa.String(16), default="user")
    request: Mapped[dict] = mapped_column(JSONType, default=dict)
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    outcome: Mapped[str] = mapped_column(sa.String(32))
    duration_ms: Mapped[float | None] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, index=True)


class BootstrapRunStatus(enum.StrEnum):
    """Where a bootstrap run stands. ``waiting``: Clockify throttled the workspace; a job is
    scheduled for ``resume_at``."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_RUN_STATUSES = (BootstrapRunStatus.PENDING, BootstrapRunStatus.RUNNING, BootstrapRunStatus.WAITING)


class BootstrapRun(Model):
    """One bootstrap run of a workspace (a full load, or a refresh of some ``sources``).

    Progress lives in its ``BootstrapCheckpoint`` rows; ``heartbeat_at`` is renewed by the job
    working on it, so a run nobody works on can be told apart and resumed. ``request_id`` is the
    id of the call that started it, carried into every job, thread and outbound call.
    """

    __tablename__ = "bootstrap_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=BootstrapRunStatus.PENDING.value, index=True)
    trigger: Mapped[str] = mapped_column(sa.String(16), default="install")
    sources: Mapped[list | None] = mapped_column(JSONType)
    request_id: Mapped[str | None] = mapped_column(sa.String(128))
    operations_total: Mapped[int] = mapped_column(sa.Integer, default=0)
    errors: Mapped[list] = mapped_column(JSONType, default=list)
    window_start: Mapped[str | None] = mapped_column(sa.String(32))
    window_end: Mapped[str | None] = mapped_column(sa.String(32))
    rq_job_id: Mapped[str | None] = mapped_column(sa.String(160))
    resumes: Mapped[int] = mapped_column(sa.Integer, default=0)
    resume_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    def __repr__(self) -> str:
        return f"<BootstrapRun {self.id} {self.workspace_id} {self.status}>"


class CheckpointState(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BootstrapCheckpoint(Model):
    """Where one listing of a run stands: the next page to fetch and the items stored so far.

    One row per listing, written in the transaction that stores each page's entities.
    """

    __tablename__ = "bootstrap_checkpoints"
    __table_args__ = (sa.UniqueConstraint("run_id", "op_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.BigInteger, sa.ForeignKey("bootstrap_runs.id", ondelete="CASCADE"))
    workspace_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    op_key: Mapped[str] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.String(128))
    state: Mapped[str] = mapped_column(sa.String(16))
    next_page: Mapped[int] = mapped_column(sa.Integer, default=1)
    items: Mapped[int] = mapped_column(sa.Integer, default=0)
    error: Mapped[dict | None] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class WorkspaceData(Model):
    """A cached Clockify entity. ``source`` names its kind (``projects``, ``time-entries``, ...)."""

    __tablename__ = "workspace_data"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "source", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    source: Mapped[str] = mapped_column(sa.String(128))
    entity_id: Mapped[str] = mapped_column(sa.String(128))
    data: Mapped[dict] = mapped_column(JSONType)
    bootstrap_run_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    fetched_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class LatestDelivery(Model):
    """The latest delivery stored per workspace and dedupe subject (an entity, a delivery id, or
    a body without entity), whatever its event type: a delivery repeating it, the same
    ``event_type`` and ``body_digest``, is a duplicate.

    ``expires_at`` is set for body subjects only: past it, the same body counts as new.
    """

    __tablename__ = "webhook_latest_deliveries"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "subject"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    # The latest delivery's type: one of another type is a change (deleted, then restored).
    event_type: Mapped[str] = mapped_column(sa.String(64))
    subject: Mapped[str] = mapped_column(sa.String(80))
    body_digest: Mapped[str] = mapped_column(sa.String(64))
    event_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    seen_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class LifecycleOutbox(Model):
    """The jobs a lifecycle state change implies, written in the transaction of the change.

    ``steps`` are done in order (``addon.jobs.lifecycle_outbox``); ``steps_done`` counts those
    whose enqueue (or cancellation) reached Redis, so a dispatch interrupted by a Redis outage
    resumes where it stopped. ``dispatched_at`` is set once every step is done.
    """

    __tablename__ = "lifecycle_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    change: Mapped[str] = mapped_column(sa.String(32))
    steps: Mapped[list] = mapped_column(JSONType, default=list)
    steps_done: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), index=True)
