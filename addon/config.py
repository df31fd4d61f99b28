"""Settings read from environment variables and validated once, when the app is created.

Every variable the server reads is declared in ``VARIABLES`` (name, default, description); the
table in docs/configuration.md is checked against it by a test. ``read_environ`` gathers the raw
strings (a ``.env`` file, then the process environment); ``load_settings`` turns them into a frozen
``Settings`` or raises ``ConfigError`` naming the first bad variable. Every entry point (the app
factory, ``gunicorn.conf.py``) validates through these two, so they agree on what is valid.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from dotenv import dotenv_values
from redis.connection import parse_url as parse_redis_url

from .clockify import events as contract_events
from .clockify import schemas as contract_schemas
from .clockify.hosts import HostPattern
from .clockify.tokens import load_public_key

ENVIRONMENTS = ("development", "test", "production")
SCHEMA_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6")
ACCESS_LEVELS = ("ADMINS", "EVERYONE")
QUEUE_NAMES = ("high", "default", "bootstrap")
DEFAULT_ALLOWED_API_DOMAINS = "*.clockify.me,clockify.me"
DEFAULT_FRAME_ANCESTORS = "'self' https://*.clockify.me https://clockify.me"


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, default (None = no default) and meaning."""

    name: str
    default: str | None
    description: str


VARIABLES: tuple[Variable, ...] = (
    Variable("ADDON_ENV", "development", "`development`, `test` or `production`."),
    Variable("BASE_URL", "http://localhost:5000", "Public URL of this server; the manifest's `baseUrl`. Must be https in production."),
    Variable("ADDON_KEY", "clockify-api-studio", "Manifest `key`; tokens must carry it as `sub`."),
    Variable("ADDON_NAME", "API Studio", "Manifest `name` (1-50 characters)."),
    Variable("DATABASE_URL", None, "SQLAlchemy URL. Default: SQLite file `addon.db` in the instance folder (refused in production). `postgres://` is accepted."),
    Variable("REDIS_URL", None, "Redis for RQ and the rate limiter. Unset in development: embedded fakeredis and an in-process worker. Required in production."),
    Variable("RQ_QUEUES", "high,default,bootstrap", "Queues `python worker.py` listens on when given no argument, highest priority first."),
    Variable("TOKEN_ENCRYPTION_KEY", None, "Fernet key encrypting stored Clockify tokens. Required in production; generated once into the instance folder otherwise."),
    Variable("REQUIRE_SIGNATURE_VERIFICATION", "true", "Verify token signatures. `false` is refused in production; claims are checked either way."),
    Variable("CLOCKIFY_PUBLIC_KEY", None, "PEM text of the key that signs Clockify tokens (overrides the bundled official key)."),
    Variable("CLOCKIFY_PUBLIC_KEY_PATH", None, "Path to a PEM file of that key."),
    Variable("CLOCKIFY_JWKS_URL", None, "Optional JWKS URL; tokens with a `kid` are then checked against it (Clockify publishes none today)."),
    Variable("CLOCKIFY_ALLOWED_API_DOMAINS", DEFAULT_ALLOWED_API_DOMAINS, "Comma list of hosts (`*.` wildcards, optional `:port`) that outbound calls may reach."),
    Variable("RATE_LIMIT_RPS", "50", "Clockify requests per second per workspace, shared by every process."),
    Variable("API_CALL_MAX_PAYLOAD_BYTES", "1048576", "Largest API Studio request body."),
    Variable("WEBHOOK_MAX_PAYLOAD_BYTES", "5242880", "Largest webhook or lifecycle body."),
    Variable("WEBHOOK_REQUEST_MAX_RETRIES", "5", "Retries of an outbound Clockify call on 429, 5xx and connection errors."),
    Variable("WEBHOOK_REQUEST_BACKOFF_BASE", "0.5", "Base of the exponential backoff, seconds."),
    Variable("WEBHOOK_REQUEST_BACKOFF_CAP", "30", "Longest single backoff wait, seconds."),
    Variable("CLOCKIFY_READ_TIMEOUT", "30", "Seconds to wait for each Clockify answer; a slower one counts as a timeout and is retried."),
    Variable("LOG_LEVEL", "INFO", "`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`."),
    Variable("MANIFEST_SCHEMA_VERSION", "1.3", "Manifest schema version, `1.2` to `1.6`."),
    Variable("MANIFEST_MAX_WEBHOOKS", "20", "Most webhooks the manifest declares; the rest are registered through the API."),
    Variable("WEBHOOK_EVENTS", None, "Comma list of event names, or `all`. Default: every event the schema version allows."),
    Variable("ADDON_SCOPES", None, "Comma list of scopes to request. Default: all 30."),
    Variable("STUDIO_ACCESS_LEVEL", "ADMINS", "Who sees the sidebar: `ADMINS` or `EVERYONE`."),
    Variable("STUDIO_ALLOW_INSTALLATION_TOKEN", "false", "Let workspace admins run API Studio calls with the installation token."),
    Variable("FRAME_ANCESTORS", DEFAULT_FRAME_ANCESTORS, "CSP `frame-ancestors` of the sidebar page."),
    Variable("BOOTSTRAP_PAGE_SIZE", "200", "Page size of bootstrap GETs (lowered to the spec's maximum)."),
    Variable("BOOTSTRAP_TIME_ENTRIES_DAYS", "30", "How many days of time entries the bootstrap fetches."),
    Variable("WEBHOOK_SWEEP_SECONDS", "60", "How often the worker re-enqueues webhook events left unprocessed."),
    Variable("WEBHOOK_BATCH_LINGER_MS", "500", "How long a job of fresh webhook events waits for more before it ends (`0`: it ends at once)."),
)
_BY_NAME = {v.name: v for v in VARIABLES}


class ConfigError(ValueError):
    """A variable is missing or malformed. The message starts with the variable's name."""


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build it with ``load_settings``."""

    env: str
    base_url: str
    addon_key: str
    addon_name: str
    database_url: str
    redis_url: str | None
    rq_queues: tuple[str, ...]
    token_encryption_key: bytes
    require_signature_verification: bool
    clockify_public_key: str | None
    clockify_public_key_path: str | None
    clockify_jwks_url: str | None
    allowed_api_domains: tuple[str, ...]
    rate_limit_rps: int
    api_call_max_payload_bytes: int
    webhook_max_payload_bytes: int
    webhook_request_max_retries: int
    webhook_request_backoff_base: float
    webhook_request_backoff_cap: float
    clockify_read_timeout: float
    log_level: str
    manifest_schema_version: str
    manifest_max_webhooks: int
    webhook_events: tuple[str, ...] | str | None
    addon_scopes: tuple[str, ...] | None
    studio_access_level: str
    studio_allow_installation_token: bool
    frame_ancestors: str
    bootstrap_page_size: int
    bootstrap_time_entries_days: int
    webhook_sweep_seconds: int
    webhook_batch_linger_ms: int
    instance_path: str = field(default="", repr=False)

    @property
    def embedded_redis(self) -> bool:
        """True when no Redis is configured and the app runs fakeredis with an in-process worker."""
        return self.redis_url is None

    def __repr__(self) -> str:  # never print the encryption key
        return f"Settings(env={self.env!r}, base_url={self.base_url!r}, addon_key={self.addon_key!r})"


def read_environ(overrides: Mapping[str, Any] | None = None, directory: str | Path | None = None) -> dict[str, str]:
    """The raw variables: ``.env`` in ``directory`` (the working directory by default), overridden
    by the process environment, overridden by ``overrides`` (a None value removes a variable).
    """
    path = Path(directory or Path.cwd()) / ".env"
    environ = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.is_file() else {}
    environ.update(os.environ)
    for name, value in (overrides or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = str(value)
    return environ


def load_settings(environ: Mapping[str, str], instance_path: str) -> Settings:
    """Validate ``environ`` and return Settings.

    :raise ConfigError: naming the first variable that is missing or malformed.
    """
    raw = {v.name: _value(environ, v.name) for v in VARIABLES}
    env = _choice(raw, "ADDON_ENV", ENVIRONMENTS)
    production = env == "production"

    base_url = _url(raw, "BASE_URL")
    if production and not base_url.startswith("https://"):
        raise ConfigError("BASE_URL must be an https URL in production")

    database_url = _database_url(raw.get("DATABASE_URL"), instance_path)
    if production and database_url.startswith("sqlite"):
        raise ConfigError("DATABASE_URL must point at PostgreSQL in production (SQLite is refused)")

    redis_url = raw.get("REDIS_URL")
    if redis_url is not None:
        _check_redis_url(redis_url)
    if production and redis_url is None:
        raise ConfigError("REDIS_URL is required in production")

    if production and raw.get("TOKEN_ENCRYPTION_KEY") is None:
        raise ConfigError("TOKEN_ENCRYPTION_KEY is required in production")
    key = _fernet_key(raw.get("TOKEN_ENCRYPTION_KEY"), instance_path)

    verify = _bool(raw, "REQUIRE_SIGNATURE_VERIFICATION")
    if production and not verify:
        raise ConfigError("REQUIRE_SIGNATURE_VERIFICATION cannot be false in production")

    key_path = raw.get("CLOCKIFY_PUBLIC_KEY_PATH")
    if key_path is not None:
        try:
            pem = Path(key_path).read_bytes()
        except OSError:
            raise ConfigError(f"CLOCKIFY_PUBLIC_KEY_PATH: no readable file at {key_path!r}") from None
        _check_public_key("CLOCKIFY_PUBLIC_KEY_PATH", pem)
    public_key = raw.get("CLOCKIFY_PUBLIC_KEY")
    if public_key is not None:
        # Dashboards often store a PEM on one line with literal "\\n" separators.
        public_key = public_key.replace("\\n", "\n")
        _check_public_key("CLOCKIFY_PUBLIC_KEY", public_key.encode())
    jwks_url = raw.get("CLOCKIFY_JWKS_URL")
    if jwks_url is not None:
        _url(raw, "CLOCKIFY_JWKS_URL")

    addon_key = raw["ADDON_KEY"]
    if not 2 <= len(addon_key) <= 50:
        raise ConfigError("ADDON_KEY must be 2 to 50 characters")
    addon_name = raw["ADDON_NAME"]
    if not 1 <= len(addon_name) <= 50:
        raise ConfigError("ADDON_NAME must be 1 to 50 characters")

    queues = _list(raw, "RQ_QUEUES")
    unknown = [q for q in queues if q not in QUEUE_NAMES]
    if not queues or unknown:
        raise ConfigError(f"RQ_QUEUES must list queues among {', '.join(QUEUE_NAMES)}")

    schema_version = _choice(raw, "MANIFEST_SCHEMA_VERSION", SCHEMA_VERSIONS)
    events = raw.get("WEBHOOK_EVENTS")
    webhook_events: tuple[str, ...] | str | None
    if events is None:
        webhook_events = None
    elif events.strip().lower() == "all":
        webhook_events = "all"
    else:
        webhook_events = _list(raw, "WEBHOOK_EVENTS")
        unknown = [e for e in webhook_events if not contract_events.is_known(e)]
        if not webhook_events or unknown:
            raise ConfigError(f"WEBHOOK_EVENTS names an unknown event: {unknown[0] if unknown else '(empty)'!r}")

    scopes = None
    if raw.get("ADDON_SCOPES") is not None:
        scopes = _list(raw, "ADDON_SCOPES")
        known = set(contract_schemas.scopes(schema_version))
        unknown = [s for s in scopes if s not in known]
        if not scopes or unknown:
            raise ConfigError(f"ADDON_SCOPES names a scope manifest schema {schema_version} does not have: "
                              f"{unknown[0] if unknown else '(empty)'!r}")

    frame_ancestors = raw["FRAME_ANCESTORS"]
    if not _CSP_SOURCES.match(frame_ancestors) or _CSP_SEPARATORS.search(frame_ancestors):
        raise ConfigError("FRAME_ANCESTORS must be space-separated CSP sources (no ';', ',' or control characters)")

    return Settings(
        env=env,
        base_url=base_url.rstrip("/"),
        addon_key=addon_key,
        addon_name=addon_name,
        database_url=database_url,
        redis_url=redis_url,
        rq_queues=queues,
        token_encryption_key=key,
        require_signature_verification=verify,
        clockify_public_key=public_key,
        clockify_public_key_path=key_path,
        clockify_jwks_url=jwks_url,
        allowed_api_domains=_domains(raw),
        rate_limit_rps=_int(raw, "RATE_LIMIT_RPS", 1, 10_000),
        api_call_max_payload_bytes=_int(raw, "API_CALL_MAX_PAYLOAD_BYTES", 1, 1 << 30),
        webhook_max_payload_bytes=_int(raw, "WEBHOOK_MAX_PAYLOAD_BYTES", 1, 1 << 30),
        webhook_request_max_retries=_int(raw, "WEBHOOK_REQUEST_MAX_RETRIES", 0, 20),
        webhook_request_backoff_base=_float(raw, "WEBHOOK_REQUEST_BACKOFF_BASE", 0.0, 60.0),
        webhook_request_backoff_cap=_float(raw, "WEBHOOK_REQUEST_BACKOFF_CAP", 0.0, 3600.0),
        clockify_read_timeout=_float(raw, "CLOCKIFY_READ_TIMEOUT", 0.1, 300.0),
        log_level=_choice(raw, "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), upper=True),
        manifest_schema_version=schema_version,
        manifest_max_webhooks=_int(raw, "MANIFEST_MAX_WEBHOOKS", 0, 100),
        webhook_events=webhook_events,
        addon_scopes=scopes,
        studio_access_level=_choice(raw, "STUDIO_ACCESS_LEVEL", ACCESS_LEVELS, upper=True),
        studio_allow_installation_token=_bool(raw, "STUDIO_ALLOW_INSTALLATION_TOKEN"),
        frame_ancestors=frame_ancestors,
        bootstrap_page_size=_int(raw, "BOOTSTRAP_PAGE_SIZE", 1, 5000),
        bootstrap_time_entries_days=_int(raw, "BOOTSTRAP_TIME_ENTRIES_DAYS", 0, 3650),
        webhook_sweep_seconds=_int(raw, "WEBHOOK_SWEEP_SECONDS", 1, 86_400),
        webhook_batch_linger_ms=_int(raw, "WEBHOOK_BATCH_LINGER_MS", 0, 10_000),
        instance_path=instance_path,
    )


def _value(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return _BY_NAME[name].default
    return value.strip()


def _choice(raw, name, choices, upper=False) -> str:
    value = raw[name].upper() if upper else raw[name]
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {raw[name]!r})")
    return value


def _bool(raw, name) -> bool:
    value = raw[name].lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false (got {raw[name]!r})")


def _int(raw, name, low, high) -> int:
    try:
        value = int(raw[name])
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw[name]!r})") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high} (got {value})")
    return value


def _float(raw, name, low, high) -> float:
    try:
        value = float(raw[name])
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {raw[name]!r})") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high} (got {value})")
    return value


def _url(raw, name) -> str:
    value = raw[name]
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL (got {value!r})")
    return value


def _list(raw, name) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw[name].split(",") if item.strip())


_DOMAIN = re.compile(r"^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$")


def _domains(raw) -> tuple[str, ...]:
    domains = tuple(d.lower() for d in _list(raw, "CLOCKIFY_ALLOWED_API_DOMAINS"))
    bad = [d for d in domains if not _DOMAIN.match(d) or not _host_pattern_ok(d)]
    if not domains or bad:
        raise ConfigError(f"CLOCKIFY_ALLOWED_API_DOMAINS has an invalid host pattern: {bad[0] if bad else '(empty)'!r}")
    return domains


def _host_pattern_ok(pattern: str) -> bool:
    """True when the outbound host guard accepts ``pattern`` (no trailing dot, no ambiguous
    numeric host): refused here, it names the variable at start-up instead of failing a call."""
    try:
        HostPattern.parse(pattern)
    except ValueError:
        return False
    return True


# A source list is printable ASCII; ';' or ',' would smuggle in other directives or policies.
_CSP_SOURCES = re.compile(r"^[\x21-\x7e ]+$")
_CSP_SEPARATORS = re.compile(r"[;,]")


def _database_url(value: str | None, instance_path: str) -> str:
    if value is None:
        return f"sqlite:///{os.path.join(instance_path, 'addon.db')}"
    scheme = urlsplit(value).scheme
    # Heroku hands out postgres://, which SQLAlchemy no longer accepts; we ship psycopg 3.
    if scheme in ("postgres", "postgresql"):
        value = "postgresql+psycopg://" + value.split("://", 1)[1]
    elif not (scheme.startswith("postgresql+") or scheme.startswith("sqlite")):
        raise ConfigError(f"DATABASE_URL must be a PostgreSQL or SQLite URL (got scheme {scheme!r})")
    # Parse it now so a malformed URL is a configuration error, not a traceback when the engine is
    # built. The URL may hold a password: never echo it.
    try:
        sa.engine.make_url(value).get_dialect().import_dbapi()
    except ImportError:
        raise ConfigError(f"DATABASE_URL names a database driver that is not installed (scheme {scheme!r})") from None
    except Exception:  # SQLAlchemy raises ArgumentError, ValueError or NoSuchModuleError here
        raise ConfigError("DATABASE_URL is not a valid database URL") from None
    return value


def _check_redis_url(value: str) -> None:
    # The URL may hold a password: never echo it.
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
    try:
        parse_redis_url(value)
    except ValueError:
        raise ConfigError("REDIS_URL is not a valid Redis URL (check the port and the database number)") from None
    database = urlsplit(value).path.strip("/")
    if urlsplit(value).scheme != "unix" and database and not database.isdigit():
        raise ConfigError("REDIS_URL must end with a database number, e.g. redis://host:6379/0")


def _check_public_key(name: str, pem: bytes) -> None:
    try:
        load_public_key(pem)
    except ValueError:
        raise ConfigError(f"{name} must be an RSA public key in PEM form (-----BEGIN PUBLIC KEY-----)") from None


def _fernet_key(value: str | None, instance_path: str) -> bytes:
    if value is None:
        return _instance_key(instance_path)
    try:
        if len(base64.urlsafe_b64decode(value.encode())) != 32:
            raise ValueError
    except (ValueError, binascii.Error):
        raise ConfigError("TOKEN_ENCRYPTION_KEY must be a Fernet key (32 url-safe base64-encoded bytes)") from None
    return value.encode()


def _instance_key(instance_path: str) -> bytes:
    """Development/test only: generate a Fernet key once and keep it in the instance folder."""
    try:
        return _read_or_create_key(Path(instance_path) / "token_encryption.key")
    except OSError as error:
        raise ConfigError(f"TOKEN_ENCRYPTION_KEY is not set and no key can be kept in {instance_path!r} "
                          f"({error.strerror})") from None


def _read_or_create_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race; use its key
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)))
    return path.read_bytes().strip()
