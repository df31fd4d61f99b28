"""Validation of an outgoing Clockify API call against the spec, with openapi-core.

The validator reads the process's one parsed spec through a patched view (nothing is copied
but what changes):

* Clockify's string enums declared as objects are turned into string enums (see
  ``openapi_catalog.normalized_schemas``), or valid values such as ``"taxType": "SIMPLE"``
  would be refused;
* path-level ``servers`` (``https://api.clockify.me/api``...) are replaced by templated hosts,
  so regional and developer hosts from the token's ``backendUrl`` match. A templated host
  matches anything: the host itself is checked against the allowed domains by the caller;
* operation ``security`` is dropped: the add-on sets the auth header itself, it is not input.

Each call is validated against a one-operation document holding only the parameters that
matter to it (cached; see ``RequestValidator``). Errors come back as ``FieldError`` lists, one
per field, never as exceptions. Plain Python.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from openapi_core import Config, OpenAPI
from openapi_core.casting.schemas.exceptions import CastError
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.validation.request.exceptions import (
    InvalidRequestBody,
    MissingRequiredParameter,
    MissingRequiredRequestBody,
    ParameterValidationError,
    RequestBodyValidationError,
)
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from referencing.exceptions import Unresolvable
from werkzeug.datastructures import Headers, ImmutableMultiDict

from .openapi_catalog import Operation, get_catalog, load_spec, normalized_schemas

JSON = "application/json"
MAX_ERRORS = 100
MAX_MESSAGE_CHARS = 300
MAX_DECODINGS = 8
# One-operation documents kept per process (a few KiB each; refilled on demand when cleared).
MAX_CACHED_DOCUMENTS = 1024
DOT_SEGMENT_MESSAGE = "Must not be '.' or '..' (raw or percent-encoded): it would change the path."
# Clockify serves the REST API under /api and reports under /report (regional hosts) or at the
# root (reports.api.clockify.me): a host template, with or without one base-path segment.
TEMPLATED_SERVERS = [
    {"url": "{scheme}://{host}", "variables": {"scheme": {"default": "https"},
                                               "host": {"default": "reports.api.clockify.me"}}},
    {"url": "{scheme}://{host}/{basePath}", "variables": {"scheme": {"default": "https"},
                                                          "host": {"default": "api.clockify.me"},
                                                          "basePath": {"default": "api"}}},
]


@dataclass(frozen=True)
class FieldError:
    """One invalid field: ``location`` is ``path``, ``query`` or ``body``; ``field`` is the
    parameter name or the body's dotted path (``memberships[0].userId``, ``""`` = the body)."""

    location: str
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"location": self.location, "field": self.field, "message": self.message}


class UnsupportedBaseUrl(ValueError):
    """The base URL has a shape no Clockify host uses (a base path of more than one segment)."""


class SpecUnusable(RuntimeError):
    """The spec could not be used for this operation (an unresolvable ``$ref``)."""


def validation_spec(spec: dict, schemas: dict | None = None) -> dict:
    """``spec`` patched for validating outgoing calls (see the module docstring). Shallow: the
    patched document shares every untouched subtree with ``spec``, which is never modified.

    :param schemas: ``normalized_schemas(spec)`` when already computed (the catalog has them).
    """
    paths = {}
    for path, item in spec["paths"].items():
        paths[path] = {key: ({k: v for k, v in value.items() if k not in ("security", "servers")}
                             if isinstance(value, dict) else value)
                       for key, value in item.items() if key != "servers"}
    components = {**spec.get("components", {}),
                  "schemas": normalized_schemas(spec) if schemas is None else schemas}
    return {**spec, "servers": copy.deepcopy(TEMPLATED_SERVERS), "paths": paths, "components": components}


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

    openapi-core walks every parameter an operation declares on every call (``getProjects``
    declares 22 query parameters), building a deserializer and a schema validator for each. So
    each call is validated against a one-operation document that declares only the operation's
    path parameters, its required parameters and those the call sends; those documents are
    cached per (operation, parameters sent).
    """

    def __init__(self, spec: dict, schemas: dict | None = None):
        self._spec = validation_spec(spec, schemas)
        self._documents: dict[tuple[str, str, frozenset[str]], OpenAPI] = {}
        self._lock = threading.Lock()

    def _openapi_for(self, operation: Operation, sent: frozenset[str]) -> OpenAPI:
        key = (operation.path, operation.method, sent)
        found = self._documents.get(key)
        if found is not None:
            return found
        method = operation.method.lower()
        declared = self._spec["paths"][operation.path][method]
        kept = [p for p in declared.get("parameters", [])
                if p.get("in") == "path" or p.get("required") or p.get("name") in sent]
        document = {**self._spec, "paths": {operation.path: {method: {**declared, "parameters": kept}}}}
        # The spec itself is checked by the test suite; checking it here would cost ~0.5 s.
        built = OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))
        with self._lock:
            if len(self._documents) >= MAX_CACHED_DOCUMENTS:
                self._documents.clear()
            self._documents[key] = built
        return built

    def validate(self, operation: Operation, base_url: str, path_params: dict[str, Any],
                 query: dict[str, Any] | None, body: Any, body_bytes: bytes | None) -> list[FieldError]:
        """Every problem of the call ``operation`` would make, as FieldErrors (empty when valid).

        :param base_url: where the call goes (``backendUrl`` or ``reportsUrl``).
        :param body: the parsed JSON body, None when there is none.
        :param body_bytes: the body exactly as it will be sent.
        :raise UnsupportedBaseUrl: ``base_url`` is not shaped like a Clockify host.
        :raise SpecUnusable: the spec cannot be resolved for this operation.
        """
        errors = self._precheck(operation, path_params, query, body)
        pairs, query_errors = query_pairs(query)
        errors += query_errors

        parts = urlsplit(base_url)
        values = {name: scalar_text(value) or "" for name, value in path_params.items()}
        request = _OutgoingRequest(
            host_url=f"{parts.scheme}://{parts.netloc}",
            path=parts.path.rstrip("/") + concrete_path(operation.path, values),
            path_pattern=parts.path.rstrip("/") + operation.path,
            method=operation.method.lower(),
            body=body_bytes,
            content_type=JSON if body_bytes is not None else "",
            parameters=RequestParameters(query=ImmutableMultiDict(pairs), header=Headers(), path=values),
        )
        try:
            openapi = self._openapi_for(operation, frozenset(name for name, _ in pairs))
            found = list(openapi.request_validator.iter_errors(request))
        except Unresolvable as exc:
            raise SpecUnusable(f"{operation.operation_id}: {exc}") from None
        body_refused = any(e.location == "body" and e.field == "" for e in errors)
        for error in found:
            if isinstance(error, PathError):
                raise UnsupportedBaseUrl(f"{base_url} does not look like a Clockify API base URL")
            if body_refused and isinstance(error, RequestBodyValidationError):
                continue  # the precheck already said why this body cannot be sent
            errors += _field_errors(error)
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


class _OutgoingRequest:
    """The openapi-core ``Request`` protocol for a call we are about to make."""

    def __init__(self, *, host_url, path, path_pattern, method, body, content_type, parameters):
        self.host_url, self.path, self.path_pattern = host_url, path, path_pattern
        self.method, self.body, self.content_type, self.parameters = method, body, content_type, parameters


def _field_errors(error: Exception) -> list[FieldError]:
    if isinstance(error, MissingRequiredParameter):
        return [FieldError(error.location, error.name, "Required.")]
    if isinstance(error, ParameterValidationError):
        return [FieldError(error.location, error.name, _parameter_message(error.__cause__))]
    if isinstance(error, MissingRequiredRequestBody):
        return [FieldError("body", "", "A request body is required.")]
    if isinstance(error, InvalidRequestBody) and isinstance(error.__cause__, InvalidSchemaValue):
        return [e for schema_error in error.__cause__.schema_errors for e in _body_errors(schema_error)]
    if isinstance(error, RequestBodyValidationError):
        return [FieldError("body", "", str(error.__cause__ or error))]
    return [FieldError("body", "", str(error))]


def _parameter_message(cause: BaseException | None) -> str:
    if isinstance(cause, CastError):
        return f"Must be a{'n' if str(cause.type)[:1] in 'aeiou' else ''} {cause.type}."
    if isinstance(cause, InvalidSchemaValue):
        # jsonschema's ValidationErrors, which openapi-core types as plain Exceptions.
        return "; ".join(_sentence(getattr(e, "message", str(e))) for e in cause.schema_errors) or "Invalid value."
    return _sentence(str(cause)) if cause is not None else "Invalid value."


def _body_errors(schema_error) -> list[FieldError]:
    path = list(schema_error.absolute_path)
    if schema_error.validator == "required" and isinstance(schema_error.instance, dict):
        missing = [n for n in schema_error.validator_value if n not in schema_error.instance]
        return [FieldError("body", _dotted(path + [name]), "Required.") for name in missing]
    return [FieldError("body", _dotted(path), _sentence(schema_error.message))]


def _dotted(path: list) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _sentence(message: str) -> str:
    message = message.strip()
    if len(message) > MAX_MESSAGE_CHARS:  # schema messages quote the value, which may be huge
        message = message[:MAX_MESSAGE_CHARS] + "…"
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".") if message else message


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
