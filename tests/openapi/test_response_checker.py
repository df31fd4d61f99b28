"""The response check every test client applies: it passes documented answers and names what is
wrong with the others."""

import copy
import json

import pytest
from flask import Flask, jsonify
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from addon.testkit.openapi_responses import CheckedClient, ResponseChecker, ResponseNotDocumented, default_checker


def _request(path: str, method: str = "GET") -> Request:
    return Request(EnvironBuilder(path=path, method=method).get_environ())


def _json(status: int, body, headers=None) -> Response:
    headers = {"X-Request-ID": "req-1", **(headers or {})}
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def test_a_documented_answer_passes(app):
    checker = default_checker()
    assert checker.problem(app, _request("/health"), _json(200, {"status": "ok"})) is None
    rejected = _json(401, {"error": "invalid_token", "message": "No token.", "request_id": "req-1", "check": "missing"})
    assert checker.problem(app, _request("/webhooks/time", "POST"), rejected) is None


def test_an_undocumented_status_is_named(app):
    problem = default_checker().problem(app, _request("/health"), _json(418, {"status": "ok"}))
    assert "GET /health answered 418" in problem


def test_a_body_off_its_schema_is_named_with_the_field(app):
    rejected = _json(401, {"error": "invalid_token", "message": "No token.", "request_id": "req-1"})
    problem = default_checker().problem(app, _request("/webhooks/time", "POST"), rejected)
    assert "'check' is a required property" in problem


def test_an_error_code_the_status_does_not_document_is_named(app):
    wrong = _json(403, {"error": "not_installed", "message": "x", "request_id": "req-1"})
    problem = default_checker().problem(app, _request("/lifecycle/deleted", "POST"), wrong)
    assert "error: 'not_installed' is not one of" in problem


def test_a_missing_request_id_header_is_named(app):
    response = Response(json.dumps({"status": "ok"}), mimetype="application/json")
    assert "X-Request-ID" in default_checker().problem(app, _request("/health"), response)


def test_a_route_of_the_addon_missing_from_the_document_is_named(app):
    document = copy.deepcopy(default_checker().document)
    del document["paths"]["/health"]
    problem = ResponseChecker(document).problem(app, _request("/health"), _json(200, {"status": "ok"}))
    assert "(endpoint health.health) is a route of the add-on missing from the document" in problem


def test_unrouted_requests_must_get_the_json_error_shape(app):
    checker = default_checker()
    not_found = _json(404, {"error": "not_found", "message": "No such page.", "request_id": "req-1"})
    assert checker.problem(app, _request("/nowhere"), not_found) is None
    html = Response("<h1>Not Found</h1>", status=404, mimetype="text/html")
    assert "expected a JSON error" in checker.problem(app, _request("/nowhere"), html)
    bare = _json(405, {"error": "method_not_allowed"})
    assert "'message' is a required property" in checker.problem(app, _request("/health", "DELETE"), bare)


def test_routes_tests_add_on_throwaway_apps_are_skipped():
    throwaway = Flask("throwaway")
    throwaway.add_url_rule("/health", "health", lambda: ("teapot", 418))
    assert default_checker().problem(throwaway, _request("/health"), Response("teapot", status=418)) is None


def test_the_checked_client_raises_on_an_undocumented_answer(app, base_overrides):
    from addon import create_app

    broken = create_app(base_overrides)
    broken.view_functions["health.health"] = lambda: jsonify(status="fine")
    client = broken.test_client()
    assert isinstance(client, CheckedClient)
    with pytest.raises(ResponseNotDocumented, match="'fine' is not one of"):
        client.get("/health")
    CheckedClient.problems.clear()  # raised and seen here: not a leftover for the teardown check
