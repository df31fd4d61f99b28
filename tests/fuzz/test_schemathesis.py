"""Schemathesis against the app, driven by its own OpenAPI document: a bounded number of
generated requests per operation, signed with valid tokens, must never get a 500, every answer
must match the document, and every rejection must be the JSON error shape."""

from __future__ import annotations

import json

import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from addon import create_app
from addon.clockify import lifecycle

# The document is loaded over WSGI from an app built at import (it serves the static file and
# touches neither database nor Redis); each case then runs against the session's real `app`.
_DOCUMENT_APP = create_app({"ADDON_ENV": "test", "DATABASE_URL": "sqlite://", "REDIS_URL": "redis://127.0.0.1:1/0",
                            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()})
schema = schemathesis.openapi.from_wsgi("/addon-openapi.json", _DOCUMENT_APP)

LIFECYCLE_KINDS = {path: kind for kind, path in lifecycle.PATHS.items()}
OPERATOR_PATHS = ("/webhooks", "/installations")  # development only: run against a development app
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
EXAMPLES_PER_OPERATION = 25


@schemathesis.check
def rejection_is_a_json_error(ctx, response, case):
    """Every 4xx/5xx answer is ``{"error", "message", "request_id"}``, except the readiness report
    and the sidebar page's error pages (HTML in the iframe; their 500 and 503 are JSON)."""
    if response.status_code < 400 or case.path == "/ready" or (case.path == "/ui" and response.status_code < 500):
        return None
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), "rejection is not JSON"
    body = json.loads(response.content)
    for field in ("error", "message", "request_id"):
        assert isinstance(body.get(field), str), f"rejection without a string {field!r}: {body}"
    return True


def _sign(case, kit, installed, user_token: str) -> None:
    """Put valid tokens on the case so the fuzzer gets past authentication into the handlers.

    INSTALLED is signed for the workspace and add-on its body names (with a valid installation
    token in the body), so new installations get created; the other calls, and webhook bodies,
    are pointed at the installed workspace so they reach the handlers. API Studio and bootstrap
    calls carry an owner's user token of that workspace.
    """
    body = case.body if isinstance(case.body, dict) else None
    headers = dict(case.headers or {})
    if case.path in LIFECYCLE_KINDS:
        workspace, addon = installed.workspace_id, installed.addon_id
        if LIFECYCLE_KINDS[case.path] == lifecycle.INSTALLED:
            if body is not None and all(_usable_id(body.get(k)) for k in ("workspaceId", "addonId")):
                workspace, addon = body["workspaceId"], body["addonId"]
                body["authToken"] = kit.installation_token(workspace, addon)
        elif body is not None:
            for key, value in (("workspaceId", workspace), ("addonId", addon)):
                if isinstance(body.get(key), str):
                    body[key] = value
        headers[lifecycle.TOKEN_HEADERS[0]] = kit.lifecycle_token(workspace, addon)
    elif case.path.startswith("/webhooks/"):
        if body is not None and "workspaceId" in body:
            body["workspaceId"] = installed.workspace_id
        headers["Clockify-Signature"] = installed.route_tokens[case.path]
    elif case.path == "/ui":
        case.query = {**(case.query or {}), "auth_token": user_token}
    elif case.path.startswith(("/ui/", "/api-call", "/bootstrap")):
        headers["Authorization"] = f"Bearer {user_token}"
    case.headers = headers


def _usable_id(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_no_operation_answers_off_the_document_or_500(case, app, development_app, kit, installed, user_token):
    _sign(case, kit, installed, user_token)
    if case.path in OPERATOR_PATHS:
        app = development_app
    case.call_and_validate(app=app, checks=CHECKS, additional_checks=[rejection_is_a_json_error])
