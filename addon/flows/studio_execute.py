"""Executing one API Studio call: a ``CallRequest`` of an authorized ``Caller`` checked against
the spec, sent to Clockify, and audited.

Refusals come first, cheapest first, and nothing reaches Clockify until all checks pass:
unknown operation (404), another workspace's id (403), a write without ``"confirm": true``
(428), a host outside ``CLOCKIFY_ALLOWED_API_DOMAINS`` (403), a body over
``API_CALL_MAX_PAYLOAD_BYTES`` (413), spec validation (422), the workspace's request budget
(429). Every call, refused or sent, is audited in ``api_calls`` (one row, written once the
answer is sent: ``addon.after_answer``) and counted in ``API_CALLS``. The web layer only reads
the call's JSON (``addon.web.studio_calls``) and answers ``run``'s result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .. import after_answer
from ..clockify.client import reports_base
from ..clockify.openapi_catalog import Operation
from ..clockify.request_validation import (
    SpecUnusable,
    UnsupportedBaseUrl,
    concrete_path,
    encode_body,
    get_validator,
    query_pairs,
    scalar_text,
)
from ..clockify.tokens import INSTALLATION, USER
from ..errors import (
    AddonError,
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
from .studio_access import Caller

UNKNOWN_OPERATION_LABEL = "unknown"


@dataclass
class CallRequest:
    """One call as the browser asked for it (``/ui/api-explorer/execute`` or ``/api-call``)."""

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


def run(call: CallRequest, caller: Caller, settings) -> dict:
    """Check, send and audit ``call`` for ``caller``.

    :return: ``{"status", "headers", "body", "duration_ms", "request": {"method", "url", "query"}}``
        (``addon.flows.studio_outbound.send``).
    :raise AddonError: each refusal listed in the module docstring, audited first.
    """
    claims = caller.claims
    label = call.operation.operation_id if call.operation else UNKNOWN_OPERATION_LABEL
    audit: dict[str, Any] = {
        "user_id": claims.user_id, "operation_id": call.operation.operation_id if call.operation else None,
        "method": call.method or "?", "path": call.path or "?",
        "token_kind": INSTALLATION if _uses_installation_token(call, caller) else USER}
    try:
        prepared = prepare(call, caller, settings)
        outgoing = studio_outbound.prepare(prepared)
    except AddonError as refusal:
        _audit(claims.workspace_id, request=api_calls.stored_request(call.path_params, call.query, call.body),
               outcome=refusal.code, status_code=None, error=refusal.message, **audit)
        API_CALLS.labels(operation=label, status=refusal.code).inc()
        raise
    audit["path"] = prepared.path
    sent = {"request": api_calls.stored_request(prepared.path_params, call.query, call.body), "url": outgoing.url}
    started = time.perf_counter()
    try:
        answer = studio_outbound.send(prepared, outgoing)
    except AddonError as failure:
        _audit(claims.workspace_id, outcome=failure.code, status_code=None, duration_ms=_ms(started),
               error=failure.message, **sent, **audit)
        API_CALLS.labels(operation=label, status=failure.code).inc()
        raise
    _audit(claims.workspace_id, outcome="ok" if answer["status"] < 400 else "clockify_error",
           status_code=answer["status"], duration_ms=answer["duration_ms"], **sent, **audit)
    API_CALLS.labels(operation=label, status=str(answer["status"])).inc()
    return answer


def _audit(workspace_id: str, **row: Any) -> None:
    """The call's one audit row, written once the answer is sent (``addon.after_answer``)."""
    after_answer.defer(api_calls.record, workspace_id, **row)


def prepare(call: CallRequest, caller: Caller, settings) -> PreparedCall:
    """Run every check of ``call`` (all the refusals but the rate limit's) and build what will be
    sent; nothing is sent or audited ("Copy as" snippets use it alone).

    :raise AddonError: the refusal.
    """
    claims = caller.claims
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

    token, backend_url, reports_url = _credentials(call, settings, caller)
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


def _credentials(call: CallRequest, settings, caller: Caller) -> tuple[str | None, str | None, str | None]:
    """The token the call runs with, and the API and reports base URLs that go with it."""
    claims, installation = caller.claims, caller.installation
    if not _uses_installation_token(call, caller):
        return caller.token, claims.backend_url, reports_url_of(claims)
    if not settings.studio_allow_installation_token:
        raise Forbidden("Running calls with the installation token is turned off.",
                        code="installation_token_disabled")
    if not claims.is_admin:
        raise Forbidden("Only workspace owners and admins may use the installation token.", code="admin_required")
    reports = installation.reports_url or claims.reports_url
    return installation.installation_token, installation.api_url, reports_base(installation.api_url, reports)


def _uses_installation_token(call: CallRequest, caller: Caller) -> bool:
    """The call runs with the installation token: asked for, or the caller presented it."""
    return call.use_installation_token or caller.claims.kind == INSTALLATION


def reports_url_of(claims) -> str | None:
    """The token's ``reportsUrl``, else the one Clockify uses beside its ``backendUrl``."""
    if claims.reports_url:
        return claims.reports_url
    return reports_base(claims.backend_url) if claims.backend_url else None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
