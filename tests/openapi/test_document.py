"""The add-on's own OpenAPI document: valid OpenAPI 3.0, served as stored, and in step with the
routes (every route documented, every documented path a route, same methods)."""

import json
import re

import pytest
from openapi_spec_validator import validate

from addon import create_app
from addon.clockify.event_types import CATEGORIES, EVENTS_BY_CATEGORY
from addon.extensions import db
from addon.web.openapi_document import DOCUMENT_PATH

AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}
_ANY = re.compile(r"<any\(([^)]*)\):(\w+)>")
_VARIABLE = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>")


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(DOCUMENT_PATH.read_text())


@pytest.fixture
def development_app(base_overrides):
    """The app as it runs in development: every blueprint registered, operator views included."""
    app = create_app({**base_overrides, "ADDON_ENV": "development"})
    yield app
    with app.app_context():
        db.engine.dispose()


def _openapi_paths(rule: str) -> list[str]:
    """The OpenAPI path(s) of a Flask rule; an ``any(...)`` converter expands to one path per value."""
    match = _ANY.search(rule)
    if match:
        values = [v.strip().strip("'\"") for v in match.group(1).split(",")]
        return [p for v in values for p in _openapi_paths(rule[:match.start()] + v + rule[match.end():])]
    return [_VARIABLE.sub(r"{\1}", rule)]


def _operations(paths: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in paths.items() for method in item
            if method in ("get", "put", "post", "delete", "patch")}


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_document_is_valid_openapi_30(document):
    validate(document)
    assert document["openapi"].startswith("3.0.")


def test_every_reference_resolves(document):
    # openapi-spec-validator does not flag a dangling $ref; it would surface at first use.
    for ref in set(_refs(document)):
        assert ref.startswith("#/"), ref
        node = document
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
            node = node[part]


def test_served_document_is_the_stored_file(client):
    response = client.get("/addon-openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_data() == DOCUMENT_PATH.read_bytes()


def test_every_route_is_documented_and_every_documented_path_is_a_route(development_app, document):
    routed = set()
    for rule in development_app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for path in _openapi_paths(rule.rule):
            routed |= {(path, method) for method in rule.methods - AUTOMATIC_METHODS}
    documented = _operations(document["paths"])
    assert sorted(routed - documented) == [], "routes missing from the document"
    assert sorted(documented - routed) == [], "documented operations that are no route"


def test_webhook_event_enums_match_the_contract(document):
    for category in CATEGORIES:
        [header] = [p for p in document["paths"][f"/webhooks/{category}"]["post"]["parameters"]
                    if p.get("name") == "Clockify-Webhook-Event-Type"]
        if category == "generic":
            pattern = re.compile(header["schema"]["pattern"])
            assert all(pattern.match(e) for e in EVENTS_BY_CATEGORY[category])
            assert pattern.match("SOME_FUTURE_EVENT") and not pattern.match("lower-case")
        else:
            assert header["schema"]["enum"] == list(EVENTS_BY_CATEGORY[category])


def _resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        target = document
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


# Answers that are deliberately not the JSON error shape: the readiness report, and the error
# pages of the sidebar page (an iframe shows HTML).
NOT_JSON_ERRORS = {("/ready", "503"), *(("/ui", status) for status in ("401", "403", "404", "410"))}


def _required(document: dict, schema: dict) -> set[str]:
    schema = _resolve(document, schema)
    return set(schema.get("required", ())).union(*(_required(document, part) for part in schema.get("allOf", ())))


def test_every_operation_documents_its_json_errors_and_the_request_id(document):
    for path, method in _operations(document["paths"]):
        operation = document["paths"][path][method.lower()]
        assert "500" in operation["responses"], f"{method} {path} does not document the JSON 500"
        for status, response in operation["responses"].items():
            response = _resolve(document, response)
            assert "X-Request-ID" in response.get("headers", {}), f"{method} {path} {status}: no X-Request-ID"
            if int(status) < 400 or (path, status) in NOT_JSON_ERRORS:
                continue
            schema = response["content"]["application/json"]["schema"]
            assert {"error", "message", "request_id"} <= _required(document, schema), f"{method} {path} {status}"
            if status == "503":
                assert "Retry-After" in response["headers"], f"{method} {path}: 503 without Retry-After"


def test_every_component_is_used(document):
    text = json.dumps(document["paths"]) + json.dumps(document["components"])
    used_schemes = {name for item in document["paths"].values() for operation in item.values()
                    for requirement in operation.get("security", []) for name in requirement}
    for kind, components in document["components"].items():
        for name in components:
            if kind == "securitySchemes":
                assert name in used_schemes, f"security scheme {name} is never required"
            elif (kind, name) != ("schemas", "Error"):  # the shape of answers no route gives (checked in code)
                assert f'"#/components/{kind}/{name}"' in text, f"{kind}/{name} is never referenced"
