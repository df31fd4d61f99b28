"""Catalog of every operation in Clockify's OpenAPI spec (the repo's ``openapi.json``).

The spec is parsed once per process (``openapi_spec.load``, shared with the request validator
and the bootstrap), the catalog built on first use. Operations are grouped by tag, tags ordered
as the spec's ``x-tagGroups`` lists them. Each operation carries what API Studio needs: its
method, path template, host (``api`` on the token's ``backendUrl``, ``reports`` on its
``reportsUrl``), parameters and request body with every ``$ref`` resolved into a form-ready
schema (``openapi_schemas``). ``Catalog.resolve`` maps a method and a concrete or templated path to one operation.

Plain Python: no Flask, no I/O besides reading the spec file.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field

from . import openapi_spec
from .openapi_schemas import form_schema, normalized_schemas

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API, REPORTS = "api", "reports"
ADDON_SECURITY_SCHEMES = frozenset({"AddonKeyAuth", "ReportAddonKeyAuth"})
_TEMPLATE_VARIABLE = re.compile(r"\{([^}/]+)\}")


@dataclass(frozen=True)
class Operation:
    """One operation of the spec, with its schemas resolved for forms."""

    operation_id: str
    method: str
    path: str
    summary: str
    description: str
    deprecated: bool
    tag: str
    host: str
    parameters: tuple[dict, ...] = field(repr=False)
    request_body: dict | None = field(repr=False)
    addon_token_accepted: bool = True

    @property
    def is_write(self) -> bool:
        """True for POST, PUT, PATCH and DELETE: API Studio asks for confirmation first."""
        return self.method in WRITE_METHODS

    @property
    def path_parameter_names(self) -> tuple[str, ...]:
        return tuple(_TEMPLATE_VARIABLE.findall(self.path))

    def parameters_in(self, location: str) -> tuple[dict, ...]:
        """The parameters of one location (``path``, ``query`` or ``header``)."""
        return tuple(p for p in self.parameters if p["in"] == location)

    def summary_dict(self) -> dict:
        """The operation as listed in the catalog."""
        return {"operationId": self.operation_id, "method": self.method, "path": self.path,
                "summary": self.summary, "deprecated": self.deprecated, "host": self.host}

    def detail_dict(self) -> dict:
        """The operation with its description, parameters and request body."""
        return {**self.summary_dict(), "tag": self.tag, "description": self.description,
                "write": self.is_write, "addonTokenAccepted": self.addon_token_accepted,
                "parameters": list(self.parameters), "requestBody": self.request_body}


@dataclass(frozen=True)
class Resolution:
    """An operation found for a method and path, with the path parameters the path carried."""

    operation: Operation
    path_params: dict[str, str]


class Catalog:
    """Every operation of one spec. Build it with ``Catalog.from_spec`` or use ``get_catalog``."""

    def __init__(self, tags: list[dict], operations: list[Operation], schemas: dict | None = None):
        self.tags = tags
        # The spec's components.schemas as validation reads them (``normalized_schemas``).
        self.schemas = schemas if schemas is not None else {}
        self.operations = {op.operation_id: op for op in operations}
        self._by_path: dict[str, dict[str, Operation]] = {}
        for op in operations:
            self._by_path.setdefault(op.path, {})[op.method] = op
        self._patterns = [(path, _path_pattern(path)) for path in self._by_path]
        self._listing = {
            "count": len(self.operations),
            "tags": [{"name": t["name"], "group": t["group"],
                      "operations": [op.summary_dict() for op in t["operations"]]} for t in tags],
        }
        self.etag = hashlib.sha256(json.dumps(self._listing, sort_keys=True).encode()).hexdigest()[:32]
        # Served on every sidebar load and never changing in a process: serialized once.
        self.listing_json = json.dumps(self._listing, separators=(",", ":")).encode()

    @classmethod
    def from_spec(cls, spec: dict) -> Catalog:
        """Build the catalog of ``spec`` (a parsed OpenAPI 3.0 document)."""
        schemas = normalized_schemas(spec)
        groups = {tag: group["name"] for group in spec.get("x-tagGroups", []) for tag in group.get("tags", [])}
        tag_order = [tag for group in spec.get("x-tagGroups", []) for tag in group.get("tags", [])]
        tag_order += [t["name"] for t in spec.get("tags", []) if t["name"] not in groups]

        operations: list[Operation] = []
        for path, item in spec["paths"].items():
            host = _host_of(item.get("servers"))
            for method in HTTP_METHODS:
                if method in item:
                    operations.append(_operation(path, method, item[method], host, schemas))

        by_tag: dict[str, list[Operation]] = {}
        for op in operations:
            by_tag.setdefault(op.tag, []).append(op)
        tag_order += [tag for tag in by_tag if tag not in tag_order]
        tags = [{"name": tag, "group": groups.get(tag, "Other"), "operations": by_tag[tag]}
                for tag in tag_order if by_tag.get(tag)]
        return cls(tags, operations, schemas)

    def listing(self) -> dict:
        """``{"count", "tags": [{"name", "group", "operations": [...]}]}`` (a fresh copy)."""
        return copy.deepcopy(self._listing)

    def get(self, operation_id: str) -> Operation | None:
        """The operation named ``operation_id``, or None."""
        return self.operations.get(operation_id)

    def resolve(self, method: str, path: str) -> Resolution | None:
        """The operation for ``method`` and ``path``, or None.

        ``path`` is a spec template (``/v1/workspaces/{workspaceId}/projects``), a concrete path
        (``/v1/workspaces/ab12/projects``) or a mix. When several templates match, the one with
        the fewest variables wins (OpenAPI's rule: concrete paths first). Segments still written
        as ``{name}`` are left out of ``path_params``.
        """
        method = method.upper()
        exact = self._by_path.get(path, {}).get(method)
        if exact is not None:
            return Resolution(exact, {})
        candidates = []
        for template, pattern in self._patterns:
            match = pattern.match(path)
            if match and method in self._by_path[template]:
                candidates.append((template.count("{"), template, match.groupdict()))
        if not candidates:
            return None
        _, template, values = min(candidates)
        params = {name: value for name, value in values.items() if value != "{" + name + "}"}
        return Resolution(self._by_path[template][method], params)

    def suggest_operation_ids(self, name: str, limit: int = 5) -> list[dict]:
        """Operations whose id is close to ``name`` (difflib), best first."""
        ids = {op_id.lower(): op_id for op_id in self.operations}
        close = difflib.get_close_matches(str(name).lower(), list(ids), n=limit, cutoff=0.5)
        return [self._suggestion(self.operations[ids[c]]) for c in close]

    def suggest_paths(self, method: str, path: str, limit: int = 5) -> list[dict]:
        """Operations whose template is close to ``path`` (same method first), best first."""
        method = str(method).upper()
        templates = list(self._by_path)
        close = difflib.get_close_matches(_templated_shape(path), templates, n=limit * 2, cutoff=0.5)
        found = [op for t in close for op in self._by_path[t].values()]
        found.sort(key=lambda op: op.method != method)
        return [self._suggestion(op) for op in found[:limit]]

    @staticmethod
    def _suggestion(op: Operation) -> dict:
        return {"operationId": op.operation_id, "method": op.method, "path": op.path}


_lock = threading.Lock()
_catalog: Catalog | None = None


def load_spec() -> dict:
    """The spec, parsed once per process and shared (``openapi_spec.load``): never modify it."""
    return openapi_spec.load()



def get_catalog() -> Catalog:
    """The process-wide catalog of ``openapi.json``, built on first use."""
    global _catalog
    if _catalog is None:
        with _lock:
            if _catalog is None:
                _catalog = Catalog.from_spec(load_spec())
    return _catalog


def _operation(path: str, method: str, raw: dict, host: str, schemas: dict) -> Operation:
    parameters = []
    for param in raw.get("parameters", []):
        schema = form_schema(param.get("schema", {}), schemas)
        entry = {"name": param["name"], "in": param["in"], "required": bool(param.get("required")),
                 "description": param.get("description", schema.get("description", "")), "schema": schema}
        if "example" in param:
            entry["example"] = param["example"]
        parameters.append(entry)
    body = None
    if "requestBody" in raw:
        content = raw["requestBody"].get("content", {})
        content_type = "application/json" if "application/json" in content else next(iter(content), "")
        body = {"required": bool(raw["requestBody"].get("required")), "contentType": content_type,
                "description": raw["requestBody"].get("description", ""),
                "schema": form_schema(content.get(content_type, {}).get("schema", {}), schemas)}
    security = raw.get("security") or []
    accepted = not security or any(ADDON_SECURITY_SCHEMES & set(requirement) for requirement in security)
    return Operation(
        operation_id=raw["operationId"], method=method.upper(), path=path, summary=raw.get("summary", ""),
        description=raw.get("description", ""), deprecated=bool(raw.get("deprecated")),
        tag=(raw.get("tags") or ["Other"])[0], host=host, parameters=tuple(parameters), request_body=body,
        addon_token_accepted=accepted)


def _host_of(servers: list | None) -> str:
    """``reports`` for paths served by the reports API, else ``api``.

    The spec's one audit-log path (``auditlog-api.api.clockify.me``) counts as ``api``: add-on
    tokens have no claim naming an audit-log host, and that operation refuses add-on tokens anyway.
    """
    urls = [s.get("url", "") for s in servers or []]
    return REPORTS if any("reports." in url or url.rstrip("/").endswith("/report") for url in urls) else API


def _path_pattern(template: str) -> re.Pattern:
    regex, position = "", 0
    for match in _TEMPLATE_VARIABLE.finditer(template):
        regex += re.escape(template[position:match.start()]) + f"(?P<{_group_name(match.group(1))}>[^/]+)"
        position = match.end()
    return re.compile("^" + regex + re.escape(template[position:]) + "/?$")


def _group_name(variable: str) -> str:
    if not variable.isidentifier():
        raise ValueError(f"path variable {variable!r} is not usable as a name")
    return variable


def _templated_shape(path: str) -> str:
    """Replace id-looking segments by ``{id}`` so difflib compares shapes, not ids."""
    return "/".join("{id}" if re.fullmatch(r"[0-9a-fA-F]{12,}", s) else s for s in str(path).split("/"))
