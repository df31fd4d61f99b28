"""Check the add-on's answers against its own OpenAPI document (``addon/web/addon-openapi.json``).

``ResponseChecker.problem(app, request, response)`` says what is wrong with one answer, or None:

* a route of the add-on (a blueprint from the ``addon`` package) must be documented, and its
  answer (status, headers, content type, body) must match the document (openapi-core);
* a request no route matched (404, 405) must get the generic JSON error shape;
* routes that tests register on throwaway apps, Flask's static files and the HEAD/OPTIONS
  answers Flask adds by itself are not the add-on's API and are skipped.

``CheckedClient`` is a Flask test client that applies the check to every answer it receives;
``addon.testkit.openapi_plugin`` installs it for a whole pytest session.
"""

from __future__ import annotations

import functools
import json

from flask import Flask
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import PathError
from openapi_schema_validator import OAS30Validator
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Request, Response

from ..after_answer import ClosingTestClient
from ..web.openapi_document import DOCUMENT_PATH

AUTOMATIC_METHODS = ("HEAD", "OPTIONS")
ADDON_PACKAGE = "addon"


class ResponseNotDocumented(AssertionError):
    """An answer of the add-on that its OpenAPI document does not describe."""


class ResponseChecker:
    """Validates answers against one OpenAPI document (built, and the document validated, once)."""

    def __init__(self, document: dict):
        self.document = document
        self.openapi = OpenAPI.from_dict(document)
        self._error_shape = OAS30Validator(
            {"$ref": "#/components/schemas/Error", "components": document["components"]})

    def problem(self, app: Flask, request: Request, response: Response) -> str | None:
        """What is wrong with ``response`` to ``request`` on ``app``; None when it is documented."""
        if request.method in AUTOMATIC_METHODS:
            return None
        adapter = app.url_map.bind_to_environ(request.environ)
        try:
            endpoint, _ = adapter.match(request.path, request.method)
        except (NotFound, MethodNotAllowed):
            return self._unrouted_problem(request, response)
        except RequestRedirect:
            return None if 300 <= response.status_code < 400 else (
                f"{request.method} {request.path}: a redirect route answered {response.status_code}")
        if not _is_addon_endpoint(app, endpoint):
            return None
        try:
            self.openapi.validate_response(_SentRequest(request), WerkzeugOpenAPIResponse(response))
        except PathError:
            return (f"{request.method} {request.path} (endpoint {endpoint}) is a route of the add-on missing "
                    "from the document")
        except OpenAPIError as error:
            return (f"{request.method} {request.path} answered {response.status_code}: {_describe(error)}\n"
                    f"body: {_clip(response.get_data(as_text=True))}")
        return None

    def _unrouted_problem(self, request: Request, response: Response) -> str | None:
        where = f"{request.method} {request.path} (no route)"
        if response.status_code not in (404, 405):
            return f"{where} answered {response.status_code}, expected 404 or 405"
        if response.mimetype != "application/json":
            return f"{where} answered {response.mimetype!r}, expected a JSON error"
        try:
            body = json.loads(response.get_data())
        except ValueError:
            return f"{where} answered a body that is not JSON"
        errors = [e.message for e in self._error_shape.iter_errors(body)]
        return f"{where}: not the JSON error shape: {'; '.join(errors)}" if errors else None


class _SentRequest(WerkzeugOpenAPIRequest):
    """The request as openapi-core needs it to find the operation; the body (already read by
    the app) is not needed to check the answer."""

    @property
    def body(self) -> bytes | None:
        return None


def _is_addon_endpoint(app: Flask, endpoint: str) -> bool:
    if endpoint == "static" or "." not in endpoint:
        return False
    blueprint = app.blueprints.get(endpoint.rsplit(".", 1)[0])
    return blueprint is not None and blueprint.import_name.split(".", 1)[0] == ADDON_PACKAGE


def _describe(error: BaseException) -> str:
    """The error and its causes (clipped), with the schema errors openapi-core keeps on them."""
    parts, details = [], []
    cause: BaseException | None = error
    while cause is not None:
        parts.append(_clip(f"{type(cause).__name__}: {cause}", 200))
        details += [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {_clip(e.message, 200)}"
                    for e in getattr(cause, "schema_errors", None) or ()]
        cause = cause.__cause__
    return "; ".join(details[:10]) + (" <- " if details else "") + " <- ".join(parts)


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


@functools.cache
def default_checker() -> ResponseChecker:
    """The checker of the add-on's document, built once per process."""
    return ResponseChecker(json.loads(DOCUMENT_PATH.read_text()))


class CheckedClient(ClosingTestClient):
    """A Flask test client that fails on any answer the OpenAPI document does not describe.

    Every problem is also appended to ``problems`` (class-wide) so a test that swallows the
    exception (a thread, a broad ``except``) still fails at teardown.
    """

    problems: list[str] = []

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        problem = default_checker().problem(self.application, response.request, response)
        if problem is not None:
            CheckedClient.problems.append(problem)
            raise ResponseNotDocumented(problem)
        return response
