"""The add-on manifest, served at ``GET /manifest`` and ``GET /manifest.json``."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from ..clockify.manifest import build_manifest, render, validate_manifest

bp = Blueprint("manifest", __name__)
EXTENSION_KEY = "addon.manifest"


def current_manifest() -> dict:
    """The app's manifest, built and validated against its schema once per process.

    :raise ManifestError: when the configuration produces an invalid manifest.
    """
    manifest = current_app.extensions.get(EXTENSION_KEY)
    if manifest is None:
        manifest = build_manifest(current_app.config["SETTINGS"])
        validate_manifest(manifest)
        current_app.extensions[EXTENSION_KEY] = manifest
    return manifest


@bp.get("/manifest")
@bp.get("/manifest.json")
def manifest():
    """The manifest Clockify installs from (public: it holds no secret)."""
    response = Response(render(current_manifest()), mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache"
    return response
