"""``flask`` command groups. Each command lives here as a thin wrapper that imports and calls a
function of its area, so the groups are complete once this module is imported."""

from __future__ import annotations

from flask.cli import AppGroup

manifest_cli = AppGroup("manifest", help="Build and write the add-on manifest.")
clockify_cli = AppGroup("clockify", help="Developer tools: simulate Clockify against a running server.")
webhooks_cli = AppGroup("webhooks", help="Replay stored events; retry webhook deregistration.")
bootstrap_cli = AppGroup("bootstrap", help="Run the workspace bootstrap.")


def register_cli(app) -> None:
    """Attach every command group that has commands to ``app``."""
    for group in (manifest_cli, clockify_cli, webhooks_cli, bootstrap_cli):
        if group.commands:
            app.cli.add_command(group)
