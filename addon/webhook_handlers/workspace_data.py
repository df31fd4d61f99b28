"""Built-in handlers: keep the ``workspace_data`` cache fresh from webhook events.

Created/updated entities are upserted, deleted ones removed, under the same ``source`` names the
bootstrap uses. Clockify does not document payload shapes, so the entity is looked for at the
top level (an object with an ``id``), then under a wrapper key named after its kind
(``{"project": {...}}``, ``{"timeEntries": [...]}``), then in a top-level list. Anything else is
skipped with a recorded reason, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..store import workspace_data
from . import Event, Skipped, on

ENTITY_ID_MAX_CHARS = 128


@dataclass(frozen=True)
class Kind:
    """One cached entity kind and the events that change it."""

    source: str
    wrapper_keys: tuple[str, ...]
    upsert_events: tuple[str, ...]
    delete_events: tuple[str, ...]


KINDS = (
    Kind("projects", ("project", "projects"), ("NEW_PROJECT", "PROJECT_UPDATED"), ("PROJECT_DELETED",)),
    Kind("clients", ("client", "clients"), ("NEW_CLIENT", "CLIENT_UPDATED"), ("CLIENT_DELETED",)),
    Kind("tags", ("tag", "tags"), ("NEW_TAG", "TAG_UPDATED"), ("TAG_DELETED",)),
    Kind("tasks", ("task", "tasks"), ("NEW_TASK", "TASK_UPDATED"), ("TASK_DELETED",)),
    Kind("time-entries", ("timeEntry", "timeEntries"),
         ("NEW_TIME_ENTRY", "NEW_TIMER_STARTED", "TIMER_STOPPED", "TIME_ENTRY_UPDATED", "TIME_ENTRY_RESTORED",
          "TIME_ENTRY_SPLIT"),
         ("TIME_ENTRY_DELETED",)),
    Kind("users", ("user", "users"),
         ("USER_JOINED_WORKSPACE", "USER_ACTIVATED_ON_WORKSPACE", "USER_DEACTIVATED_ON_WORKSPACE",
          "USER_EMAIL_CHANGED", "USER_UPDATED", "USERS_INVITED_TO_WORKSPACE", "LIMITED_USERS_ADDED_TO_WORKSPACE"),
         ("USER_DELETED_FROM_WORKSPACE",)),
    Kind("expenses", ("expense", "expenses"), ("EXPENSE_CREATED", "EXPENSE_UPDATED", "EXPENSE_RESTORED"),
         ("EXPENSE_DELETED",)),
)
KIND_OF_EVENT = {e: kind for kind in KINDS for e in kind.upsert_events + kind.delete_events}


@dataclass(frozen=True)
class Freshness:
    """How one cached collection stays fresh: webhook ``events`` (named), or the periodic
    ``refresh``; and when a bootstrap run last listed it in full."""

    source: str
    kept_by: str
    events: tuple[str, ...]
    last_refreshed_at: datetime | None


def freshness(sources, subscribed_events, last_listed: dict[str, datetime]) -> list[Freshness]:
    """The ``Freshness`` of each of ``sources``, given the subscribed events."""
    kept = sources_kept_fresh(subscribed_events)
    return [Freshness(source, "events" if source in kept else "refresh", kept.get(source, ()),
                      last_listed.get(source)) for source in sources]


def sources_kept_fresh(subscribed_events) -> dict[str, tuple[str, ...]]:
    """The sources webhook events keep fresh, with their events: those whose every creating,
    changing and deleting event is subscribed. The others need the periodic refresh."""
    subscribed = set(subscribed_events)
    return {kind.source: kind.upsert_events + kind.delete_events for kind in KINDS
            if subscribed.issuperset(kind.upsert_events + kind.delete_events)}


def find_entities(payload: Any, wrapper_keys: tuple[str, ...]) -> list[tuple[str, dict]]:
    """``(entity_id, entity)`` pairs found in ``payload`` (see module docstring); may be empty."""
    found: list[tuple[str, dict]] = []
    for item in payload if isinstance(payload, list) else [payload]:
        if not isinstance(item, dict):
            continue
        entity_id = _entity_id(item.get("id"))
        if entity_id is not None:
            found.append((entity_id, item))
            continue
        for key in wrapper_keys:
            inner = item.get(key)
            for candidate in inner if isinstance(inner, list) else [inner]:
                if isinstance(candidate, dict) and (inner_id := _entity_id(candidate.get("id"))) is not None:
                    found.append((inner_id, candidate))
    # One statement may touch an entity once; the last occurrence wins.
    return list({entity_id: (entity_id, entity) for entity_id, entity in found}.values())


def _entity_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.strip()):
        text = str(value).strip()
        return text if len(text) <= ENTITY_ID_MAX_CHARS else None
    return None


@on(*KIND_OF_EVENT)
def refresh_workspace_data(event: Event) -> None:
    """Upsert or delete the event's entity in ``workspace_data`` of the event's workspace."""
    kind = KIND_OF_EVENT[event.event_type]
    entities = find_entities(event.payload, kind.wrapper_keys)
    if not entities:
        raise Skipped(f"{kind.source}: no entity with an id in the {event.event_type} payload")
    if event.event_type in kind.delete_events:
        for entity_id, _entity in entities:
            workspace_data.delete(event.workspace_id, kind.source, entity_id)
    else:
        workspace_data.upsert(event.workspace_id, kind.source, entities)
