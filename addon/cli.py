"""``flask`` command groups. Each command lives here as a thin wrapper that imports and calls a
function of its area, so the groups are complete once this module is imported."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

manifest_cli = AppGroup("manifest", help="Build and write the add-on manifest.")
clockify_cli = AppGroup("clockify", help="Developer tools: simulate Clockify against a running server.")
webhooks_cli = AppGroup("webhooks", help="Replay stored events; retry webhook deregistration.")
bootstrap_cli = AppGroup("bootstrap", help="Run the workspace bootstrap.")


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

    from .jobs.webhook_processing import replay
    from .models import as_utc

    try:
        moment = datetime.fromisoformat(since) if since else None
    except ValueError:
        raise click.BadParameter("expected an ISO 8601 date or time", param_hint="--since") from None
    if moment is not None:
        moment = as_utc(moment)
    if current_app.config["SETTINGS"].embedded_redis:
        _replay_on_server(url, workspace_id, moment, event_type)
        return
    try:
        result = replay(workspace_id, since=moment, event_type=event_type)
    except RedisError as error:
        raise click.ClickException(f"Redis is unavailable ({type(error).__name__}); "
                                   "reset events are enqueued by the sweep once it is back") from None
    click.echo(f"{result.enqueued} events enqueued, {result.pending} already pending")


def _replay_on_server(url: str | None, workspace_id: str, since: datetime | None, event_type: str | None) -> None:
    import requests

    from .testkit.developer import target

    where = target(current_app, url)
    body = {"workspace": workspace_id, "since": since.isoformat() if since else None, "event": event_type}
    try:
        response = requests.post(where.url + "/dev/replay", json=body, timeout=30)
    except requests.RequestException as error:
        raise click.ClickException(
            f"embedded mode: the running server replays the events, and none answered at {where.url} "
            f"({type(error).__name__}); start it with `make dev` or pass --url. Nothing was replayed.") from None
    if response.status_code != 200:
        raise click.ClickException(f"the server at {where.url} answered {response.status_code}: {response.text[:300]}")
    result = response.json()
    click.echo(f"{result['enqueued']} events enqueued, {result['pending']} already pending "
               f"(replayed by the running server at {where.url}: embedded mode)")


@bootstrap_cli.command("run")
@click.argument("workspace_id")
@click.option("--enqueue", is_flag=True, help="Queue the run for the workers instead of running it here.")
def bootstrap_run(workspace_id: str, enqueue: bool) -> None:
    """Bootstrap WORKSPACE_ID (here, unless --enqueue) and print the run's status."""
    from .jobs import bootstrap, schedule
    from .web.bootstrap import status_body

    if enqueue:
        run, created = schedule.request_bootstrap(workspace_id, "cli")
        if not created:
            click.echo("A bootstrap of this workspace is already in progress.", err=True)
    else:
        run = bootstrap.run_now(workspace_id)
    click.echo(json.dumps(status_body(run), indent=2))


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


@click.command("doctor")
@with_appcontext
def doctor() -> None:
    """Check the deployment: one line per item, ok or PROBLEM with how to fix it; exit 1 on any problem."""
    from .doctor import report, run_checks

    text, code = report(run_checks())
    click.echo(text)
    if code:
        raise SystemExit(code)


def register_cli(app) -> None:
    """Attach ``doctor`` and every command group that has commands to ``app``."""
    app.cli.add_command(doctor)
    for group in (manifest_cli, clockify_cli, webhooks_cli, bootstrap_cli):
        if group.commands:
            app.cli.add_command(group)


@manifest_cli.command("write")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write (default: manifest.json at the repository root).")
@click.option("--defaults", is_flag=True,
              help="Use every variable's documented default instead of this environment (how the committed "
                   "manifest.json is made).")
def manifest_write(output: Path | None, defaults: bool) -> None:
    """Validate the manifest against its schema and write it as JSON."""
    from . import ROOT, config
    from .clockify import manifest

    settings = config.default_settings() if defaults else current_app.config["SETTINGS"]
    path = output or ROOT / "manifest.json"
    try:
        written = manifest.write_manifest(settings, path)
    except (manifest.ManifestError, ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None
    plan = manifest.webhook_plan(settings)
    click.echo(f"wrote {path} (schema {written['schemaVersion']}, {len(plan.declared)} webhooks declared, "
               f"{len(plan.via_api)} registered through the API)")


@clockify_cli.group("simulate")
def simulate() -> None:
    """Send signed Clockify calls (development key) to a running server."""


def _url_option(command):
    return click.option("--url", default=None,
                        help="The server (default: the running `make dev` one, else http://127.0.0.1:$PORT).")(command)


def _api_url_option(command):
    return click.option("--api-url", default=None,
                        help="Clockify's API URL the tokens name (default: the `make dev` fake, "
                             "else Clockify's).")(command)


def _workspace_options(command):
    command = click.option("--addon-id", default=None, help="Add-on id (default: the `make dev` one, else "
                                                             "addon-<workspace>).")(command)
    return click.option("--workspace", default=None,
                        help="Workspace id (default: the `make dev` one, else dev-workspace).")(command)


def _target(url=None, api_url=None, workspace=None, addon_id=None):
    from .testkit.developer import target

    return target(current_app, url, api_url, workspace, addon_id)


def _report(where, send, event: str | None = None) -> None:
    """Print the answer on stdout; errors and hints go to stderr."""
    import requests

    from .testkit.developer import describe, hint

    try:
        reply = send()
    except requests.RequestException as error:
        raise _unreachable(where, error) from None
    except (LookupError, RuntimeError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(describe(reply))
    advice = hint(reply, event)
    if advice:
        click.echo(f"hint: {advice}", err=True)
    if reply.status_code >= 400:
        raise SystemExit(1)


def _unreachable(where, error: Exception) -> click.ClickException:
    return click.ClickException(f"cannot reach the server at {where.url}: {type(error).__name__} "
                                "(is `make dev` running? --url chooses another server)")


@simulate.command("install")
@_url_option
@_workspace_options
@_api_url_option
def simulate_install(url, workspace, addon_id, api_url) -> None:
    """Send INSTALLED with a token for every webhook the server's manifest declares."""
    from .testkit.developer import dev_simulator

    where = _target(url, api_url, workspace, addon_id)
    kit = dev_simulator(current_app, where)
    _report(where, lambda: kit.install(where.workspace_id, where.addon_id).reply)


@simulate.command("webhook")
@click.argument("event")
@_url_option
@_workspace_options
@click.option("--payload", default=None, help="JSON body, or @FILE (default: a small sample).")
def simulate_webhook(event, url, workspace, addon_id, payload) -> None:
    """Deliver EVENT with the token its installation holds for it.

    An event the manifest declares is signed here; one registered through the API is delivered by
    the `make dev` fake Clockify, which holds its token. Any other is not subscribed.
    """
    from .testkit.developer import dev_simulator, send_through_sandbox

    body = None
    if payload is not None:
        text = Path(payload[1:]).read_text() if payload.startswith("@") else payload
        try:
            body = json.loads(text)
        except ValueError:
            raise click.BadParameter("not valid JSON", param_hint="--payload") from None
    where = _target(url, None, workspace, addon_id)
    kit = dev_simulator(current_app, where)
    import requests

    try:
        declared = [w["event"] for w in kit.manifest().get("webhooks", [])]
    except requests.RequestException as error:
        raise _unreachable(where, error) from None
    except RuntimeError:  # not an add-on's manifest (e.g. a request recorder): no subscription to check
        declared = [event]
    if event in declared:
        _report(where, lambda: kit.send_webhook(event, body, workspace_id=where.workspace_id,
                                                addon_id=where.addon_id), event)
        return
    try:
        reply = send_through_sandbox(where, event, body)
    except requests.RequestException:
        reply = None
    if reply is None or reply.status_code in (400, 404):
        raise click.ClickException(
            f"{event} is not subscribed: the manifest of {where.url} does not declare it"
            + (" and no webhook registered through the API asks for it" if reply is not None
               and reply.status_code == 400 else "")
            + ". WEBHOOK_EVENTS chooses the events; `flask manifest write` shows the plan.")
    _report(where, lambda: reply, event)


@simulate.command("uninstall")
@_url_option
@_workspace_options
def simulate_uninstall(url, workspace, addon_id) -> None:
    """Send DELETED."""
    from .testkit.developer import dev_simulator

    where = _target(url, None, workspace, addon_id)
    kit = dev_simulator(current_app, where)
    _report(where, lambda: kit.uninstall(where.workspace_id, addon_id=where.addon_id))


@simulate.command("ui")
@_url_option
@_workspace_options
@_api_url_option
@click.option("--role", default="OWNER", show_default=True, help="workspaceRole claim.")
@click.option("--user", "user_id", default="dev-user", show_default=True, help="user claim.")
@click.option("--theme", default="DEFAULT", show_default=True, help="theme claim (DEFAULT or DARK).")
def simulate_ui(url, workspace, addon_id, api_url, role, user_id, theme) -> None:
    """Print a signed /ui?auth_token=... URL (valid 30 minutes) to open API Studio, alone on stdout."""
    from .testkit.developer import dev_simulator

    where = _target(url, api_url, workspace, addon_id)
    kit = dev_simulator(current_app, where)
    click.echo(kit.ui_url(where.url, where.workspace_id, addon_id=where.addon_id, user_id=user_id, role=role,
                          theme=theme))


@clockify_cli.command("fake")
@click.option("--port", default=8025, show_default=True, help="Port of the fake Clockify on 127.0.0.1.")
@click.option("--url", default=None, help="Install the add-on running there into the fake (default: BASE_URL).")
@click.option("--no-install", is_flag=True, help="Only serve the fake; install later with `simulate install`.")
def run_fake(port: int, url: str | None, no_install: bool) -> None:
    """Run the seeded fake Clockify alone (for a server and worker started by hand), until Ctrl-C."""
    import signal
    import threading

    import requests

    from .testkit.sandbox import Sandbox

    sandbox = Sandbox(current_app, fake_port=port).start()
    server_url = (url or current_app.config["SETTINGS"].base_url).rstrip("/")
    click.echo(sandbox.fake.api_url)
    click.echo(f"fake Clockify serving workspace {sandbox.workspace_id} at {sandbox.fake.api_url}", err=True)
    if not no_install:
        try:
            status = sandbox.install(server_url)
            click.echo(f"installed into {server_url}: INSTALLED answered {status}", err=True)
        except requests.RequestException as error:
            click.echo(f"could not install into {server_url} ({type(error).__name__}); later: flask clockify "
                       f"simulate install --url {server_url} --api-url {sandbox.fake.api_url} "
                       f"--workspace {sandbox.workspace_id}", err=True)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        stopping.wait()
    finally:
        sandbox.stop()
