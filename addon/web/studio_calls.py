"""Reading an API Studio call's JSON (``/ui/api-explorer/execute``, ``/api-call``) into the
``CallRequest`` that ``addon.flows.studio_execute`` runs."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote

from flask import current_app

from ..clockify.openapi_catalog import get_catalog
from ..clockify.request_validation import DOT_SEGMENT_MESSAGE, is_dot_segment
from ..errors import BadRequest, ValidationFailed
from ..flows.studio_execute import CallRequest
from .request_body import read_json

# The envelope around the body ({operationId, pathParams, query, ...}) may add this much.
ENVELOPE_ALLOWANCE_BYTES = 64 * 1024


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
