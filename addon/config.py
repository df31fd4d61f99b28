"""Settings read from environment variables and validated once, when the app is created.

Every variable the server reads is declared once, in ``VARIABLES``: its name, default,
description and parser (``addon/config_parsers.py``). ``Settings`` has one attribute per entry
(``Variable.attr``), and the table in docs/configuration.md is checked against it by a test.
``read_environ`` gathers the raw strings (a ``.env`` file, then the process environment);
``load_settings`` parses every variable, applies the rules that span several (production), and
returns ``Settings`` or raises ``ConfigError`` listing every bad variable, one line each. Every
entry point (the app factory, ``gunicorn.conf.py``) validates through these two, so they agree
on what is valid.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from . import config_parsers as P
from . import crypto
from .clockify import schemas as contract_schemas
from .config_parsers import ConfigError

ENVIRONMENTS = ("development", "test", "production")
SCHEMA_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6")
ACCESS_LEVELS = ("ADMINS", "EVERYONE")
QUEUE_NAMES = ("high", "default", "bootstrap")
DEFAULT_ALLOWED_API_DOMAINS = "*.clockify.me,clockify.me"
DEFAULT_FRAME_ANCESTORS = "'self' https://*.clockify.me https://clockify.me"
# Development also reaches a fake Clockify on this machine (``make dev``, ``flask clockify fake``).
DEVELOPMENT_API_HOSTS = ("127.0.0.1", "localhost")
FERNET_KEY_COMMAND = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, default (None = no default), meaning, the parser of
    its text (``parse(name, text)``, see ``config_parsers``) and its ``Settings`` attribute
    (the name in lower case unless given)."""

    name: str
    default: str | None
    description: str
    parse: P.Parser = P.text
    attr: str = ""

    @property
    def setting(self) -> str:
        return self.attr or self.name.lower()


VARIABLES: tuple[Variable, ...] = (
    Variable("ADDON_ENV", "production", "`production`, `test` or `development` (`make dev` writes `development` into `.env`).", P.choice(*ENVIRONMENTS), attr="env"),
    Variable("BASE_URL", "http://localhost:5000", "Public URL of this server; the manifest's `baseUrl`. Must be https in production.", P.base_url),
    Variable("ADDON_KEY", "clockify-api-studio", "Manifest `key`; tokens must carry it as `sub`.", P.bounded_text(2, 50)),
    Variable("ADDON_NAME", "API Studio", "Manifest `name` (1-50 characters).", P.bounded_text(1, 50)),
    Variable("DATABASE_URL", None, "SQLAlchemy URL. Default: SQLite file `addon.db` in the instance folder (refused in production). `postgres://` is accepted.", P.database_url),
    Variable("REDIS_URL", None, "Redis for RQ and the rate limiter. Unset in development: embedded fakeredis and an in-process worker. Required in production.", P.redis_url),
    Variable("RQ_QUEUES", "high,default,bootstrap", "Queues `python worker.py` listens on when given no argument, highest priority first.", P.names_among("queues", QUEUE_NAMES)),
    Variable("TOKEN_ENCRYPTION_KEY", None, "Fernet key encrypting stored Clockify tokens; make one with `" + FERNET_KEY_COMMAND + "` and keep it. To rotate, list several separated by commas, newest first (`new,old`): the first encrypts, every one decrypts; `flask tokens reencrypt` then lets the old one go (docs/operations.md). Required in production; generated once into the instance folder otherwise.", P.fernet_keys),
    Variable("REQUIRE_SIGNATURE_VERIFICATION", "true", "Verify token signatures. `false` is refused in production; claims are checked either way.", P.flag),
    Variable("CLOCKIFY_PUBLIC_KEY", None, "PEM text of the key that signs Clockify tokens (overrides the bundled official key).", P.public_key_pem),
    Variable("CLOCKIFY_PUBLIC_KEY_PATH", None, "Path to a PEM file of that key.", P.public_key_file),
    Variable("CLOCKIFY_JWKS_URL", None, "Optional JWKS URL; tokens with a `kid` are then checked against it (Clockify publishes none today).", P.url),
    Variable("CLOCKIFY_ALLOWED_API_DOMAINS", DEFAULT_ALLOWED_API_DOMAINS, "Comma list of hosts (`*.` wildcards, optional `:port`) that outbound calls may reach. In development `127.0.0.1` and `localhost` are allowed too (the fake Clockify of `make dev`).", P.domains, attr="allowed_api_domains"),
    Variable("RATE_LIMIT_RPS", "50", "Clockify requests per second per workspace, shared by every process.", P.whole(1, 10_000)),
    Variable("API_CALL_MAX_PAYLOAD_BYTES", "1048576", "Largest API Studio request body.", P.whole(1, 1 << 30)),
    Variable("WEBHOOK_MAX_PAYLOAD_BYTES", "5242880", "Largest webhook or lifecycle body.", P.whole(1, 1 << 30)),
    Variable("WEBHOOK_REQUEST_MAX_RETRIES", "5", "Retries of an outbound Clockify call on 429, 5xx and connection errors.", P.whole(0, 20)),
    Variable("WEBHOOK_REQUEST_BACKOFF_BASE", "0.5", "Base of the exponential backoff, seconds.", P.number(0.0, 60.0)),
    Variable("WEBHOOK_REQUEST_BACKOFF_CAP", "30", "Longest single backoff wait, seconds.", P.number(0.0, 3600.0)),
    Variable("CLOCKIFY_READ_TIMEOUT", "30", "Seconds to wait for each Clockify answer; a slower one counts as a timeout and is retried.", P.number(0.1, 300.0)),
    Variable("LOG_LEVEL", "INFO", "`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`.", P.choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", upper=True)),
    Variable("LOG_FORMAT", None, "`text` (one plain line per event, on stderr, for a terminal) or `json` (one JSON object per line, on stdout). Default: `text` in development, `json` otherwise.", P.log_format),
    Variable("MANIFEST_SCHEMA_VERSION", "1.3", "Manifest schema version, `1.2` to `1.6`.", P.choice(*SCHEMA_VERSIONS)),
    Variable("MANIFEST_MAX_WEBHOOKS", "20", "Most webhooks the manifest declares; the rest are registered through the API.", P.whole(0, 100)),
    Variable("WEBHOOK_EVENTS", None, "Comma list of event names, or `all`. Default: every event the schema version allows.", P.webhook_events),
    Variable("ADDON_SCOPES", None, "Comma list of scopes to request. Default: all 30.", P.text),
    Variable("STUDIO_ACCESS_LEVEL", "ADMINS", "Who sees the sidebar: `ADMINS` or `EVERYONE`.", P.choice(*ACCESS_LEVELS, upper=True)),
    Variable("STUDIO_ALLOW_INSTALLATION_TOKEN", "false", "Let workspace admins run API Studio calls with the installation token.", P.flag),
    Variable("STUDIO_MAX_PAGES", "50", "Most pages API Studio's *Fetch all pages* requests in one run.", P.whole(1, 1000)),
    Variable("FRAME_ANCESTORS", DEFAULT_FRAME_ANCESTORS, "CSP `frame-ancestors` of the sidebar page.", P.csp_sources),
    Variable("BOOTSTRAP_PAGE_SIZE", "200", "Page size of bootstrap GETs (lowered to the spec's maximum).", P.whole(1, 5000)),
    Variable("BOOTSTRAP_TIME_ENTRIES_DAYS", "30", "How many days of time entries the bootstrap fetches.", P.whole(0, 3650)),
    Variable("BOOTSTRAP_REFRESH_HOURS", "24", "Hours between refreshes of the cached collections no subscribed webhook event keeps fresh (`0`: never).", P.whole(0, 24 * 365)),
    Variable("WEBHOOK_SWEEP_SECONDS", "60", "How often the worker re-enqueues webhook events left unprocessed.", P.whole(1, 86_400)),
    Variable("WEBHOOK_BATCH_LINGER_MS", "500", "How long a job of fresh webhook events waits for more before it ends (`0`: it ends at once).", P.whole(0, 10_000)),
    Variable("WEBHOOK_DEDUPE_WINDOW_SECONDS", "3600", "How long an identical body without an entity id counts as a redelivery.", P.whole(1, 30 * 86_400)),
    Variable("WORKER_MISSING_GRACE_SECONDS", "120", "How long a queue may hold waiting work with no live worker before `/ready` answers 503 and the web process warns.", P.whole(0, 86_400)),
    Variable("METRICS_TOKEN", None, "Bearer token `/metrics` requires in production (at least 16 characters).", P.secret(16)),
    Variable("METRICS_PUBLIC", "false", "`true` serves `/metrics` without a token in production (behind a private network only).", P.flag),
)
# Variables production refuses to start without (``load_settings`` enforces each); app.json asks
# for them and .env.example marks them.
REQUIRED_IN_PRODUCTION = ("BASE_URL", "DATABASE_URL", "REDIS_URL", "TOKEN_ENCRYPTION_KEY")


class Settings:
    """Validated configuration: one read-only attribute per ``VARIABLES`` entry
    (``Variable.setting``), plus ``instance_path``. Build it with ``load_settings``."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_values":  # copy and pickle probe before __init__ ran
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"Settings has no {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to Settings.{name}")

    def __reduce__(self):
        return Settings, (self._values,)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (setting names) applied, unvalidated: for tests."""
        unknown = set(changes) - set(self._values)
        if unknown:
            raise AttributeError(f"Settings has no {sorted(unknown)}")
        return Settings({**self._values, **changes})

    @property
    def embedded_redis(self) -> bool:
        """True when no Redis is configured and the app runs fakeredis with an in-process worker."""
        return self._values["redis_url"] is None

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
    """Parse every variable of ``environ``, then the rules that span several.

    :raise ConfigError: listing every variable that is missing or malformed, one per line.
    """
    problems: list[str] = []
    values: dict[str, Any] = {"instance_path": instance_path}
    for variable in VARIABLES:
        text = environ.get(variable.name)
        text = variable.default if text is None or not text.strip() else text.strip()
        try:
            values[variable.setting] = variable.parse(variable.name, text)
        except ConfigError as error:
            problems.extend(error.lines)
            values[variable.setting] = None
    refused = {line.split()[0] for line in problems}
    # One line per variable: a value already refused is not judged again by the rules.
    problems.extend(line for line in _cross_checks(values, instance_path) if line.split()[0] not in refused)
    if problems:
        raise ConfigError("\n".join(problems))
    return Settings(values)


def _cross_checks(values: dict[str, Any], instance_path: str) -> list[str]:
    """The rules between variables (production's requirements, the scopes of the schema
    version); fills in the database URL and the encryption key left to their defaults."""
    problems = []
    production = values["env"] == "production"
    if production:
        if values["base_url"] and not values["base_url"].startswith("https://"):
            problems.append("BASE_URL must be an https URL in production")
        if values["database_url"] is None or values["database_url"].startswith("sqlite"):
            problems.append("DATABASE_URL must point at PostgreSQL in production (SQLite is refused)")
        if values["redis_url"] is None:
            problems.append("REDIS_URL is required in production")
        if values["token_encryption_key"] is None:
            problems.append(f"TOKEN_ENCRYPTION_KEY is required in production; make one with {FERNET_KEY_COMMAND} "
                            "and set it once (heroku config:set TOKEN_ENCRYPTION_KEY=...)")
        if values["require_signature_verification"] is False:
            problems.append("REQUIRE_SIGNATURE_VERIFICATION cannot be false in production")
    values["log_format"] = log_format(values["log_format"], values["env"])
    if values["env"] == "development":
        values["allowed_api_domains"] = tuple(values["allowed_api_domains"]) + DEVELOPMENT_API_HOSTS
    if values["database_url"] is None:
        values["database_url"] = f"sqlite:///{os.path.join(instance_path, 'addon.db')}"
    if values["token_encryption_key"] is None and values["env"] in ("development", "test"):
        try:
            values["token_encryption_key"] = (crypto.instance_key(instance_path),)
        except OSError as error:
            problems.append(f"TOKEN_ENCRYPTION_KEY is not set and no key can be kept in {instance_path!r} "
                            f"({error.strerror})")
    scopes, version = values["addon_scopes"], values["manifest_schema_version"]
    if scopes is not None and version is not None:
        chosen = P.names("ADDON_SCOPES", scopes)
        unknown = [s for s in chosen if s not in set(contract_schemas.scopes(version))]
        if not chosen or unknown:
            problems.append(f"ADDON_SCOPES names a scope manifest schema {version} does not have: "
                            f"{unknown[0] if unknown else '(empty)'!r}")
        values["addon_scopes"] = chosen
    return problems


def log_format(value: str | None, env: str) -> str:
    """``LOG_FORMAT`` validated, or its default for ``env`` (``text`` in development only).

    :raise ConfigError: for anything but ``text`` or ``json``.
    """
    return P.log_format("LOG_FORMAT", value) or ("text" if env == "development" else "json")


def default_settings() -> Settings:
    """Settings with every variable at its documented default, in development (production
    refuses the defaults' http ``BASE_URL`` and SQLite): the ones the committed
    ``manifest.json`` is generated from (``flask manifest write --defaults``)."""
    with tempfile.TemporaryDirectory() as instance:  # the default settings generate a key file
        return load_settings({"ADDON_ENV": "development"}, instance)
