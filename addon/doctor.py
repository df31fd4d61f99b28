"""``flask doctor``: a checklist an operator runs on a one-off dyno (``heroku run flask doctor``).

One ``Finding`` per item, in this order: configuration, database and migrations, Redis, workers
per queue, ``BASE_URL``, manifest, Clockify public key, clock against the database's, installations
by status, stored tokens against ``TOKEN_ENCRYPTION_KEY``, backlog. Each line says ``ok`` or
``PROBLEM``, what was found and, for a problem, how to fix it; the command exits 0 only when
every item is ok.

When the configuration itself does not load, ``flask`` cannot build the app and stops with the
``configuration error: <VARIABLE> ...`` line; ``python -m addon.doctor`` prints the same
checklist and turns that into the configuration item's problem line.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import jwt
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives import serialization
from flask import current_app

from . import auth, jobs_health
from .clockify import manifest as addon_manifest
from .clockify.tokens import BUNDLED_PUBLIC_KEY, load_public_key
from .crypto import current_cipher
from .extensions import db
from .models import Installation, InstallationStatus, WebhookEvent
from .queueing import PRIORITY_ORDER, get_redis
from .store import encrypted_tokens
from .store.webhook_events import EventStatus

CLOCK_TOLERANCE_SECONDS = 30
SCALE_HINT = jobs_health.SCALE_HINT


@dataclass(frozen=True)
class Finding:
    """The verdict on one item: ``detail`` says what was found, ``fix`` how to mend a problem."""

    item: str
    ok: bool
    detail: str
    fix: str | None = None

    def line(self) -> str:
        """The checklist line."""
        text = f"{'ok' if self.ok else 'PROBLEM':<8} {self.item:<13} {self.detail}"
        return text if self.fix is None else f"{text} -> fix: {self.fix}"


def run_checks(clock: Callable[[], float] = time.time,
               build_manifest: Callable = addon_manifest.build_manifest) -> list[Finding]:
    """Every item's finding, for the current app (in an app context); never raises.

    :param clock: this machine's clock (seconds since the epoch), compared with the database's.
    :param build_manifest: how the manifest is built from the settings.
    """
    settings = current_app.config["SETTINGS"]
    checks = (
        lambda: check_configuration(settings),
        check_database,
        check_redis,
        lambda: check_workers(settings),
        lambda: check_base_url(settings, build_manifest),
        lambda: check_manifest(settings, build_manifest),
        lambda: check_public_key(settings),
        lambda: check_clock(clock),
        check_installations,
        check_tokens,
        lambda: check_backlog(settings),
    )
    findings = []
    for check in checks:
        findings.append(check())
        db.session.rollback()  # a failed read must not poison the next item's
    return findings


def check_configuration(settings) -> Finding:
    """The configuration loaded (the app could not exist otherwise): say which environment it is."""
    return Finding("configuration", True, f"loads (ADDON_ENV={settings.env}, BASE_URL={settings.base_url})")


def check_database() -> Finding:
    """The database answers and its schema is at the migrations' head."""
    migration_log = logging.getLogger("alembic.runtime.migration")
    level = migration_log.level
    migration_log.setLevel(logging.WARNING)  # its "Context impl ..." lines would split the checklist
    try:
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except sa.exc.SQLAlchemyError as error:
        return Finding("database", False, f"unreachable ({type(error).__name__})",
                       "check DATABASE_URL and that the PostgreSQL add-on is up")
    finally:
        migration_log.setLevel(level)
    config = current_app.extensions["migrate"].migrate.get_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    if current != heads:
        return Finding("database", False,
                       f"schema at revision {_revisions(current)}, the code expects {_revisions(heads)}",
                       "flask db upgrade (the Procfile's release phase runs it on every deploy)")
    return Finding("database", True, f"reachable, migrations at head ({_revisions(heads)})")


def _revisions(revisions: set[str]) -> str:
    return ", ".join(sorted(revisions)) or "none"


def check_redis() -> Finding:
    """Redis answers PING."""
    if current_app.config["SETTINGS"].embedded_redis:
        return Finding("redis", True, "embedded in-memory Redis (development without REDIS_URL)")
    try:
        get_redis().ping()
    except Exception as error:  # any failure to reach Redis is the finding
        return Finding("redis", False, f"unreachable ({type(error).__name__})",
                       "check REDIS_URL and that the Redis add-on is up")
    return Finding("redis", True, "reachable")


def check_workers(settings) -> Finding:
    """Every queue has a live worker."""
    if settings.embedded_redis:
        return Finding("workers", True, "embedded mode: the web process runs every queue's jobs itself")
    health = jobs_health.snapshot(max_age=0)
    if health.redis_error:
        return Finding("workers", False, f"cannot count them (Redis: {health.redis_error})",
                       "make Redis reachable first")
    counts = ", ".join(f"{name} {health.queues[name].workers}" for name in PRIORITY_ORDER)
    missing = [name for name in PRIORITY_ORDER if not health.queues[name].workers]
    if missing:
        return Finding("workers", False, f"no live worker on queue {', '.join(missing)} (live workers: {counts})",
                       f"{SCALE_HINT}; `python worker.py` listens on RQ_QUEUES")
    return Finding("workers", True, f"live workers per queue: {counts}")


def check_base_url(settings, build_manifest) -> Finding:
    """``BASE_URL`` is a public https URL, and the manifest states it as ``baseUrl``."""
    parts = urlsplit(settings.base_url)
    if parts.scheme != "https":
        return Finding("base_url", False, f"{settings.base_url} is not https (Clockify calls https URLs only)",
                       "set BASE_URL to the app's public https URL, e.g. https://<app>.herokuapp.com")
    if _is_local(parts.hostname or ""):
        return Finding("base_url", False, f"{settings.base_url} names this machine; Clockify cannot reach it",
                       "set BASE_URL to the app's public https URL")
    stated = build_manifest(settings).get("baseUrl")
    if stated != settings.base_url:
        return Finding("base_url", False, f"the manifest states baseUrl {stated!r}, BASE_URL is {settings.base_url}",
                       "regenerate the manifest from this configuration")
    return Finding("base_url", True, f"{settings.base_url} (https, the manifest's baseUrl)")


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_unspecified


def check_manifest(settings, build_manifest) -> Finding:
    """The manifest validates against the official schema of its ``schemaVersion``."""
    try:
        built = build_manifest(settings)
        addon_manifest.validate_manifest(built)
    except ValueError as error:  # ManifestError, or a selection the contract does not know
        return Finding("manifest", False, str(error)[:500],
                       "fix the variables it names (WEBHOOK_EVENTS, ADDON_SCOPES, ADDON_KEY...) or "
                       "MANIFEST_SCHEMA_VERSION")
    plan = addon_manifest.webhook_plan(settings)
    return Finding("manifest", True, f"valid for schema {built['schemaVersion']} ({len(plan.declared)} webhooks "
                                     f"declared, {len(plan.via_api)} registered through the API)")


def check_public_key(settings) -> Finding:
    """The key that verifies Clockify's tokens is loaded, and signatures are checked."""
    verifier = auth.verifier()
    if not verifier.public_keys:
        return Finding("public_key", False, "no public key loaded", "set CLOCKIFY_PUBLIC_KEY or unset it to use "
                                                                    "the bundled official key")
    if not verifier.verify_signature:
        return Finding("public_key", False, "token signatures are not verified",
                       "set REQUIRE_SIGNATURE_VERIFICATION=true")
    if verifier.jwks_client is not None:
        try:
            verifier.jwks_client.get_jwk_set()
        except jwt.PyJWKClientError as error:
            return Finding("public_key", False, f"CLOCKIFY_JWKS_URL does not answer with keys ({type(error).__name__})",
                           "fix CLOCKIFY_JWKS_URL or unset it")
    source = ("CLOCKIFY_PUBLIC_KEY" if settings.clockify_public_key else
              "CLOCKIFY_PUBLIC_KEY_PATH" if settings.clockify_public_key_path else "the bundled official key")
    fingerprint = _fingerprint(verifier.public_keys[0])
    official = fingerprint == _fingerprint(load_public_key(BUNDLED_PUBLIC_KEY.read_bytes()))
    note = "" if official or source == "the bundled official key" else ", not the bundled official key"
    return Finding("public_key", True, f"loaded from {source} (sha256 {fingerprint}{note})")


def _fingerprint(key) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def check_clock(clock: Callable[[], float]) -> Finding:
    """This machine's clock is within ``CLOCK_TOLERANCE_SECONDS`` of the database's (token ``exp``
    and ``iat`` checks depend on it)."""
    try:
        database_now = _database_time()
    except sa.exc.SQLAlchemyError as error:
        return Finding("clock", False, f"cannot read the database's clock ({type(error).__name__})",
                       "make the database reachable first")
    skew = clock() - database_now
    if abs(skew) > CLOCK_TOLERANCE_SECONDS:
        return Finding("clock", False, f"{skew:+.0f} s from the database's clock (tolerance "
                                       f"{CLOCK_TOLERANCE_SECONDS} s): token expiry checks will misjudge",
                       "synchronise this machine's clock (NTP)")
    return Finding("clock", True, f"{skew:+.1f} s from the database's clock")


def _database_time() -> float:
    if db.engine.dialect.name == "postgresql":
        value = db.session.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    else:  # SQLite: UTC text, whole seconds
        text = db.session.execute(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        value = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return value.timestamp()


def check_installations() -> Finding:
    """How many installations there are in each status (information; a problem only when unreadable)."""
    try:
        rows = db.session.execute(
            sa.select(Installation.status, sa.func.count()).group_by(Installation.status)).all()
    except sa.exc.SQLAlchemyError as error:
        return Finding("installations", False, f"cannot read them ({type(error).__name__})",
                       "make the database reachable and migrated first")
    counts = dict(rows)
    order = [s.value for s in InstallationStatus] + sorted(set(counts) - {s.value for s in InstallationStatus})
    return Finding("installations", True, ", ".join(f"{counts.get(s, 0)} {s}" for s in order))


def check_tokens() -> Finding:
    """A stored token of each kind, if any, decrypts with the ``TOKEN_ENCRYPTION_KEY`` keys."""
    keys = current_cipher().key_count
    try:
        tried, unreadable = encrypted_tokens.probe()
    except sa.exc.SQLAlchemyError as error:
        return Finding("tokens", False, f"cannot read them ({type(error).__name__})",
                       "make the database reachable and migrated first")
    held = f"TOKEN_ENCRYPTION_KEY ({keys} key{'s' if keys > 1 else ''})"
    if unreadable:
        return Finding("tokens", False, f"a stored token ({unreadable}) does not decrypt with {held}",
                       "put the previous key back after the new one (TOKEN_ENCRYPTION_KEY=new,old), then run "
                       "flask tokens reencrypt; or reinstall the add-on on the workspaces it names")
    return Finding("tokens", True, f"a stored token decrypts with {held}" if tried else "no stored token to check")


def check_backlog(settings) -> Finding:
    """No webhook event has waited beyond the grace period and no queue is stalled."""
    health = jobs_health.snapshot(max_age=0)
    if health.database_error:
        return Finding("backlog", False, f"cannot read the webhook events ({health.database_error})",
                       "make the database reachable and migrated first")
    waiting = db.session.execute(sa.select(sa.func.count()).where(
        WebhookEvent.status == EventStatus.RECEIVED.value)).scalar_one()
    depths = ", ".join(f"{name} {q.depth if q.depth is not None else '?'}" for name, q in health.queues.items())
    oldest = health.oldest_unprocessed_webhook_seconds
    detail = (f"{waiting} webhook events waiting" + ("" if oldest is None else f", the oldest for {oldest:.0f} s")
              + f"; queue depths: {depths}")
    if health.stalled:
        return Finding("backlog", False, f"{detail}; no live worker on queue {', '.join(health.stalled)}", SCALE_HINT)
    if oldest is not None and oldest > settings.worker_missing_grace_seconds:
        return Finding("backlog", False, f"{detail}: the workers are not keeping up",
                       "add worker processes (heroku ps:scale worker=N; docs/operations.md, capacity)")
    return Finding("backlog", True, detail)


def report(findings: list[Finding]) -> tuple[str, int]:
    """The checklist text and the exit code (0 only when every item is ok)."""
    return "\n".join(f.line() for f in findings), 0 if all(f.ok for f in findings) else 1


def main() -> int:
    """``python -m addon.doctor``: the checklist, also when the configuration does not load."""
    from . import create_app

    try:
        app = create_app()
    except SystemExit as error:
        # One problem line per variable, as the configuration error lists them.
        for line in str(error.code).splitlines():
            message = line.removeprefix("configuration error: ")
            print(Finding("configuration", False, message, "set the variable it names (docs/configuration.md)").line())
        return 1
    with app.app_context():
        text, code = report(run_checks())
    print(text)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
