"""``flask`` command groups. Each command lives here as a thin wrapper that imports and calls a
function of its area, so the groups are complete once this module is imported."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

manifest_cli = AppGroup("manifest", help="Build and write the add-on manifest.")
clockify_cli = AppGroup("clockify", help="Developer tools: simulate Clockify against a running server.")
webhooks_cli = AppGroup("webhooks", help="Replay stored events; retry webhook deregistration.")
bootstrap_cli = AppGroup("bootstrap", help="Run the workspace bootstrap.")


@bootstrap_cli.command("run")
@click.argument("workspace_id")
@click.option("--enqueue", is_flag=True, help="Queue the run for the workers instead of running it here.")
def bootstrap_run(workspace_id: str, enqueue: bool) -> None:
    """Bootstrap WORKSPACE_ID (here, unless --enqueue) and print the run's status."""
    from .jobs import bootstrap, schedule
    from .store import bootstrap_runs

    if enqueue:
        run, created = schedule.request_bootstrap(workspace_id, "cli")
        body = bootstrap_runs.status_body(run)
        if not created:
            click.echo("A bootstrap of this workspace is already in progress.", err=True)
    else:
        body = bootstrap.run_now(workspace_id)
    click.echo(json.dumps(body, indent=2))


@webhooks_cli.command("deregister")
@click.argument("workspace_id", required=False)
@click.option("--retry", "retry_failed", is_flag=True,
              help="Retry the deregistrations that failed (every workspace unless one is named).")
def webhooks_deregister(workspace_id: str | None, retry_failed: bool) -> None:
    """Delete the webhooks the add-on registered through the API for WORKSPACE_ID, here and now."""
    from .jobs import webhook_registration

    if workspace_id is None and not retry_failed:
        raise click.UsageError("name a WORKSPACE_ID, or pass --retry")
    report = webhook_registration.deregister_now(workspace_id, only_failed=retry_failed)
    click.echo(json.dumps(report, indent=2))
    if any(entry["status"] == "delete_failed" for entries in report.values() for entry in entries):
        raise SystemExit(1)


def register_cli(app) -> None:
    """Attach every command group that has commands to ``app``."""
    for group in (manifest_cli, clockify_cli, webhooks_cli, bootstrap_cli):
        if group.commands:
            app.cli.add_command(group)
