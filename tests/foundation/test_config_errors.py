"""A bad or missing configuration value stops every entry point with one line on stderr,
``configuration error: <VARIABLE> ...``, a non-zero exit and no traceback."""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography.fernet import Fernet

from addon import create_app
from addon.config import FERNET_KEY_COMMAND, REQUIRED_IN_PRODUCTION, VARIABLES
from addon.testkit import processes
from addon.testkit.processes import UNREACHABLE_POSTGRES, UNREACHABLE_REDIS

KEY = Fernet.generate_key().decode()
GARBAGE_PEM = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----"

# (variable, bad value) for every variable that has invalid values; each must be refused alone.
BAD_VALUES = [
    ("ADDON_ENV", "staging"),
    ("ADDON_ENV", "PRODUCTION"),
    ("BASE_URL", "addon.example.com"),
    ("BASE_URL", "ftp://addon.example.com"),
    ("BASE_URL", "https://[::1"),
    ("BASE_URL", "https://[zz]/"),
    ("ADDON_KEY", "x"),
    ("ADDON_KEY", "k" * 51),
    ("ADDON_NAME", "n" * 51),
    ("DATABASE_URL", "mysql://user@db/addon"),
    ("DATABASE_URL", "postgresql://user:hunter2@db:notaport/addon"),
    ("DATABASE_URL", "postgresql+nosuchdriver://user@db/addon"),
    ("DATABASE_URL", "postgresql://user:hunter2@[::1/addon"),
    ("REDIS_URL", "http://127.0.0.1:6379/0"),
    ("REDIS_URL", "redis://:hunter2@127.0.0.1:notaport/0"),
    ("REDIS_URL", "redis://127.0.0.1:6379/zero"),
    ("REDIS_URL", "redis://:hunter2@[::1:6379/0"),
    ("RQ_QUEUES", "high,urgent"),
    ("RQ_QUEUES", ","),
    ("TOKEN_ENCRYPTION_KEY", "not-a-fernet-key"),
    ("REQUIRE_SIGNATURE_VERIFICATION", "maybe"),
    ("CLOCKIFY_PUBLIC_KEY", "not a pem"),
    ("CLOCKIFY_PUBLIC_KEY", GARBAGE_PEM),
    ("CLOCKIFY_PUBLIC_KEY_PATH", "/no/such/key.pem"),
    ("CLOCKIFY_PUBLIC_KEY_PATH", __file__),
    ("CLOCKIFY_JWKS_URL", "not a url"),
    ("CLOCKIFY_JWKS_URL", "https://[::1/jwks"),
    ("CLOCKIFY_ALLOWED_API_DOMAINS", "api.clockify.me,bad host/"),
    ("CLOCKIFY_ALLOWED_API_DOMAINS", ","),
    ("RATE_LIMIT_RPS", "fast"),
    ("RATE_LIMIT_RPS", "0"),
    ("API_CALL_MAX_PAYLOAD_BYTES", "-1"),
    ("WEBHOOK_MAX_PAYLOAD_BYTES", "5MB"),
    ("WEBHOOK_REQUEST_MAX_RETRIES", "21"),
    ("WEBHOOK_REQUEST_BACKOFF_BASE", "soon"),
    ("WEBHOOK_REQUEST_BACKOFF_BASE", "-0.5"),
    ("WEBHOOK_REQUEST_BACKOFF_CAP", "nan"),
    ("CLOCKIFY_READ_TIMEOUT", "0"),
    ("CLOCKIFY_READ_TIMEOUT", "forever"),
    ("LOG_LEVEL", "LOUD"),
    ("LOG_FORMAT", "yaml"),
    ("MANIFEST_SCHEMA_VERSION", "2.0"),
    ("MANIFEST_MAX_WEBHOOKS", "101"),
    ("WEBHOOK_EVENTS", "NEW_TIME_ENTRY,NOT_AN_EVENT"),
    ("ADDON_SCOPES", "CLIENT_READ,EVERYTHING"),
    ("STUDIO_ACCESS_LEVEL", "OWNERS"),
    ("STUDIO_ALLOW_INSTALLATION_TOKEN", "sometimes"),
    ("STUDIO_MAX_PAGES", "0"),
    ("FRAME_ANCESTORS", "'self'; script-src *"),
    ("BOOTSTRAP_PAGE_SIZE", "0"),
    ("BOOTSTRAP_TIME_ENTRIES_DAYS", "-1"),
    ("BOOTSTRAP_REFRESH_HOURS", "-1"),
    ("BOOTSTRAP_REFRESH_HOURS", "daily"),
    ("WEBHOOK_SWEEP_SECONDS", "0"),
    ("WEBHOOK_BATCH_LINGER_MS", "-1"),
    ("METRICS_TOKEN", "short"),
    ("METRICS_PUBLIC", "maybe"),
    ("WEBHOOK_DEDUPE_WINDOW_SECONDS", "0"),
    ("WEBHOOK_DEDUPE_WINDOW_SECONDS", "an hour"),
    ("WORKER_MISSING_GRACE_SECONDS", "-1"),
    ("WORKER_MISSING_GRACE_SECONDS", "2m"),
]

# Production refusals: exactly the required variables, with one of them missing or wrong.
PRODUCTION = {
    "ADDON_ENV": "production",
    "BASE_URL": "https://addon.example.com",
    "DATABASE_URL": UNREACHABLE_POSTGRES,
    "REDIS_URL": UNREACHABLE_REDIS,
    "TOKEN_ENCRYPTION_KEY": KEY,
}
PRODUCTION_REFUSALS = [
    ("BASE_URL", "http://addon.example.com"),
    ("BASE_URL", None),  # the default, http://localhost:5000
    ("DATABASE_URL", "sqlite:////tmp/addon.db"),
    ("DATABASE_URL", None),  # the default, SQLite in the instance folder
    ("REDIS_URL", None),
    ("TOKEN_ENCRYPTION_KEY", None),
    ("REQUIRE_SIGNATURE_VERIFICATION", "false"),
]


def _variables(case: tuple[str, str | None], production: bool) -> dict[str, str | None]:
    name, value = case
    base = dict(PRODUCTION) if production else {"ADDON_ENV": "test", "TOKEN_ENCRYPTION_KEY": KEY,
                                                 "REDIS_URL": UNREACHABLE_REDIS}
    base[name] = value
    return base


def _assert_one_config_line(stderr: str, variable: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert re.match(rf"^configuration error: {variable}\b", lines[0]), lines[0]
    assert "Traceback" not in stderr


def test_the_required_in_production_tuple_is_what_production_refuses_to_start_without():
    """app.json and .env.example are generated from ``REQUIRED_IN_PRODUCTION``: it must name
    exactly the variables whose absence production refuses (the cases above prove each)."""
    assert set(REQUIRED_IN_PRODUCTION) == {name for name, value in PRODUCTION_REFUSALS if value is None}
    assert set(REQUIRED_IN_PRODUCTION) | {"ADDON_ENV"} == set(PRODUCTION)


def test_every_variable_has_a_bad_value_case():
    assert {name for name, _ in BAD_VALUES} == {v.name for v in VARIABLES}


@pytest.mark.parametrize("case", BAD_VALUES, ids=lambda c: f"{c[0]}={c[1]}")
def test_create_app_refuses_a_bad_value(bare_environ, case):
    with pytest.raises(SystemExit) as raised:
        create_app(_variables(case, production=False))
    _assert_one_config_line(str(raised.value.code), case[0])


@pytest.mark.parametrize("case", PRODUCTION_REFUSALS, ids=lambda c: f"{c[0]}={c[1]}")
def test_create_app_refuses_production_without_what_it_requires(bare_environ, case):
    with pytest.raises(SystemExit) as raised:
        create_app(_variables(case, production=True))
    _assert_one_config_line(str(raised.value.code), case[0])


def test_production_messages_say_what_is_wrong(bare_environ):
    expected = {
        ("BASE_URL", "http://addon.example.com"): "BASE_URL must be an https URL in production",
        ("REDIS_URL", None): "REDIS_URL is required in production",
        ("TOKEN_ENCRYPTION_KEY", None): f"TOKEN_ENCRYPTION_KEY is required in production; make one with "
        f"{FERNET_KEY_COMMAND} and set it once (heroku config:set TOKEN_ENCRYPTION_KEY=...)",
        ("REQUIRE_SIGNATURE_VERIFICATION", "false"): "REQUIRE_SIGNATURE_VERIFICATION cannot be false in production",
    }
    for case, message in expected.items():
        with pytest.raises(SystemExit) as raised:
            create_app(_variables(case, production=True))
        assert raised.value.code == f"configuration error: {message}"


@pytest.mark.parametrize("variable, value", [
    ("DATABASE_URL", "postgresql://user:hunter2@db:notaport/addon"),
    ("REDIS_URL", "redis://:hunter2@127.0.0.1:notaport/0"),
    ("DATABASE_URL", "postgresql://user:hunter2@[::1/addon"),
    ("REDIS_URL", "redis://:hunter2@[::1:6379/0"),
    ("TOKEN_ENCRYPTION_KEY", "hunter2-is-not-a-fernet-key"),
])
def test_errors_never_echo_secrets(bare_environ, variable, value):
    with pytest.raises(SystemExit) as raised:
        create_app(_variables((variable, value), production=False))
    assert "hunter2" not in str(raised.value.code)


def test_production_starts_with_exactly_the_required_variables(bare_environ):
    app = create_app(PRODUCTION)
    settings = app.config["SETTINGS"]
    assert settings.env == "production" and settings.require_signature_verification
    assert app.test_client().get("/health").status_code == 200


def test_an_override_of_none_unsets_a_variable(bare_environ, monkeypatch):
    monkeypatch.setenv("REDIS_URL", UNREACHABLE_REDIS)
    with pytest.raises(SystemExit) as raised:
        create_app({**PRODUCTION, "REDIS_URL": None})
    assert raised.value.code == "configuration error: REDIS_URL is required in production"


def test_dotenv_in_the_working_directory_is_read(bare_environ):
    (bare_environ / ".env").write_text(f"RATE_LIMIT_RPS=7\nTOKEN_ENCRYPTION_KEY={KEY}\n")
    app = create_app({"ADDON_ENV": "test", "REDIS_URL": UNREACHABLE_REDIS, "DATABASE_URL": "sqlite://"})
    assert app.config["SETTINGS"].rate_limit_rps == 7


def test_environment_wins_over_dotenv(bare_environ, monkeypatch):
    (bare_environ / ".env").write_text("RATE_LIMIT_RPS=7\n")
    monkeypatch.setenv("RATE_LIMIT_RPS", "9")
    app = create_app({"ADDON_ENV": "test", "REDIS_URL": UNREACHABLE_REDIS, "DATABASE_URL": "sqlite://",
                      "TOKEN_ENCRYPTION_KEY": KEY})
    assert app.config["SETTINGS"].rate_limit_rps == 9


# The entry points as real processes. Each case runs in every one of them, in parallel.
ENTRY_POINTS = {
    "create_app": (),
    "flask": ("db", "upgrade"),
    "worker": (),
    "gunicorn": (),
}
# Every production refusal (the defaults' variants are covered in-process) and two bad values that
# used to escape as tracebacks from deeper in the start-up.
PROCESS_CASES = [(*case, True) for case in PRODUCTION_REFUSALS if case[1] is not None or case[0] not in
                 ("BASE_URL", "DATABASE_URL")] + [
    ("DATABASE_URL", "postgresql://user:hunter2@db:notaport/addon", False),
    ("CLOCKIFY_PUBLIC_KEY", GARBAGE_PEM, False),
]


@pytest.fixture(scope="module")
def process_results(tmp_path_factory):
    """Runs every (entry point, case) once, four processes at a time."""
    cwd = tmp_path_factory.mktemp("no-dotenv")

    def run(entry_point, case):
        variables = _variables(case[:2], production=case[2])
        variables["PORT"] = str(processes.free_port())  # in case gunicorn starts after all
        try:
            return processes.run(entry_point, variables, cwd, *ENTRY_POINTS[entry_point], timeout=60)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess([], -1, "", "still running after 60 s")

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {(e, c): pool.submit(run, e, c) for e in ENTRY_POINTS for c in PROCESS_CASES}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("entry_point", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", PROCESS_CASES, ids=lambda c: f"{c[0]}={c[1]}{' (production)' if c[2] else ''}")
def test_entry_point_stops_with_one_line(process_results, entry_point, case):
    result = process_results[(entry_point, case)]
    assert result.returncode not in (0, -1), result.stderr
    _assert_one_config_line(result.stderr, case[0])


@pytest.mark.slow
@pytest.mark.parametrize("entry_point", ["gunicorn", "worker"])
def test_bad_value_in_dotenv_stops_the_process(tmp_path, entry_point):
    """gunicorn validates what the app will read, ``.env`` included, instead of booting workers
    that die one after another."""
    (tmp_path / ".env").write_text("RATE_LIMIT_RPS=fast\n")
    variables = {"ADDON_ENV": "test", "TOKEN_ENCRYPTION_KEY": KEY, "REDIS_URL": UNREACHABLE_REDIS,
                 "PORT": str(processes.free_port())}
    result = processes.run(entry_point, variables, tmp_path, timeout=30)
    assert result.returncode != 0
    _assert_one_config_line(result.stderr, "RATE_LIMIT_RPS")


@pytest.mark.slow
def test_gunicorn_starts_in_production_with_exactly_the_required_variables(tmp_path, base_overrides):
    # base_overrides: the session's database exists (created empty) even when this test runs first.
    database_url = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    database_ok = database_url.startswith("postgres")
    port = processes.free_port()
    variables = {**PRODUCTION, "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
                 "PORT": str(port), "DATABASE_URL": database_url if database_ok else UNREACHABLE_POSTGRES}
    server = processes.start("gunicorn", variables, tmp_path)
    try:
        health = processes.wait_for_http(f"http://127.0.0.1:{port}/health", server)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        assert health.headers["Strict-Transport-Security"].startswith("max-age=")
        checks = requests.get(f"http://127.0.0.1:{port}/ready", timeout=10).json()["checks"]
        assert checks["redis"] == "ok"
        assert (checks["database"] == "ok") if database_ok else checks["database"].startswith("unavailable")
    finally:
        assert processes.stop(server) == 0
