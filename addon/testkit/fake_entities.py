"""Writes that change the fake Clockify's seeded entities, as Clockify's API would: a POST to a
collection creates, a PUT or PATCH of ``<collection>/<id>`` updates, a DELETE removes.

Covers the entities the add-on caches and Clockify announces by webhook: projects, tasks,
clients, tags and time entries (stored per user, under ``user/<id>/time-entries``, where the
listing reads them, whichever path wrote them). ``apply`` works on the fake's data dict of one
workspace and returns a ``Change``, or None for any other request (the fake then echoes it).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

CREATED, UPDATED, DELETED = "created", "updated", "deleted"
_PATH = re.compile(r"^(?P<collection>projects/[^/]+/tasks|projects|clients|tags|time-entries"
                   r"|user/[^/]+/time-entries)(?:/(?P<id>[0-9A-Za-z_-]+))?$")
_KIND = {"projects": "projects", "clients": "clients", "tags": "tags"}
_USER_ENTRIES = re.compile(r"^user/([^/]+)/time-entries$")


@dataclass(frozen=True)
class Change:
    """One entity written: its kind (``projects``, ``tasks``...), what happened, the entity."""

    kind: str
    action: str
    entity: dict


def kind_of(collection: str) -> str:
    """``projects/<id>/tasks`` -> ``tasks``; ``user/<id>/time-entries`` -> ``time-entries``."""
    return _KIND.get(collection) or collection.rsplit("/", 1)[-1]


def apply(data: dict[str, Any], workspace_id: str, method: str, rest: str, body: Any) -> Change | None:
    """Apply one write to ``data`` (collection -> items of one workspace); None if not an entity write."""
    found = _PATH.match(rest)
    if found is None or method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    collection, entity_id = found.group("collection"), found.group("id")
    kind = kind_of(collection)
    fields = body if isinstance(body, dict) else {}
    if entity_id is None:
        if method != "POST":
            return None
        return Change(kind, CREATED, _create(data, workspace_id, collection, kind, fields))
    if method == "POST":
        return None
    located = _locate(data, collection, kind, entity_id)
    if located is None:
        return None
    items, index = located
    if method == "DELETE":
        return Change(kind, DELETED, items.pop(index))
    entity = {**items[index], **fields, "id": entity_id}
    if kind == "time-entries":
        entity["timeInterval"] = _interval(fields, items[index].get("timeInterval"))
    items[index] = entity
    return Change(kind, UPDATED, entity)


def find(data: dict[str, Any], rest: str) -> dict | None:
    """The entity a GET of ``<collection>/<id>`` names, if the fake holds it."""
    found = _PATH.match(rest)
    if found is None or found.group("id") is None:
        return None
    located = _locate(data, found.group("collection"), kind_of(found.group("collection")), found.group("id"))
    return located[0][located[1]] if located else None


def _create(data, workspace_id, collection, kind, fields) -> dict:
    entity = {**fields, "id": uuid.uuid4().hex[:24], "workspaceId": workspace_id}
    if kind == "tasks":
        entity["projectId"] = collection.split("/")[1]
        entity.setdefault("status", "ACTIVE")
    if kind in ("projects", "clients", "tags"):
        entity.setdefault("archived", False)
    if kind == "time-entries":
        in_path = _USER_ENTRIES.match(collection)
        entity["userId"] = in_path.group(1) if in_path else fields.get("userId") or _first_user(data)
        entity["timeInterval"] = _interval(fields, None)
        entity.pop("start", None), entity.pop("end", None)
        collection = f"user/{entity['userId']}/time-entries"
    items = data.setdefault(collection, [])
    if isinstance(items, list):
        items.insert(0, entity)
    return entity


def _locate(data, collection, kind, entity_id) -> tuple[list, int] | None:
    if kind == "time-entries":
        candidates = [items for key, items in data.items() if _USER_ENTRIES.match(key)]
    else:
        candidates = [data.get(collection)]
    for items in candidates:
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict) and item.get("id") == entity_id:
                    return items, index
    return None


def _first_user(data) -> str | None:
    users = data.get("users")
    return users[0].get("id") if isinstance(users, list) and users else None


def _interval(fields: dict, previous: dict | None) -> dict:
    interval = dict(previous or {})
    for name in ("start", "end"):
        if fields.get(name):
            interval[name] = fields[name]
    interval.setdefault("start", None)
    interval.setdefault("end", None)
    return interval
