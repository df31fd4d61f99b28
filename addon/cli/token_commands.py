"""``flask tokens reencrypt``: after ``TOKEN_ENCRYPTION_KEY`` gained a new key in front
(``new,old``), move every stored token to it so the old key can be dropped (docs/operations.md)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

tokens_cli = AppGroup("tokens", help="Manage the stored Clockify tokens' encryption.")


@tokens_cli.command("reencrypt")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Rows re-encrypted per transaction.")
def reencrypt(batch_size: int) -> None:
    """Re-encrypt every stored token with the first TOKEN_ENCRYPTION_KEY key; prints counts only.
    Exits 1 naming the rows (table and id) no key decrypts, which are left untouched."""
    from ..store import encrypted_tokens

    reports = encrypted_tokens.reencrypt(batch_size)
    for report in reports:
        click.echo(f"{report.table}.{report.column}: {report.reencrypted} re-encrypted, {report.current} already "
                   f"under the first key, {len(report.unreadable_ids)} unreadable")
    unreadable = [(report.table, key) for report in reports for key in report.unreadable_ids]
    for table, key in unreadable:
        click.echo(f"unreadable: {table} row {key}", err=True)
    if unreadable:
        raise click.ClickException(
            f"{len(unreadable)} stored tokens are readable with none of the keys: put back the key they were "
            "encrypted with (after the new one) and run this again, or reinstall the add-on on those workspaces")
