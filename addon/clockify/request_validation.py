"""Validation of an outgoing Clockify API call against the spec, with openapi-core's parts.

First what openapi-core does not check (``RequestValidator._precheck``: unknown parameters, a
body where none is taken, missing or dot-segment path parameters) and the shape of the base URL;
then the operation's ``OperationChecks``, built once per operation from one openapi-core request
validator over the process's one parsed spec (``operation_checks``). Errors come back as
``FieldError`` lists, one per field, never as exceptions. Also the helpers that write a call's
values as they go on the wire. Plain Python.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from openapi_core import Config, OpenAPI
from referencing.exceptions import Unresolvable
from werkzeug.datastructures import ImmutableMultiDict

from .openapi_catalog import Operation, get_catalog, load_spec
from .operation_checks import JSON, FieldError, OperationChecks, SpecUnusable, validation_spec

MAX_ERRORS = 100
MAX_DECODINGS = 8
DOT_SEGMENT_MESSAGE = "Must not be '.' or '..' (raw or percent-encoded): it would change the path."

__all__ = ["DOT_SEGMENT_MESSAGE", "FieldError", "RequestValidator", "SpecUnusable", "UnsupportedBaseUrl",
           "concrete_path", "encode_body", "get_validator", "is_dot_segment", "query_pairs", "scalar_text"]


class UnsupportedBaseUrl(ValueError):
    """The base URL has a shape no Clockify host uses (a base path of more than one segment)."""


def query_pairs(query: dict | None) -> tuple[list[tuple[str, str]], list[FieldError]]:
    """Flatten ``{"name": value | [values]}`` into ``(name, text)`` pairs as they go on the wire.

    Booleans are written ``true``/``false``; ``None`` leaves the parameter out; objects are refused.
    """
    pairs: list[tuple[str, str]] = []
    errors: list[FieldError] = []
    for name, value in (query or {}).items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is None:
                continue
            text = scalar_text(item)
            if text is None:
                errors.append(FieldError("query", str(name), "Must be a string, number, boolean or a list of them."))
                break
            pairs.append((str(name), text))
    return pairs, errors


def scalar_text(value: Any) -> str | None:
    """``value`` as it is written in a URL, or None when it is not a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def is_dot_segment(text: str) -> bool:
    """True for ``.`` and ``..``, raw or percent-encoded (any case, encoded any number of times):
    a client or server that normalises the path would remove the segment, or the one before it."""
    for _ in range(MAX_DECODINGS):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text in (".", "..")


def concrete_path(template: str, path_params: dict[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by its value percent-encoded into exactly one
    segment (everything but RFC 3986 unreserved characters is encoded, ``/`` included). Dot
    segments are refused before this (``is_dot_segment``)."""
    path = template
    for name, value in path_params.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


class RequestValidator:
    """Validates outgoing calls against one spec; build once, use from any thread.

    Each operation's checks are built on its first call and kept (a finite set: the spec's
    operations).
    """

    def __init__(self, spec: dict, schemas: dict | None = None):
        """:param schemas: ``normalized_schemas(spec)`` when already computed (the catalog has them)."""
        self._spec = validation_spec(spec, schemas)
        # The spec itself is checked by the test suite; checking it here would cost ~0.5 s.
        self._openapi = OpenAPI.from_dict(self._spec, config=Config(spec_validator_cls=None)).request_validator
        self._checks: dict[tuple[str, str], OperationChecks] = {}
        self._lock = threading.Lock()

    def _checks_for(self, operation: Operation) -> OperationChecks:
        key = (operation.path, operation.method)
        found = self._checks.get(key)
        if found is None:
            built = OperationChecks.build(self._openapi, operation.path, operation.method.lower())
            with self._lock:
                found = self._checks.setdefault(key, built)
        return found

    def validate(self, operation: Operation, base_url: str, path_params: dict[str, Any],
                 query: dict[str, Any] | None, body: Any, body_bytes: bytes | None) -> list[FieldError]:
        """Every problem of the call ``operation`` would make, as FieldErrors (empty when valid).

        :param base_url: where the call goes (``backendUrl`` or ``reportsUrl``).
        :param body: the parsed JSON body, None when there is none.
        :param body_bytes: the body exactly as it will be sent.
        :raise UnsupportedBaseUrl: ``base_url`` is not shaped like a Clockify host.
        :raise SpecUnusable: the spec cannot be resolved for this operation.
        """
        # Clockify serves the REST API under /api and reports under /report (regional hosts) or
        # at the root (reports.api.clockify.me): at most one base-path segment. The host itself
        # is checked against the allowed domains by the caller.
        if urlsplit(base_url).path.rstrip("/").count("/") > 1:
            raise UnsupportedBaseUrl(f"{base_url} does not look like a Clockify API base URL")
        errors = self._precheck(operation, path_params, query, body)
        pairs, query_errors = query_pairs(query)
        errors += query_errors
        body_refused = any(e.location == "body" and e.field == "" for e in errors)
        sources = {"path": {name: scalar_text(value) or "" for name, value in path_params.items()},
                   "query": ImmutableMultiDict(pairs)}
        try:
            errors += self._checks_for(operation).errors(sources, body_bytes, check_body=not body_refused)
        except Unresolvable as exc:
            raise SpecUnusable(f"{operation.operation_id}: {exc}") from None
        return _unique(errors)[:MAX_ERRORS]

    @staticmethod
    def _precheck(operation: Operation, path_params: dict, query: dict | None, body: Any) -> list[FieldError]:
        """What openapi-core does not report: unknown parameters, a body where none is taken,
        missing path parameters (the URL cannot even be built without them) and path parameters
        that are dot segments (the URL would name another resource)."""
        errors: list[FieldError] = []
        declared_path = set(operation.path_parameter_names)
        for name in path_params:
            if name not in declared_path:
                errors.append(FieldError("path", str(name), "Not a path parameter of this operation."))
        for name in operation.path_parameter_names:
            value = path_params.get(name)
            text = None if value is None else scalar_text(value)
            if text in (None, ""):
                errors.append(FieldError("path", name, "Required."))
            elif is_dot_segment(text):
                errors.append(FieldError("path", name, DOT_SEGMENT_MESSAGE))
        declared_query = {p["name"] for p in operation.parameters_in("query")}
        for name in query or {}:
            if name not in declared_query:
                errors.append(FieldError("query", str(name), "Not a query parameter of this operation."))
        if body is not None:
            if operation.request_body is None:
                errors.append(FieldError("body", "", "This operation takes no request body."))
            elif operation.request_body["contentType"] != JSON:
                errors.append(FieldError("body", "", f"{operation.request_body['contentType']} uploads are not "
                                                     "supported by API Studio; only JSON bodies can be sent."))
        return errors


def _unique(errors: list[FieldError]) -> list[FieldError]:
    seen, out = set(), []
    for error in errors:
        if error not in seen:
            seen.add(error)
            out.append(error)
    return out


_lock = threading.Lock()
_validator: RequestValidator | None = None


def get_validator() -> RequestValidator:
    """The process-wide validator of ``openapi.json``, built on first use."""
    global _validator
    if _validator is None:
        with _lock:
            if _validator is None:
                catalog = get_catalog()
                _validator = RequestValidator(load_spec(), catalog.schemas)
    return _validator


def encode_body(body: Any) -> bytes | None:
    """The JSON bytes sent for ``body``, exactly as ``requests`` encodes ``json=`` (None when
    there is no body).

    :raise ValueError: for NaN or infinite numbers, which JSON cannot carry.
    """
    return None if body is None else json.dumps(body, allow_nan=False).encode("utf-8")
