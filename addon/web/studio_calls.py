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
from urllib.parse import parse_qsl

from flask import current_app, g

from ..clockify.client import reports_base
from ..clockify.openapi_catalog import Operation, get_catalog
from ..clockify.request_validation import (
    SpecUnusable,
    UnsupportedBaseUrl,
    concrete_path,
    encode_body,
    get_validator,
    query_pairs,
    scalar_text,
)
from ..errors import AddonError, BadRequest, Forbidden, NotFound, PayloadTooLarge, ServiceUnavailable, ValidationFailed
from ..metrics import API_CALLS
from ..store import api_calls
from . import studio_outbound
from .request_body import refuse_unsupported_text

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
    if errors:
        raise ValidationFailed("The call is incomplete.", errors=errors)
    path, _, query_string = path.partition("?")
    query = _object(data, "query")
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        existing = query.get(name)
        query[name] = value if existing is None else (existing if isinstance(existing, list) else [existing]) + [value]
    catalog = get_catalog()
    resolution = catalog.resolve(method, path)
    explicit = _object(data, "pathParams")
    return CallRequest(
        operation=resolution.operation if resolution else None,
        path_params={**explicit, **(resolution.path_params if resolution else {})},
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
             "token_kind": "installation" if call.use_installation_token else "user"}
    try:
        prepared = _prepare(call)
    except AddonError as refusal:
        api_calls.record(claims.workspace_id, request=api_calls.stored_request(call.path_params, call.query, call.body),
                         outcome=refusal.code, status_code=None, error=refusal.message, **audit)
        API_CALLS.labels(operation=label, status=refusal.code).inc()
        raise
    audit["path"] = prepared.path
    row = api_calls.start(claims.workspace_id, request=api_calls.stored_request(
        prepared.path_params, call.query, call.body), **audit)
    started = time.perf_counter()
    try:
        answer = studio_outbound.send(prepared)
    except AddonError as failure:
        api_calls.finish(row, outcome=failure.code, status_code=None,
                         duration_ms=_ms(started), error=failure.message)
        API_CALLS.labels(operation=label, status=failure.code).inc()
        raise
    api_calls.finish(row, outcome="ok" if answer["status"] < 400 else "clockify_error",
                     status_code=answer["status"], duration_ms=answer["duration_ms"])
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
    if not base_url or not studio_outbound.host_allowed(base_url):
        raise Forbidden("The Clockify host of this call is not in CLOCKIFY_ALLOWED_API_DOMAINS.",
                        code="host_not_allowed")

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
        raise Forbidden("The Clockify URL of this token has an unexpected shape.", code="host_not_allowed") from None
    except SpecUnusable:
        raise ServiceUnavailable("The API description of this operation cannot be read.",
                                 code="spec_unavailable") from None
    if errors:
        raise ValidationFailed("The request does not match the API description.",
                               errors=[e.as_dict() for e in errors])

    pairs, _ = query_pairs(call.query)
    texts = {name: scalar_text(value) for name, value in path_params.items()}
    path = concrete_path(operation.path, texts)
    return PreparedCall(operation=operation, workspace_id=claims.workspace_id, base_url=base_url,
                        url=base_url.rstrip("/") + path, path=path, path_params=texts, query_pairs=pairs,
                        query=call.query, body=call.body, token=token)


def _credentials(call: CallRequest, settings, claims, installation) -> tuple[str, str | None, str | None]:
    """The token the call runs with, and the API and reports base URLs that go with it."""
    from ..auth import user_token_from_request

    if not call.use_installation_token:
        return user_token_from_request(), claims.backend_url, reports_url_of(claims)
    if not settings.studio_allow_installation_token:
        raise Forbidden("Running calls with the installation token is turned off.",
                        code="installation_token_disabled")
    if not claims.is_admin:
        raise Forbidden("Only workspace owners and admins may use the installation token.", code="admin_required")
    reports = installation.reports_url or claims.reports_url
    return installation.installation_token, installation.api_url, reports_base(installation.api_url, reports)


def reports_url_of(claims) -> str | None:
    """The token's ``reportsUrl``, else the one Clockify uses beside its ``backendUrl``."""
    if claims.reports_url:
        return claims.reports_url
    return reports_base(claims.backend_url) if claims.backend_url else None


def _json_object(request) -> dict:
    settings = current_app.config["SETTINGS"]
    limit = settings.api_call_max_payload_bytes + ENVELOPE_ALLOWANCE_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The request is larger than {limit} bytes.", limit=settings.api_call_max_payload_bytes)
    request.max_content_length = limit  # also bounds bodies sent without Content-Length
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    refuse_unsupported_text(data)
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
