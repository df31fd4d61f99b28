"""``flask`` commands: ``register_cli`` attaches every group to the app.

``deployment_commands`` holds the commands run against a deployment (doctor, manifest, webhooks,
bootstrap); ``token_commands`` the re-encryption of stored tokens after a key rotation;
``dev_commands`` the development tools (``flask clockify simulate``/``fake``).
"""

from __future__ import annotations

from flask import Flask

from .deployment_commands import bootstrap_cli, doctor, manifest_cli, webhooks_cli
from .dev_commands import clockify_cli
from .token_commands import tokens_cli


def register_cli(app: Flask) -> None:
    """Attach ``doctor`` and every command group to ``app``."""
    app.cli.add_command(doctor)
    for group in (manifest_cli, clockify_cli, webhooks_cli, bootstrap_cli, tokens_cli):
        app.cli.add_command(group)
