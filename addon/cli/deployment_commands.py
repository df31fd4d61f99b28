"""The ``flask`` commands run against a deployment: ``doctor``, ``manifest write``, ``webhooks
replay`` / ``deregister`` and ``bootstrap run``. Each is a thin wrapper that imports and calls a
function of its area (lazily, so ``flask`` starts without loading the jobs)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

manifest_cli = AppGroup("manifest", help="Build and write the add-on manifest.")
webhooks_cli = AppGroup("webhooks", help="Replay stored events; retry webhook deregistration.")
bootstrap_cli = AppGroup("bootstrap", help="Run the workspace bootstrap.")


@click.command("doctor")
@with_appcontext
def doctor() -> None:
    """Check the deployment: one line per item, ok or PROBLEM with how to fix it; exit 1 on any problem."""
    from ..doctor import report, run_checks

    text, code = report(run_checks())
    click.echo(text)
    if code:
        raise SystemExit(code)


@manifest_cli.command("write")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write (default: manifest.json at the repository root).")
@click.option("--defaults", is_flag=True,
              help="Use every variable's documented default instead of this environment (how the committed "
                   "manifest.json is made).")
def manifest_write(output: Path | None, defaults: bool) -> None:
    """Validate the manifest against its schema and write it as JSON."""
    from .. import ROOT, config
    from ..clockify import manifest

    settings = config.default_settings() if defaults else current_app.config["SETTINGS"]
    path = output or ROOT / "manifest.json"
    try:
        written = manifest.write_manifest(settings, path)
    except (manifest.ManifestError, ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None
    plan = manifest.webhook_plan(settings)
    click.echo(f"wrote {path} (schema {written['schemaVersion']}, {len(plan.declared)} webhooks declared, "
               f"{len(plan.via_api)} registered through the API)")


@webhooks_cli.command("replay")
@click.option("--workspace", "workspace_id", required=True, help="Workspace whose events to replay.")
@click.option("--since", help="Only events received at or after this ISO 8601 time (UTC if no offset).")
@click.option("--event", "event_type", help="Only events of this type, e.g. NEW_PROJECT.")
@click.option("--url", default=None, help="Embedded mode: the running server (default: the `make dev` one).")
def replay_webhooks(workspace_id: str, since: str | None, event_type: str | None, url: str | None) -> None:
    """Re-enqueue a workspace's stored webhook events (handlers run again).

    In embedded mode (no REDIS_URL) this command's queue is its own in-memory one, which no worker
    reads: the running server replays them instead.
    """
    from redis.exceptions import RedisError

    from ..jobs.webhook_requeue import replay
    from ..models import as_utc

    try:
        moment = datetime.fromisoformat(since) if since else None
    except ValueError:
        raise click.BadParameter("expected an ISO 8601 date or time", param_hint="--since") from None
    if moment is not None:
        moment = as_utc(moment)
    if current_app.config["SETTINGS"].embedded_redis:
        from .dev_commands import replay_on_server

        replay_on_server(url, workspace_id, moment, event_type)
        return
    try:
        result = replay(workspace_id, since=moment, event_type=event_type)
    except RedisError as error:
        raise click.ClickException(f"Redis is unavailable ({type(error).__name__}); "
                                   "reset events are enqueued by the sweep once it is back") from None
    click.echo(f"{result.enqueued} events enqueued, {result.pending} already pending")


@webhooks_cli.command("deregister")
@click.argument("workspace_id", required=False)
@click.option("--retry", "retry_failed", is_flag=True,
              help="Retry the deregistrations that failed (every workspace unless one is named).")
def webhooks_deregister(workspace_id: str | None, retry_failed: bool) -> None:
    """Delete the webhooks the add-on registered through the API for WORKSPACE_ID, here and now."""
    from ..jobs import webhook_registration

    if workspace_id is None and not retry_failed:
        raise click.UsageError("name a WORKSPACE_ID, or pass --retry")
    report = webhook_registration.deregister_now(workspace_id, only_failed=retry_failed)
    click.echo(json.dumps(report, indent=2))
    if any(entry["status"] == "delete_failed" for entries in report.values() for entry in entries):
        raise SystemExit(1)


@bootstrap_cli.command("run")
@click.argument("workspace_id")
@click.option("--enqueue", is_flag=True, help="Queue the run for the workers instead of running it here.")
def bootstrap_run(workspace_id: str, enqueue: bool) -> None:
    """Bootstrap WORKSPACE_ID (here, unless --enqueue) and print the run's status."""
    from ..jobs import bootstrap, schedule
    from ..web.bootstrap import status_body

    if enqueue:
        run, created = schedule.request_bootstrap(workspace_id, "cli")
        if not created:
            click.echo("A bootstrap of this workspace is already in progress.", err=True)
    else:
        run = bootstrap.run_now(workspace_id)
    click.echo(json.dumps(status_body(run), indent=2))
