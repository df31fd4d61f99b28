"""The ``flask clockify`` commands, for development: ``simulate`` sends signed Clockify calls to a
running server, ``fake`` serves the seeded fake Clockify alone. Also the embedded-mode path of
``flask webhooks replay`` (the running dev server replays). The only commands that use the test
kit, imported lazily so a deployment never loads it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

clockify_cli = AppGroup("clockify", help="Developer tools: simulate Clockify against a running server.")


def replay_on_server(url: str | None, workspace_id: str, since: datetime | None, event_type: str | None) -> None:
    """``flask webhooks replay`` in embedded mode: ask the running server at ``url`` (default: the
    `make dev` one) to replay, since this command's in-memory queue has no worker."""
    import requests

    from ..testkit.developer import target

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
    from ..testkit.developer import target

    return target(current_app, url, api_url, workspace, addon_id)


def _report(where, send, event: str | None = None) -> None:
    """Print the answer on stdout; errors and hints go to stderr."""
    import requests

    from ..testkit.developer import describe, hint

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
    from ..testkit.developer import dev_simulator

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
    from ..testkit.developer import dev_simulator, send_through_sandbox

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
    from ..testkit.developer import dev_simulator

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
    from ..testkit.developer import dev_simulator

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

    from ..testkit.sandbox import Sandbox

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
