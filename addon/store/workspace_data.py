"""Cached Clockify entities of a workspace, keyed by (workspace, source, entity id).

``source`` is the entity kind named after the API path's last segment (``projects``,
``time-entries``...), shared by the bootstrap and the webhook handlers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db, execute_dml
from ..models import WorkspaceData, utcnow

_INSERT: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {"postgresql": postgresql.insert,
                                                                     "sqlite": sqlite.insert}


def upsert(workspace_id: str, source: str, entities: Iterable[tuple[str, dict]],
           bootstrap_run_id: int | None = None) -> int:
    """Insert or replace ``(entity_id, data)`` pairs in one statement; returns how many.

    Concurrent upserts of one entity converge on the last writer instead of failing. The rows go
    as parameter sets of one cached statement (executemany): rendering a multi-row VALUES clause
    anew for every page cost the bootstrap several times more CPU than the database work.
    Does not commit.
    """
    rows = [{"workspace_id": workspace_id, "source": source, "entity_id": str(entity_id), "data": data,
             "bootstrap_run_id": bootstrap_run_id, "fetched_at": utcnow()} for entity_id, data in entities]
    if not rows:
        return 0
    connection = db.session.connection()
    connection.execute(_upsert_statement(connection.dialect.name), rows)
    return len(rows)


@functools.cache
def _upsert_statement(dialect_name: str):
    # Built once per dialect (``excluded`` rebuilds its column collection on every access) and
    # run on the session's connection, past the ORM's bulk-insert machinery.
    insert = _INSERT[dialect_name](WorkspaceData.__table__)
    return insert.on_conflict_do_update(
        index_elements=["workspace_id", "source", "entity_id"],
        set_={"data": insert.excluded.data, "bootstrap_run_id": insert.excluded.bootstrap_run_id,
              "fetched_at": insert.excluded.fetched_at})


def delete(workspace_id: str, source: str, entity_id: str) -> int:
    """Remove one cached entity; returns how many rows went (0 or 1)."""
    result = execute_dml(db.delete(WorkspaceData).where(
        WorkspaceData.workspace_id == workspace_id, WorkspaceData.source == source,
        WorkspaceData.entity_id == str(entity_id)))
    return result.rowcount


def delete_not_seen(workspace_id: str, source: str, bootstrap_run_id: int,
                    fetched_before: datetime | None = None) -> int:
    """After a complete bootstrap listing, remove the entities that run did not see.

    :param fetched_before: keep entities stored at or after this time (a webhook brought them
        while the run was listing).
    """
    result = execute_dml(db.delete(WorkspaceData).where(*_not_seen(workspace_id, source, bootstrap_run_id,
                                                                  fetched_before)))
    return result.rowcount


def not_seen(workspace_id: str, source: str, bootstrap_run_id: int,
             fetched_before: datetime | None = None) -> list[WorkspaceData]:
    """The entities ``delete_not_seen`` would remove, for callers that filter them further."""
    return list(db.session.execute(db.select(WorkspaceData).where(
        *_not_seen(workspace_id, source, bootstrap_run_id, fetched_before))).scalars())


def delete_ids(workspace_id: str, row_ids: Iterable[int]) -> int:
    """Remove cached entities by row id (within ``workspace_id``)."""
    ids = list(row_ids)
    if not ids:
        return 0
    return execute_dml(db.delete(WorkspaceData).where(
        WorkspaceData.workspace_id == workspace_id, WorkspaceData.id.in_(ids))).rowcount


def seen_ids(workspace_id: str, source: str, bootstrap_run_id: int) -> list[str]:
    """Entity ids of ``source`` that bootstrap run ``bootstrap_run_id`` stored, in storage order."""
    return list(db.session.execute(
        db.select(WorkspaceData.entity_id).where(WorkspaceData.workspace_id == workspace_id,
                                                 WorkspaceData.source == source,
                                                 WorkspaceData.bootstrap_run_id == bootstrap_run_id)
        .order_by(WorkspaceData.id)).scalars())


def _not_seen(workspace_id, source, bootstrap_run_id, fetched_before):
    conditions = [WorkspaceData.workspace_id == workspace_id, WorkspaceData.source == source,
                  (WorkspaceData.bootstrap_run_id != bootstrap_run_id) | WorkspaceData.bootstrap_run_id.is_(None)]
    if fetched_before is not None:
        conditions.append(WorkspaceData.fetched_at < fetched_before)
    return conditions


def delete_workspace(workspace_id: str) -> int:
    """Remove every cached entity of ``workspace_id``."""
    return execute_dml(db.delete(WorkspaceData).where(WorkspaceData.workspace_id == workspace_id)).rowcount


def counts(workspace_id: str) -> dict[str, int]:
    """Number of cached entities of ``workspace_id`` per source."""
    rows = db.session.execute(
        db.select(WorkspaceData.source, db.func.count()).where(WorkspaceData.workspace_id == workspace_id)
        .group_by(WorkspaceData.source)).all()
    return {source: count for source, count in rows}


def search_entities(workspace_id: str, source: str, text: str | None, limit: int = 100,
                    offset: int = 0) -> tuple[list[WorkspaceData], int]:
    """One page of ``workspace_id``'s cached ``source`` entities whose id or JSON contains
    ``text`` (case-insensitively; all of them when None), in cache order, and how many match."""
    query = db.select(WorkspaceData).where(WorkspaceData.workspace_id == workspace_id, WorkspaceData.source == source)
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(db.or_(db.func.lower(WorkspaceData.entity_id).like(pattern, escape="\\"),
                                   db.func.lower(db.cast(WorkspaceData.data, db.Text)).like(pattern, escape="\\")))
    total = db.session.execute(db.select(db.func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(query.order_by(WorkspaceData.id).limit(limit).offset(offset)).scalars()
    return list(rows), total
