"""One API Studio call, from the browser's JSON to Clockify's answer.

Refusals come first, cheapest first, and nothing reaches Clockify until all checks pass:
unknown operation (404), another workspace's id (403), a write without ``"confirm": true``
(428), a host outside ``CLOCKIFY_ALLOWED_API_DOMAINS`` (403), a body over
``API_CALL_MAX_PAYLOAD_BYTES`` (413), spec validation (422), the workspace's request budget
(429). Every call, refused or sent, is audited in ``api_calls`` and counted in ``API_CALLS``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from flask import current_app, g

from ..clockify.client import reports_base
from ..clockify.openapi_catalog import Operation, get_catalog
from ..clockify.request_validation import (
    DOT_SEGMENT_MESSAGE,
    SpecUnusable,
    UnsupportedBaseUrl,
    concrete_path,
    encode_body,
    get_validator,
    is_dot_segment,
    query_pairs,
    scalar_text,
)
from ..clockify.tokens import INSTALLATION, USER
from ..errors import (
    AddonError,
    BadRequest,
    Forbidden,
    InvalidToken,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationFailed,
)
from ..metrics import API_CALLS
from ..outbound import host_not_allowed, require_allowed_hosts
from ..store import api_calls
from . import studio_outbound
from .request_body import read_json

# The envelope around the body ({operationId, pathParams, query, ...}) may add this much.
ENVELOPE_ALLOWANCE_BYTES = 64 * 1024
UNKNOWN_OPERATION_LABEL = "unknown"


@dataclass
class CallRequest:
    """A parsed ``/ui/api-explorer/execute`` or ``/api-call`` body."""

    operation: Operation | None
    path_params: dict[str, Any]
    query: dict[str, Any]
    body: Any
    confirm: bool
    use_installation_token: bool
    method: str
    path: str
    suggestions: list = field(default_factory=list)
    unknown_message: str = ""


def parse_execute(request) -> CallRequest:
    """Read ``{operationId, pathParams, query, body, confirm, useInstallationToken}``."""
    data = _json_object(request)
    operation_id = data.get("operationId")
    if not isinstance(operation_id, str) or not operation_id:
        raise ValidationFailed("operationId is required.", errors=[
            {"location": "body", "field": "operationId", "message": "Required: the id of a spec operation."}])
    catalog = get_catalog()
    operation = catalog.get(operation_id)
    return CallRequest(
        operation=operation, path_params=_object(data, "pathParams"), query=_object(data, "query"),
        body=data.get("body"), confirm=data.get("confirm") is True,
        use_installation_token=data.get("useInstallationToken") is True,
        method=operation.method if operation else "", path=operation.path if operation else "",
        suggestions=[] if operation else catalog.suggest_operation_ids(operation_id),
        unknown_message=f"No operation is named {operation_id!r}.")


def parse_api_call(request) -> CallRequest:
    """Read ``{method, path, query, body, confirm, useInstallationToken}``; ``path`` is a spec
    template or a concrete path (a query string on it is merged into ``query``)."""
    data = _json_object(request)
    method, path = data.get("method"), data.get("path")
    errors = []
    if not isinstance(method, str) or not method:
        errors.append({"location": "body", "field": "method", "message": "Required: GET, POST, PUT, PATCH or DELETE."})
    if not isinstance(path, str) or not path.startswith("/"):
        errors.append({"location": "body", "field": "path",
                       "message": "Required: a path such as /v1/workspaces/{workspaceId}/projects (not a URL)."})
    if errors or not isinstance(method, str) or not isinstance(path, str):  # (the type checker's narrowing)
        raise ValidationFailed("The call is incomplete.", errors=errors)
    path, _, query_string = path.partition("?")
    if any(is_dot_segment(segment) for segment in path.split("/")):
        raise ValidationFailed("The path has dot segments.", errors=[
            {"location": "body", "field": "path", "message": DOT_SEGMENT_MESSAGE}])
    query = _object(data, "query")
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        existing = query.get(name)
        query[name] = value if existing is None else (existing if isinstance(existing, list) else [existing]) + [value]
    catalog = get_catalog()
    resolution = catalog.resolve(method, path)
    explicit = _object(data, "pathParams")
    return CallRequest(
        operation=resolution.operation if resolution else None,
        # A concrete path is written percent-encoded: its values are decoded once, so that
        # sending encodes each back into exactly the segment it came from.
        path_params={**explicit, **{name: unquote(value) for name, value in
                                    (resolution.path_params if resolution else {}).items()}},
        query=query, body=data.get("body"), confirm=data.get("confirm") is True,
        use_installation_token=data.get("useInstallationToken") is True,
        method=method.upper(), path=path,
        suggestions=[] if resolution else catalog.suggest_paths(method, path),
        unknown_message=f"No operation of the spec matches {method.upper()} {path}.")


def run(call: CallRequest) -> dict:
    """Check, send and audit ``call`` for the current user (``g.claims``, ``g.installation``).

    :return: ``{"status", "headers", "body", "duration_ms", "request": {"method", "url", "query"}}``.
    :raise AddonError: each refusal listed in the module docstring, audited first.
    """
    claims = g.claims
    label = call.operation.operation_id if call.operation else UNKNOWN_OPERATION_LABEL
    audit = {"user_id": claims.user_id, "operation_id": call.operation.operation_id if call.operation else None,
             "method": call.method or "?", "path": call.path or "?",
             "token_kind": INSTALLATION if _uses_installation_token(call, claims) else USER}
    try:
        prepared = _prepare(call)
        outgoing = studio_outbound.prepare(prepared)
    except AddonError as refusal:
        api_calls.record(claims.workspace_id, request=api_calls.stored_request(call.path_params, call.query, call.body),
                         outcome=refusal.code, status_code=None, error=refusal.message, **audit)
        API_CALLS.labels(operation=label, status=refusal.code).inc()
        raise
    audit["path"] = prepared.path
    sent = {"request": api_calls.stored_request(prepared.path_params, call.query, call.body), "url": outgoing.url}
    api_calls.release_connection()  # none is held while Clockify answers
    started = time.perf_counter()
    try:
        answer = studio_outbound.send(prepared, outgoing)
    except AddonError as failure:
        api_calls.record(claims.workspace_id, outcome=failure.code, status_code=None, duration_ms=_ms(started),
                         error=failure.message, **sent, **audit)
        API_CALLS.labels(operation=label, status=failure.code).inc()
        raise
    api_calls.record(claims.workspace_id, outcome="ok" if answer["status"] < 400 else "clockify_error",
                     status_code=answer["status"], duration_ms=answer["duration_ms"], **sent, **audit)
    API_CALLS.labels(operation=label, status=str(answer["status"])).inc()
    return answer


@dataclass(frozen=True)
class PreparedCall:
    """A call that passed every check (the rate-limit slot is taken when it is sent)."""

    operation: Operation
    workspace_id: str
    base_url: str
    url: str
    path: str
    path_params: dict[str, str]
    query_pairs: list[tuple[str, str]]
    query: dict[str, Any]
    body: Any
    token: str = field(repr=False)


def _prepare(call: CallRequest) -> PreparedCall:
    settings = current_app.config["SETTINGS"]
    claims, installation = g.claims, g.installation
    operation = call.operation
    if operation is None:
        raise NotFound(call.unknown_message, code="unknown_operation", suggestions=call.suggestions)

    path_params = dict(call.path_params)
    if "workspaceId" in operation.path_parameter_names:
        given = path_params.get("workspaceId")
        if given in (None, ""):
            path_params["workspaceId"] = claims.workspace_id
        elif given != claims.workspace_id:
            raise Forbidden("workspaceId names another workspace than your token's.", code="workspace_mismatch")

    if operation.is_write and not call.confirm:
        raise AddonError(f"{operation.method} changes data in Clockify: send it again with \"confirm\": true.",
                         status=428, code="confirmation_required")

    token, backend_url, reports_url = _credentials(call, settings, claims, installation)
    base_url = reports_url if operation.host == "reports" else backend_url
    # Every URL the token names, not only the one used: a token naming a host outside the
    # policy is not one the configured Clockify issues.
    require_allowed_hosts(base_url, claims=claims.raw)
    if base_url is None:  # refused above: a missing URL is not allowed
        raise host_not_allowed()
    if token is None:
        raise InvalidToken("No token to run the call with.", check="missing")

    try:
        body_bytes = encode_body(call.body)
    except ValueError:
        raise ValidationFailed("The body is not valid JSON.", errors=[
            {"location": "body", "field": "", "message": "NaN and infinite numbers cannot be sent as JSON."}]) from None
    if body_bytes is not None and len(body_bytes) > settings.api_call_max_payload_bytes:
        raise PayloadTooLarge(f"The body is {len(body_bytes)} bytes; the limit is "
                              f"{settings.api_call_max_payload_bytes}.", limit=settings.api_call_max_payload_bytes)

    try:
        errors = get_validator().validate(operation, base_url, path_params, call.query, call.body, body_bytes)
    except UnsupportedBaseUrl:
        raise host_not_allowed() from None
    except SpecUnusable:
        raise ServiceUnavailable("The API description of this operation cannot be read.",
                                 code="spec_unavailable") from None
    if errors:
        raise ValidationFailed("The request does not match the API description.",
                               errors=[e.as_dict() for e in errors])

    pairs, _ = query_pairs(call.query)
    texts = _path_texts(path_params)
    path = concrete_path(operation.path, texts)
    return PreparedCall(operation=operation, workspace_id=claims.workspace_id, base_url=base_url,
                        url=base_url.rstrip("/") + path, path=path, path_params=texts, query_pairs=pairs,
                        query=call.query, body=call.body, token=token)


def _path_texts(path_params: dict[str, Any]) -> dict[str, str]:
    """The path parameters as written in the URL (the validator has refused any non-scalar)."""
    texts = {}
    for name, value in path_params.items():
        text = scalar_text(value)
        if text is None:
            raise ValidationFailed("The request does not match the API description.", errors=[
                {"location": "path", "field": name, "message": "Must be a single value."}])
        texts[name] = text
    return texts


def _credentials(call: CallRequest, settings, claims, installation) -> tuple[str | None, str | None, str | None]:
    """The token the call runs with, and the API and reports base URLs that go with it."""
    from ..auth import user_token_from_request

    if not _uses_installation_token(call, claims):
        return user_token_from_request(), claims.backend_url, reports_url_of(claims)
    if not settings.studio_allow_installation_token:
        raise Forbidden("Running calls with the installation token is turned off.",
                        code="installation_token_disabled")
    if not claims.is_admin:
        raise Forbidden("Only workspace owners and admins may use the installation token.", code="admin_required")
    reports = installation.reports_url or claims.reports_url
    return installation.installation_token, installation.api_url, reports_base(installation.api_url, reports)


def _uses_installation_token(call: CallRequest, claims) -> bool:
    """The call runs with the installation token: asked for, or the caller presented it."""
    return call.use_installation_token or claims.kind == INSTALLATION


def reports_url_of(claims) -> str | None:
    """The token's ``reportsUrl``, else the one Clockify uses beside its ``backendUrl``."""
    if claims.reports_url:
        return claims.reports_url
    return reports_base(claims.backend_url) if claims.backend_url else None


def _json_object(request) -> dict:
    settings = current_app.config["SETTINGS"]
    data = read_json(settings.api_call_max_payload_bytes + ENVELOPE_ALLOWANCE_BYTES,
                     too_large_limit=settings.api_call_max_payload_bytes)
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def _object(data: dict, name: str) -> dict:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(f"{name} must be an object.", errors=[
            {"location": "body", "field": name, "message": "Must be a JSON object."}])
    return dict(value)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
