"""The add-on manifest, built from the settings and the contract, and checked against the
official schema of the version it states.

``build_manifest(settings)`` is what ``GET /manifest`` serves and ``flask manifest write``
writes; ``validate_manifest`` runs the bundled draft-04 schema over it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from jsonschema import Draft4Validator

from . import event_types, lifecycle, schemas

DESCRIPTION = ("Browse and run every Clockify REST API operation from the sidebar, with your workspace's "
               "data kept in sync through webhooks.")
ICON_PATH = "/static/icon.svg"
MINIMAL_SUBSCRIPTION_PLAN = "FREE"
STUDIO_PATH = "/ui"
STUDIO_LABEL = "API Studio"
SETTINGS_TAB = {"id": "general", "name": "General"}

# Structured settings (CHECKBOX values are booleans: the schema's minLength/minItems apply to
# strings and arrays only, so `false` is a valid non-empty value).
STRUCTURED_SETTINGS: tuple[dict, ...] = (
    {"id": "auto_bootstrap", "name": "Load workspace data on install", "type": "CHECKBOX", "value": True,
     "accessLevel": "ADMINS",
     "description": "Fetch projects, clients, tags, users, time entries and more into the add-on's cache "
                    "right after installation."},
    {"id": "developer_mode", "name": "Developer mode", "type": "CHECKBOX", "value": False, "accessLevel": "ADMINS",
     "description": "Show request and response details meant for add-on developers in API Studio."},
)


class ManifestError(ValueError):
    """The manifest breaks its schema; ``errors`` lists ``"<json path>: <message>"`` lines."""

    def __init__(self, version: str | None, errors: list[str]):
        head = f"manifest is not valid against schema {version}" if version else "manifest is not valid"
        super().__init__(f"{head}: " + "; ".join(errors))
        self.version = version
        self.errors = errors


@dataclass(frozen=True)
class WebhookPlan:
    """Which events the manifest declares and which are registered through the REST API."""

    declared: tuple[str, ...]
    via_api: tuple[str, ...]


def selected_events(settings) -> tuple[str, ...]:
    """The events the add-on subscribes to, in the contract's order.

    ``WEBHOOK_EVENTS`` unset: every event the schema version allows; ``all``: all 51.
    :raise ValueError: for a name the contract does not know.
    """
    if settings.webhook_events is None:
        return event_types.events_for_version(settings.manifest_schema_version)
    if settings.webhook_events == "all":
        return event_types.ALL_EVENTS
    unknown = [e for e in settings.webhook_events if not event_types.is_known(e)]
    if unknown:
        raise ValueError(f"WEBHOOK_EVENTS names unknown events: {', '.join(unknown)}")
    chosen = set(settings.webhook_events)
    return tuple(e for e in event_types.ALL_EVENTS if e in chosen)


def webhook_plan(settings) -> WebhookPlan:
    """Split the selected events: the first ``MANIFEST_MAX_WEBHOOKS`` the schema version can
    declare go in the manifest; the rest are registered through the API after install."""
    allowed = set(schemas.allowed_events(settings.manifest_schema_version))
    selected = selected_events(settings)
    declared = tuple(e for e in selected if e in allowed)[: settings.manifest_max_webhooks]
    return WebhookPlan(declared=declared, via_api=tuple(e for e in selected if e not in declared))


def selected_scopes(settings) -> tuple[str, ...]:
    """``ADDON_SCOPES`` (duplicates dropped) or every scope of the schema version.

    :raise ValueError: for a scope the schema version does not know.
    """
    known = schemas.scopes(settings.manifest_schema_version)
    if settings.addon_scopes is None:
        return known
    unknown = [s for s in settings.addon_scopes if s not in known]
    if unknown:
        raise ValueError(f"ADDON_SCOPES names unknown scopes: {', '.join(unknown)}")
    return tuple(dict.fromkeys(settings.addon_scopes))


def setting_defaults() -> dict:
    """``{id: default value}`` of the structured settings."""
    return {s["id"]: s["value"] for s in STRUCTURED_SETTINGS}


def build_manifest(settings) -> dict:
    """The manifest for ``settings`` (always stating its ``schemaVersion``)."""
    return {
        "schemaVersion": settings.manifest_schema_version,
        "key": settings.addon_key,
        "name": settings.addon_name,
        "description": DESCRIPTION,
        "baseUrl": settings.base_url,
        "iconPath": ICON_PATH,
        "minimalSubscriptionPlan": MINIMAL_SUBSCRIPTION_PLAN,
        "scopes": list(selected_scopes(settings)),
        "components": [{
            "type": "sidebar",
            "accessLevel": settings.studio_access_level,
            "path": STUDIO_PATH,
            "label": STUDIO_LABEL,
            "iconPath": ICON_PATH,
        }],
        "settings": {"tabs": [{**SETTINGS_TAB, "settings": [dict(s) for s in STRUCTURED_SETTINGS]}]},
        "lifecycle": [{"type": kind, "path": path} for kind, path in lifecycle.PATHS.items()],
        "webhooks": [{"event": event, "path": event_types.route_path(event_types.category_of(event))}
                     for event in webhook_plan(settings).declared],
    }


def validate_manifest(manifest: dict) -> None:
    """Check ``manifest`` against the bundled official schema of its ``schemaVersion``.

    :raise ManifestError: naming every violation, or a missing/unsupported ``schemaVersion``.
    """
    version = manifest.get("schemaVersion") if isinstance(manifest, dict) else None
    if version is None:
        raise ManifestError(None, ["schemaVersion: missing (the manifest must state its version)"])
    if str(version) not in schemas.VERSIONS:
        raise ManifestError(None, [f"schemaVersion: {version!r} is not one of {', '.join(schemas.VERSIONS)}"])
    validator = Draft4Validator(schemas.manifest_schema(str(version)), format_checker=Draft4Validator.FORMAT_CHECKER)
    errors = [_deepest(e) for e in validator.iter_errors(manifest)]
    if errors:
        errors.sort(key=lambda e: list(map(str, e.absolute_path)))
        raise ManifestError(str(version), [f"{_json_path(e.absolute_path)}: {_short(e.message)}" for e in errors])


def _deepest(error):
    # anyOf/oneOf report the whole instance; the branch error deepest in the document is the
    # one that says what to fix (e.g. "settings.tabs[0].settings[0].value: '' should be non-empty").
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    return error


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _json_path(path) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return text.lstrip(".") or "$"


def render(manifest: dict) -> str:
    """The manifest as the JSON text ``flask manifest write`` stores (2-space indent, final newline)."""
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def write_manifest(settings, path: str | Path) -> dict:
    """Build, validate and write the manifest for ``settings`` to ``path``; returns it.

    :raise ManifestError: when it would not validate (nothing is written then).
    """
    manifest = build_manifest(settings)
    validate_manifest(manifest)
    Path(path).write_text(render(manifest))
    return manifest
