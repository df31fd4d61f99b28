"""The webhook inbox: ``webhook_events`` rows, written once at receipt, then only their
processing fields change.

Statuses: ``received`` (stored, maybe not enqueued) → ``processed``; on handler errors
``retrying`` until the last attempt, then ``failed``; ``skipped`` when the installation is no
longer active by the time the event is processed. ``processing`` is the state of a claimed row
inside the transaction that runs it; it is committed only by rows written before claims existed.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from ..clockify.deliveries import DedupeKey
from ..extensions import db
from ..logs import is_secret_field, redact
from ..models import LatestDelivery, WebhookEvent, utcnow

_INSERT: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {"postgresql": postgresql.insert,
                                                                     "sqlite": sqlite.insert}
# Tables (SQLAlchemy types a mapped class's ``__table__`` as the wider FromClause).
_events = cast(sa.Table, WebhookEvent.__table__)
_latest = cast(sa.Table, LatestDelivery.__table__)
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


def record(workspace_id: str, *, event_type: str, route: str, known_event: bool, dedupe: DedupeKey,
           window_seconds: int, payload: str, headers: dict) -> Stored:
    """Insert a delivery and commit, unless it repeats the latest one stored for its dedupe
    subject: the same event type and the same body. Then answer the id of the row that latest
    one created.

    The latest delivery of a subject is one row whatever its type, so a change back to an earlier
    event type (deleted → restored → deleted, the same body each time) is new, as is a body
    changed back (A → B → A). The decision is one conditional upsert of the subject's
    ``webhook_latest_deliveries`` row (``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` the type
    or the digest differs, or a windowed subject's window has passed, ``RETURNING id``): a row
    comes back only when the delivery is new. The upsert locks that row until the commit, so of
    concurrent copies exactly one is new (the others wait, then see its type and digest); the
    event row is inserted in the same transaction.
    The returned id is used rather than ``rowcount``, which SQLite reports as 0 with RETURNING.

    :raise sqlalchemy.exc.OperationalError: database down or locked; nothing was committed.
    """
    connection = db.session.connection()
    now = utcnow()
    subject = {"workspace_id": workspace_id, "subject": dedupe.subject}
    latest_id = connection.execute(_upsert_latest_statement(connection.dialect.name), {
        **subject, "event_type": event_type, "body_digest": dedupe.digest, "seen_at": now,
        "expires_at": now + timedelta(seconds=window_seconds) if dedupe.windowed else None,
    }).scalar_one_or_none()
    if latest_id is None:
        original = connection.execute(_FIND_LATEST_EVENT, subject).scalar_one()
        db.session.rollback()
        return Stored(original, False)
    new_id = connection.execute(_INSERT_EVENT, {
        "workspace_id": workspace_id, "event_type": event_type, "route": route, "known_event": known_event,
        "dedupe_key": dedupe.subject, "payload": payload, "headers": headers, "received_at": now,
    }).scalar_one()
    connection.execute(_SET_LATEST_EVENT, {"latest_id": latest_id, "event_id": new_id})
    db.session.commit()
    return Stored(new_id, True)


_FIND_LATEST_EVENT = sa.select(_latest.c.event_id).where(
    _latest.c.workspace_id == sa.bindparam("workspace_id"), _latest.c.subject == sa.bindparam("subject"))
_SET_LATEST_EVENT = (sa.update(_latest).where(_latest.c.id == sa.bindparam("latest_id"))
                     .values(event_id=sa.bindparam("event_id")))
# Built once and run on the session's connection, not through the ORM: this one-row insert is
# the hot path of every delivery.
_INSERT_EVENT = (sa.insert(_events)
                 .values(**{name: sa.bindparam(name, type_=_events.c[name].type) for name in (
                     "workspace_id", "event_type", "route", "known_event", "dedupe_key", "payload", "headers",
                     "received_at")}, status=EventStatus.RECEIVED.value, attempts=0)
                 .returning(_events.c.id))


@functools.cache
def _upsert_latest_statement(dialect_name: str):
    values = {name: sa.bindparam(name, type_=_latest.c[name].type) for name in (
        "workspace_id", "event_type", "subject", "body_digest", "seen_at", "expires_at")}
    statement = _INSERT[dialect_name](_latest).values(**values)
    incoming = statement.excluded
    return (statement.on_conflict_do_update(
        index_elements=["workspace_id", "subject"],
        set_={"event_type": incoming.event_type, "body_digest": incoming.body_digest, "seen_at": incoming.seen_at,
              "expires_at": incoming.expires_at, "event_id": None},
        where=sa.or_(_latest.c.event_type != incoming.event_type, _latest.c.body_digest != incoming.body_digest,
                     _latest.c.expires_at <= incoming.seen_at))
        .returning(_latest.c.id))


def get(workspace_id: str, event_id: int) -> WebhookEvent | None:
    """The event ``event_id`` of ``workspace_id``; None for another workspace's event."""
    return db.session.execute(
        db.select(WebhookEvent).where(WebhookEvent.workspace_id == workspace_id, WebhookEvent.id == event_id)
    ).scalar_one_or_none()


def claim_received(workspace_id: str, limit: int) -> list[Row]:
    """Claim up to ``limit`` of ``workspace_id``'s ``received`` events, oldest first.

    See ``_claim``; the caller runs them and records their outcomes in the same transaction.
    """
    return _claim(_CLAIM_RECEIVED, {"of_workspace": workspace_id, "limit": limit})


def claim(workspace_id: str, event_id: int) -> Row | None:
    """Claim event ``event_id`` of ``workspace_id`` if it is unfinished; None otherwise (missing,
    another workspace's, finished, or finished meanwhile by whoever held it)."""
    claimed = _claim(_CLAIM_ONE, {"of_workspace": workspace_id, "of_event": event_id})
    return claimed[0] if claimed else None


def _claim_statement(*criteria):
    # One UPDATE ... RETURNING: the rows become ``processing`` with one more attempt, and stay
    # locked (PostgreSQL row locks; SQLite's single writer) until the caller's commit records
    # their outcome. Concurrent claimers skip or wait for them, then see them finished; a worker
    # that dies mid-way rolls the claim back, so the rows are ``received`` again, never stuck.
    # Plain rows, not mapped objects: nothing for the session to track or flush per event.
    return (sa.update(_events)
            .where(*criteria, _events.c.status.in_([s.value for s in UNFINISHED_STATUSES]))
            .values(status=EventStatus.PROCESSING.value, attempts=_events.c.attempts + 1)
            .returning(*_events.c))


_CLAIM_RECEIVED = _claim_statement(_events.c.id.in_(
    sa.select(_events.c.id)
    .where(_events.c.workspace_id == sa.bindparam("of_workspace"), _events.c.status == EventStatus.RECEIVED.value)
    .order_by(_events.c.id).limit(sa.bindparam("limit")).with_for_update(skip_locked=True)
    .scalar_subquery()))
_CLAIM_ONE = _claim_statement(_events.c.id == sa.bindparam("of_event"),
                              _events.c.workspace_id == sa.bindparam("of_workspace"))


def _claim(statement, parameters: dict) -> list[Row]:
    return sorted(db.session.connection().execute(statement, parameters), key=lambda row: row.id)


@dataclass(frozen=True)
class Outcome:
    """How running a claimed event ended: its new status and what to record in ``last_error``
    (handler errors, or notes of what handlers skipped)."""

    event_id: int
    status: EventStatus
    note: str | None = None


_RECORD_OUTCOME = (sa.update(_events).where(_events.c.id == sa.bindparam("event_id"))
                   .values(status=sa.bindparam("new_status"), last_error=sa.bindparam("note"),
                           processed_at=sa.bindparam("finished_at")))


def record_outcomes(outcomes: list[Outcome]) -> None:
    """Write the outcomes of claimed events, in one statement with a parameter set each (caller
    commits). ``processed_at`` is set for final statuses and cleared for ``retrying``."""
    if not outcomes:
        return
    now = utcnow()
    db.session.connection().execute(_RECORD_OUTCOME, [
        {"event_id": o.event_id, "new_status": o.status.value, "note": _clip(o.note),
         "finished_at": now if o.status in FINAL_STATUSES else None} for o in outcomes])


def mark_failed(event: WebhookEvent, error: str, final: bool) -> None:
    """Handlers failed: ``retrying`` while attempts remain, ``failed`` after the last (caller commits)."""
    event.status = (EventStatus.FAILED if final else EventStatus.RETRYING).value
    event.last_error = _clip(error)
    if final:
        event.processed_at = utcnow()


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


def event_types(workspace_id: str) -> list[str]:
    """The event types ``workspace_id`` has stored events of, sorted."""
    return list(db.session.execute(
        db.select(WebhookEvent.event_type).where(WebhookEvent.workspace_id == workspace_id)
        .distinct().order_by(WebhookEvent.event_type)).scalars())


class HeaderItems(Protocol):
    """Request headers as a dict or werkzeug's ``Headers``: their name/value pairs."""

    def items(self) -> Iterable[tuple[str, str]]: ...


def storable_headers(headers: HeaderItems) -> dict[str, str]:
    """The request headers to keep with an event: credentials (``is_secret_field``) dropped,
    token-looking values redacted."""
    return {name: redact(value) for name, value in headers.items() if not is_secret_field(name)}
