"""The add-on manifest, built from the settings and the contract."""

from __future__ import annotations

from dataclasses import dataclass

from . import events as contract_events
from . import schemas


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
        return contract_events.events_for_version(settings.manifest_schema_version)
    if settings.webhook_events == "all":
        return contract_events.ALL_EVENTS
    unknown = [e for e in settings.webhook_events if not contract_events.is_known(e)]
    if unknown:
        raise ValueError(f"WEBHOOK_EVENTS names unknown events: {', '.join(unknown)}")
    chosen = set(settings.webhook_events)
    return tuple(e for e in contract_events.ALL_EVENTS if e in chosen)


def webhook_plan(settings) -> WebhookPlan:
    """Split the selected events: the first ``MANIFEST_MAX_WEBHOOKS`` the schema version can
    declare go in the manifest; the rest are registered through the API after install."""
    allowed = set(schemas.allowed_events(settings.manifest_schema_version))
    selected = selected_events(settings)
    declared = tuple(e for e in selected if e in allowed)[: settings.manifest_max_webhooks]
    return WebhookPlan(declared=declared, via_api=tuple(e for e in selected if e not in declared))
