"""The spec's schemas as API Studio reads them: Clockify's enum quirk fixed for validation
(``normalized_schemas``), and ``$ref``s inlined into form-ready schemas (``form_schema``).

Plain Python: no Flask, no I/O.
"""

from __future__ import annotations

import copy
from typing import Any

# Schema keywords a generated form (or a reader) can use; the rest of the spec is left out.
_FORM_KEYWORDS = ("type", "format", "description", "enum", "default", "example", "required", "pattern",
                  "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
                  "minItems", "maxItems", "uniqueItems", "readOnly", "writeOnly", "deprecated", "title")


def normalized_schemas(spec: dict) -> dict[str, dict]:
    """``components.schemas`` with Clockify's enum quirk fixed.

    Clockify declares its enums as ``{"type": "object", "oneOf": [{"type": "string", "enum":
    [...]}], "properties": {...}}`` while the API sends and takes plain strings (a
    ``taxType`` of ``"SIMPLE"``). Those schemas become ``{"type": "string", "enum": [...]}``.
    """
    schemas = copy.deepcopy(spec.get("components", {}).get("schemas", {}))
    for name, schema in schemas.items():
        enum = _string_enum_of(schema)
        if enum is not None:
            fixed = {"type": "string", "enum": enum}
            for key in ("description", "example", "default"):
                if key in schema and not (key == "example" and isinstance(schema[key], list)):
                    fixed[key] = schema[key]
            schemas[name] = fixed
    return schemas


def _string_enum_of(schema: dict) -> list | None:
    variants = schema.get("oneOf")
    if schema.get("type") != "object" or not variants:
        return None
    if not all(isinstance(v, dict) and v.get("type") == "string" and v.get("enum") for v in variants):
        return None
    values: list = []
    for variant in variants:
        values += [value for value in variant["enum"] if value not in values]
    return values


def form_schema(node: Any, schemas: dict[str, dict], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with ``$ref``s inlined and only form-relevant keywords kept.

    A schema that refers back to one of its own ancestors becomes
    ``{"type": "object", "recursive": "<name>"}`` instead of recursing forever.
    """
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        target = schemas.get(name)
        if target is None:
            raise KeyError(f"unresolvable $ref {node['$ref']}")
        if name in seen:
            return {"type": "object", "recursive": name, "description": target.get("description", "")}
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return form_schema({**target, **siblings}, schemas, seen + (name,))
    out = {k: copy.deepcopy(node[k]) for k in _FORM_KEYWORDS if k in node}
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: form_schema(v, schemas, seen) for k, v in node["properties"].items()}
        out.setdefault("type", "object")
    if "items" in node:
        out["items"] = form_schema(node["items"], schemas, seen)
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = form_schema(node["additionalProperties"], schemas, seen)
    elif isinstance(node.get("additionalProperties"), bool):
        out["additionalProperties"] = node["additionalProperties"]
    for combinator in ("oneOf", "anyOf", "allOf"):
        if isinstance(node.get(combinator), list):
            out[combinator] = [form_schema(v, schemas, seen) for v in node[combinator]]
    return out
