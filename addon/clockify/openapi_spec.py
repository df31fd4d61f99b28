"""Read-only helpers over Clockify's OpenAPI document (``openapi.json`` at the repository root).

Loads the spec once per process (the one parse every user shares: the catalog, the request
validator, the bootstrap's operation discovery, the fake Clockify) and resolves local ``$ref``s.
Concrete paths are matched to templates by ``openapi_catalog.Catalog.resolve``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.json"


@cache
def load(path: str | None = None) -> dict:
    """The parsed spec (cached); ``path`` defaults to the repository's ``openapi.json``."""
    return json.loads(Path(path or SPEC_PATH).read_text())


def resolve(spec: dict, node: Any) -> Any:
    """Follow ``$ref`` pointers (local ones only) until ``node`` is not a reference."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def parameters(spec: dict, path_item: dict, operation: dict) -> list[dict]:
    """The resolved parameters of ``operation``, path-level ones included."""
    return [resolve(spec, p) for p in path_item.get("parameters", []) + operation.get("parameters", [])]


def servers(path_item: dict, operation: dict) -> list[str]:
    """Server URLs of an operation (Clockify's spec declares them per path)."""
    return [s["url"] for s in operation.get("servers") or path_item.get("servers") or []]


def success_response(spec: dict, operation: dict) -> tuple[int, dict | None]:
    """The lowest 2xx status of ``operation`` and its JSON schema (resolved), if any."""
    codes = sorted(int(c) for c in operation.get("responses", {}) if c.isdigit() and c.startswith("2"))
    if not codes:
        return 200, None
    response = resolve(spec, operation["responses"][str(codes[0])])
    schema = (response.get("content") or {}).get("application/json", {}).get("schema")
    return codes[0], resolve(spec, schema) if schema is not None else None
