"""Which Clockify GET operations the workspace bootstrap runs, derived from the OpenAPI spec.

Workspace-level operations: every GET under ``/v1/workspaces/{workspaceId}`` whose only required
parameter is ``workspaceId``, that is not deprecated, is served by the REST host (not reports or
the audit log) and is not tagged ``Webhooks`` (webhooks are managed by the registration jobs),
minus ``EXCLUDED``. Then the dependent ones: users (``include-roles=true``), the tasks of every
project and the time entries of every user.

Each operation names its entity kind (``source``) after the last literal segment of its path,
and says how to page through it and where its list sits in the response.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from . import openapi_spec

WORKSPACE_PREFIX = "/v1/workspaces/{workspaceId}"
PAGE_SIZE_PARAMS = ("page-size", "pageSize")
EXCLUDED_TAGS = frozenset({"Webhooks", "Audit log", "Audit Log"})
EXCLUDED = {
    # Running timers are time entries: each user's time-entry listing returns them, and a second
    # source for the same entities would store them twice.
    "getInProgressTimeEntries": "running entries come with each user's time entries",
}
USERS = "getUsersOfWorkspace"
TASKS = "getTasks"
TIME_ENTRIES = "getTimeEntries"
# Dependent listings: parent source -> (operation, its path parameter for the parent's id).
EXPANSIONS = {"projects": (TASKS, "projectId"), "users": (TIME_ENTRIES, "userId")}


@dataclass(frozen=True)
class ListOperation:
    """A GET operation the bootstrap pages through.

    ``list_path`` is where the entities sit in the body: ``()`` when the body is the list,
    ``("invoices",)`` for ``{"invoices": [...]}``, None when the body is one object.
    ``id_path`` is where an entity's id sits (``("id",)``; ``()`` when it has none).
    """

    operation_id: str
    path: str
    source: str
    page_size_param: str | None
    max_page_size: int | None
    list_path: tuple[str, ...] | None
    id_path: tuple[str, ...]
    fixed_query: tuple[tuple[str, str], ...] = ()

    @property
    def paginated(self) -> bool:
        return self.page_size_param is not None

    def page_size(self, configured: int) -> int:
        """``configured`` lowered to the spec's maximum, when it states one."""
        return min(configured, self.max_page_size) if self.max_page_size else configured


def workspace_operations(spec: dict | None = None) -> tuple[ListOperation, ...]:
    """The workspace-level operations: users and projects first (their dependents wait for them),
    then the spec's order. Derived once per process for the bundled spec."""
    return _bundled_operations() if spec is None else _discover(spec)


@cache
def _bundled_operations() -> tuple[ListOperation, ...]:
    return _discover(openapi_spec.load())


def _discover(spec: dict) -> tuple[ListOperation, ...]:
    found = []
    for template, item in spec["paths"].items():
        operation = item.get("get")
        if operation is None or not template.startswith(WORKSPACE_PREFIX):
            continue
        required = {p["name"] for p in openapi_spec.parameters(spec, item, operation)
                    if p.get("required") and p["in"] in ("path", "query")}
        if required != {"workspaceId"} or operation.get("deprecated") \
                or operation["operationId"] in EXCLUDED \
                or EXCLUDED_TAGS.intersection(operation.get("tags", ())) \
                or not all(url.endswith("/api") for url in openapi_spec.servers(item, operation)):
            continue
        found.append(_describe(spec, template, item, operation))
    found.sort(key=lambda op: op.source not in EXPANSIONS)
    return (operation_by_id(USERS, spec),) + tuple(found)


def operation_by_id(operation_id: str, spec: dict | None = None) -> ListOperation:
    """The ``ListOperation`` of ``operation_id`` (users get ``include-roles=true``).

    :raise KeyError: when the spec has no such GET operation.
    """
    spec = spec or openapi_spec.load()
    for template, item in spec["paths"].items():
        operation = item.get("get")
        if operation is not None and operation.get("operationId") == operation_id:
            fixed = (("include-roles", "true"),) if operation_id == USERS else ()
            return _describe(spec, template, item, operation, fixed)
    raise KeyError(operation_id)


def _describe(spec, template, item, operation, fixed_query=()) -> ListOperation:
    params = {p["name"]: p for p in openapi_spec.parameters(spec, item, operation) if p["in"] == "query"}
    size_param = next((n for n in PAGE_SIZE_PARAMS if n in params), None) if "page" in params else None
    maximum = (params[size_param].get("schema") or {}).get("maximum") if size_param else None
    source = source_of(template)
    schema = openapi_spec.success_response(spec, operation)[1] or {}
    path = list_path(spec, schema, source)
    item_schema = _item_schema(spec, schema, path)
    return ListOperation(operation_id=operation["operationId"], path=template, source=source,
                         page_size_param=size_param, max_page_size=int(maximum) if maximum else None,
                         list_path=path, id_path=_id_path(spec, item_schema), fixed_query=tuple(fixed_query))


def source_of(template: str) -> str:
    """The entity kind of a path: its last literal segment (``/projects/{id}/tasks`` -> ``tasks``)."""
    return [s for s in template.split("/") if s and not s.startswith("{")][-1]


def list_path(spec: dict, schema: dict, source: str) -> tuple[str, ...] | None:
    """Where the list sits in a response of ``schema``: follow properties named after ``source``
    down to an array (``expenses`` -> ``expenses.expenses``); None when the body is one object."""
    path: list[str] = []
    node = openapi_spec.resolve(spec, schema)
    while node.get("type") != "array":
        child = (node.get("properties") or {}).get(source)
        if child is None:
            return None
        path.append(source)
        node = openapi_spec.resolve(spec, child)
    return tuple(path)


def _item_schema(spec, schema, path) -> dict:
    node = openapi_spec.resolve(spec, schema)
    if path is None:
        return node
    for key in path:
        node = openapi_spec.resolve(spec, node["properties"][key])
    return openapi_spec.resolve(spec, node.get("items") or {})


def _id_path(spec, item_schema) -> tuple[str, ...]:
    properties = item_schema.get("properties") or {}
    if "id" in properties:
        return ("id",)
    # Approval requests keep their id one level down, in "approvalRequest".
    for name, child in properties.items():
        if "id" in (openapi_spec.resolve(spec, child).get("properties") or {}):
            return (name, "id")
    return ()
