"""The add-on's own OpenAPI document, served at ``GET /addon-openapi.json``.

The document (``addon-openapi.json`` beside this module) describes every route of the add-on
with every answer it can give, errors included. Tests check each response against it and a
drift test keeps it and the routes in step; it is static, so it is read once per process.
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, Response

DOCUMENT_PATH = Path(__file__).with_name("addon-openapi.json")
bp = Blueprint("openapi_document", __name__)


@functools.cache
def document_bytes() -> bytes:
    """The document as stored (UTF-8 JSON)."""
    return DOCUMENT_PATH.read_bytes()


@bp.get("/addon-openapi.json")
def openapi_document():
    """The OpenAPI 3.0 document of this server's HTTP API (public: it holds no secret)."""
    response = Response(document_bytes(), mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache"
    return response
