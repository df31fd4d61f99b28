"""The official manifest JSON schemas (1.2 to 1.6) bundled in ``schemas/`` and what they allow."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

SCHEMA_DIR = Path(__file__).with_name("schemas")
VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6")
LATEST = VERSIONS[-1]


@cache
def manifest_schema(version: str) -> dict:
    """The official manifest schema of ``version`` (draft-04).

    :raise ValueError: for a version that is not bundled.
    """
    if version not in VERSIONS:
        raise ValueError(f"unsupported manifest schema version {version!r}")
    return json.loads((SCHEMA_DIR / f"manifest-schema-{version}.json").read_text())


def allowed_events(version: str) -> tuple[str, ...]:
    """Webhook event names the manifest of ``version`` may declare, in the schema's order."""
    return tuple(manifest_schema(version)["definitions"]["webhook"]["properties"]["event"]["enum"])


def scopes(version: str = LATEST) -> tuple[str, ...]:
    """Scope names of ``version``."""
    return tuple(manifest_schema(version)["definitions"]["scope"]["enum"])
