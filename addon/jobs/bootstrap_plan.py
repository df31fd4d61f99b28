"""The operations of one bootstrap run, and how to read their pages.

An operation has a stable key: the operationId (``getProjects``), or for dependents the
operationId and the parent's id (``getTasks:<projectId>``). Keys name the checkpoints, so a
resumed run finds its place again. A run may cover only some sources (a refresh): then only
their listings, and the parent listings their dependents need, are planned.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from ..clockify import bootstrap_operations as catalog
from ..clockify.bootstrap_operations import ListOperation

MAX_PAGES = 10_000
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class PlannedOp:
    """One listing of a run: its key, the spec operation, the concrete path and fixed query."""

    key: str
    operation: ListOperation
    path: str
    query: tuple[tuple[str, str], ...]
    parent: str | None = None

    @property
    def source(self) -> str:
        return self.operation.source


def all_sources() -> list[str]:
    """Every source a full run lists: the workspace-level ones, then the dependents."""
    sources = [op.source for op in catalog.workspace_operations()]
    sources += [catalog.operation_by_id(operation_id).source for operation_id, _ in catalog.EXPANSIONS.values()]
    return list(dict.fromkeys(sources))


def with_parents(sources: list[str]) -> list[str]:
    """``sources`` plus the parent listings their dependents are found from."""
    needed = set(sources)
    for parent, (operation_id, _) in catalog.EXPANSIONS.items():
        if catalog.operation_by_id(operation_id).source in needed:
            needed.add(parent)
    return [source for source in all_sources() if source in needed]


def base_ops(workspace_id: str, sources: list[str] | None = None) -> list[PlannedOp]:
    """The workspace-level listings (users and projects first), of ``sources`` when given."""
    return [PlannedOp(op.operation_id, op, op.path.replace("{workspaceId}", workspace_id), op.fixed_query)
            for op in catalog.workspace_operations() if sources is None or op.source in sources]


def expansions(sources: list[str] | None = None) -> dict[str, str]:
    """Parent source -> dependent source, for the dependents ``sources`` covers."""
    found = {}
    for parent, (operation_id, _) in catalog.EXPANSIONS.items():
        dependent = catalog.operation_by_id(operation_id).source
        if sources is None or dependent in sources:
            found[parent] = dependent
    return found


def dependent_ops(workspace_id: str, parent_source: str, parent_ids: list[str], window: dict) -> list[PlannedOp]:
    """The listings that expand ``parent_source``: tasks per project, time entries per user
    (within the run's time window)."""
    operation_id, parameter = catalog.EXPANSIONS[parent_source]
    operation = catalog.operation_by_id(operation_id)
    query = (("start", window["start"]), ("end", window["end"])) if operation_id == catalog.TIME_ENTRIES else ()
    path = operation.path.replace("{workspaceId}", workspace_id)
    return [PlannedOp(f"{operation_id}:{_key_part(parent_id)}", operation,
                      path.replace("{" + parameter + "}", quote(parent_id, safe="")), query, parent_source)
            for parent_id in parent_ids]


def time_window(days: int, now: datetime) -> dict:
    """The time-entry window of a run: the last ``days`` days up to ``now`` (UTC, whole seconds)."""
    return {"start": (now - timedelta(days=days)).strftime(TIME_FORMAT), "end": now.strftime(TIME_FORMAT)}


def page_params(op: PlannedOp, page: int, page_size: int) -> list[tuple[str, Any]]:
    """The query of ``page`` (fixed parameters first)."""
    params: list[tuple[str, Any]] = list(op.query)
    size_param = op.operation.page_size_param
    if size_param is not None:  # paginated
        params += [("page", page), (size_param, page_size)]
    return params


def extract_items(op: PlannedOp, body: Any) -> list[dict]:
    """The entities of one answer.

    :raise ValueError: when the body does not have the shape the spec describes.
    """
    path = op.operation.list_path
    if path is None:
        if not isinstance(body, dict):
            raise ValueError("expected one object")
        return [body]
    node = body
    for key in path:
        if not isinstance(node, dict):
            raise ValueError(f"expected an object with {key!r}")
        node = node.get(key) or []
    if not isinstance(node, list) or not all(isinstance(item, dict) for item in node):
        raise ValueError("expected a list of objects")
    return node


def entity_id(op: PlannedOp, item: dict, workspace_id: str) -> str:
    """The id an entity is stored under: the spec's id field; a single object without one is the
    workspace's; a list item without one gets a digest of its content."""
    node: Any = item
    for key in op.operation.id_path:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, (str, int)) and str(node):
        return str(node)
    if op.operation.list_path is None:
        return workspace_id
    return "sha256:" + hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()[:40]


def is_last_page(last_page_header: str | None, item_count: int, page_size: int) -> bool:
    """``Last-Page`` wins when present; without it a short or empty page is the last."""
    if last_page_header is not None:
        return last_page_header.strip().lower() == "true"
    return item_count < page_size


def _key_part(value: str) -> str:
    return value if _SAFE_ID.match(value) else hashlib.sha256(value.encode()).hexdigest()[:32]
