"""``flask`` command groups. Each command lives here as a thin wrapper that imports and calls a
function of its area, so the groups are complete once this module is imported."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

manifest_cli = AppGroup("manifest", help="Build and write the add-on manifest.")
clockify_cli = AppGroup("clockify", help="Developer tools: simulate Clockify against a running server.")
webhooks_cli = AppGroup("webhooks", help="Replay stored events; retry webhook deregistration.")
bootstrap_cli = AppGroup("bootstrap", help="Run the workspace bootstrap.")


@webhooks_cli.command("replay")
@click.option("--workspace", "workspace_id", required=True, help="Workspace whose events to replay.")
@click.option("--since", help="Only events received at or after this ISO 8601 time (UTC if no offset).")
@click.option("--event", "event_type", help="Only events of this type, e.g. NEW_PROJECT.")
def replay_webhooks(workspace_id: str, since: str | None, event_type: str | None) -> None:
    """Re-enqueue a workspace's stored webhook events (handlers run again)."""
    from redis.exceptions import RedisError

    from .jobs.events import replay

    try:
        moment = datetime.fromisoformat(since) if since else None
    except ValueError:
        raise click.BadParameter("expected an ISO 8601 date or time", param_hint="--since") from None
    if moment is not None:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    try:
        result = replay(workspace_id, since=moment, event_type=event_type)
    except RedisError as error:
        raise click.ClickException(f"Redis is unavailable ({type(error).__name__}); "
                                   "reset events are enqueued by the sweep once it is back") from None
    click.echo(f"{result.enqueued} events enqueued, {result.pending} already pending")


def register_cli(app) -> None:
    """Attach every command group that has commands to ``app``."""
    for group in (manifest_cli, clockify_cli, webhooks_cli, bootstrap_cli):
        if group.commands:
            app.cli.add_command(group)
