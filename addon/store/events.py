"""The webhook inbox: ``webhook_events`` rows, written once at receipt, then only their
processing fields change.

Statuses: ``received`` (stored, maybe not enqueued) → ``processing`` → ``processed``; on handler
errors ``retrying`` until the last attempt, then ``failed``; ``skipped`` when the installation is
no longer active by the time the event is processed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import WebhookEvent, utcnow

_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
LAST_ERROR_MAX_CHARS = 4000


class EventStatus(enum.StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    RETRYING = "retrying"
    PROCESSED = "processed"
    FAILED = "failed"
    SKIPPED = "skipped"


# The job has nothing left to do for these.
FINAL_STATUSES = (EventStatus.PROCESSED, EventStatus.FAILED, EventStatus.SKIPPED)
# These still need a job; the sweep re-enqueues them when their job is gone.
UNFINISHED_STATUSES = (EventStatus.RECEIVED, EventStatus.PROCESSING, EventStatus.RETRYING)


@dataclass(frozen=True)
class Stored:
    """Result of ``record``: the row id, and False when the delivery was a duplicate."""

    id: int
    created: bool


def record(workspace_id: str, *, event_type: str, route: str, known_event: bool, dedupe_key: str,
           payload: str, headers: dict) -> Stored:
    """Insert a delivery and commit, or find the row an earlier identical delivery created.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` makes concurrent duplicates collapse on
    the (workspace, dedupe key) constraint. The returned id is used rather than ``rowcount``,
    which SQLite reports as 0 with RETURNING.

    :raise sqlalchemy.exc.OperationalError: database down or locked; nothing was committed.
    """
    # On the table, not the mapped class: a plain Core insert skips the ORM's bulk-insert
    # machinery, which this one-row insert does not need (it is the hot path of every delivery).
    table = WebhookEvent.__table__
    insert = _INSERT[db.session.get_bind().dialect.name](table)
    statement = insert.values(
        workspace_id=workspace_id, event_type=event_type, route=route, known_event=known_event,
        dedupe_key=dedupe_key, payload=payload, headers=headers, received_at=utcnow(),
        status=EventStatus.RECEIVED.value, attempts=0,
    ).on_conflict_do_nothing(index_elements=["workspace_id", "dedupe_key"]).returning(table.c.id)
    new_id = db.session.execute(statement).scalar_one_or_none()
    if new_id is not None:
        db.session.commit()
        return Stored(new_id, True)
    original = db.session.execute(
        db.select(WebhookEvent.id).where(WebhookEvent.workspace_id == workspace_id,
                                         WebhookEvent.dedupe_key == dedupe_key)).scalar_one()
    db.session.rollback()
    return Stored(original, False)


def get(workspace_id: str, event_id: int) -> WebhookEvent | None:
    """The event ``event_id`` of ``workspace_id``; None for another workspace's event."""
    return db.session.execute(
        db.select(WebhookEvent).where(WebhookEvent.workspace_id == workspace_id, WebhookEvent.id == event_id)
    ).scalar_one_or_none()


def mark_processing(event: WebhookEvent) -> None:
    """Count an attempt and flag the row as being processed (caller commits)."""
    event.status = EventStatus.PROCESSING.value
    event.attempts = (event.attempts or 0) + 1


def mark_processed(event: WebhookEvent, note: str | None = None) -> None:
    """Handlers succeeded; ``note`` records what they skipped, if anything (caller commits)."""
    event.status = EventStatus.PROCESSED.value
    event.processed_at = utcnow()
    event.last_error = _clip(note)


def mark_failed(event: WebhookEvent, error: str, final: bool) -> None:
    """Handlers failed: ``retrying`` while attempts remain, ``failed`` after the last (caller commits)."""
    event.status = (EventStatus.FAILED if final else EventStatus.RETRYING).value
    event.last_error = _clip(error)
    if final:
        event.processed_at = utcnow()


def mark_skipped(event: WebhookEvent, reason: str) -> None:
    """Nothing will run for this event (caller commits)."""
    event.status = EventStatus.SKIPPED.value
    event.processed_at = utcnow()
    event.last_error = _clip(reason)


def mark_enqueued(events: list[WebhookEvent], reset: bool = False) -> None:
    """Stamp ``enqueued_at``; ``reset`` (replay) sets the rows back to ``received`` (caller commits)."""
    now = utcnow()
    for event in events:
        event.enqueued_at = now
        if reset:
            event.status = EventStatus.RECEIVED.value
            event.processed_at = None


def iter_unfinished(older_than: datetime, batch_size: int = 500) -> Iterator[list[WebhookEvent]]:
    """Batches (by id) of events of every workspace still needing a job, last enqueued (or
    received) before ``older_than``. Maintenance only: the sweep is not about one workspace."""
    last_id = 0
    while True:
        batch = list(db.session.execute(
            db.select(WebhookEvent).where(
                WebhookEvent.id > last_id,
                WebhookEvent.status.in_([s.value for s in UNFINISHED_STATUSES]),
                db.func.coalesce(WebhookEvent.enqueued_at, WebhookEvent.received_at) < older_than,
            ).order_by(WebhookEvent.id).limit(batch_size)).scalars())
        if not batch:
            return
        yield batch
        last_id = batch[-1].id


def iter_for_replay(workspace_id: str, since: datetime | None = None, event_type: str | None = None,
                    batch_size: int = 500) -> Iterator[list[WebhookEvent]]:
    """Batches (by id) of ``workspace_id``'s events received at or after ``since``, of ``event_type``."""
    last_id = 0
    while True:
        query = db.select(WebhookEvent).where(WebhookEvent.workspace_id == workspace_id, WebhookEvent.id > last_id)
        if since is not None:
            query = query.where(WebhookEvent.received_at >= since)
        if event_type is not None:
            query = query.where(WebhookEvent.event_type == event_type)
        batch = list(db.session.execute(query.order_by(WebhookEvent.id).limit(batch_size)).scalars())
        if not batch:
            return
        yield batch
        last_id = batch[-1].id


@dataclass(frozen=True)
class Page:
    """One page of a listing."""

    items: list
    page: int
    per_page: int
    total: int


def page(workspace_id: str | None = None, event_type: str | None = None, status: str | None = None,
         page_number: int = 1, per_page: int = 50) -> Page:
    """Events newest first, optionally of one workspace / event type / status.

    ``workspace_id=None`` lists every workspace: for the development operator view only.
    """
    query = db.select(WebhookEvent)
    if workspace_id is not None:
        query = query.where(WebhookEvent.workspace_id == workspace_id)
    if event_type is not None:
        query = query.where(WebhookEvent.event_type == event_type)
    if status is not None:
        query = query.where(WebhookEvent.status == status)
    total = db.session.execute(db.select(db.func.count()).select_from(query.subquery())).scalar_one()
    items = list(db.session.execute(
        query.order_by(WebhookEvent.id.desc()).limit(per_page).offset((page_number - 1) * per_page)).scalars())
    return Page(items, page_number, per_page, total)


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:LAST_ERROR_MAX_CHARS]
