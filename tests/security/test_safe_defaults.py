"""Safe by default (issue #11 item 6): an unset ``ADDON_ENV`` is production, every production
configuration error is listed at once, ``/metrics`` is closed in production, and DELETED erases
the stored tokens while their digests still tell a late delivery (410) from a forgery (401)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from addon import create_app
from addon.config import VARIABLES, ConfigError, load_settings
from addon.extensions import db
from addon.testkit import processes
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator

KEY = Fernet.generate_key().decode()
METRICS_TOKEN = "scrape-me-please-0123456789"
REQUIRED_IN_PRODUCTION = ("BASE_URL", "DATABASE_URL", "REDIS_URL", "TOKEN_ENCRYPTION_KEY")


def _problem_variables(lines: list[str]) -> list[str]:
    return [re.match(r"^configuration error: ([A-Z_]+)\b", line).group(1) for line in lines]


def test_unset_addon_env_means_production(tmp_path):
    settings = load_settings({"BASE_URL": "https://a.example.com", "DATABASE_URL": processes.UNREACHABLE_POSTGRES,
                              "REDIS_URL": processes.UNREACHABLE_REDIS, "TOKEN_ENCRYPTION_KEY": KEY}, str(tmp_path))
    assert settings.env == "production"


def test_the_default_of_addon_env_is_production():
    assert {v.name: v.default for v in VARIABLES}["ADDON_ENV"] == "production"


@pytest.mark.parametrize(("given", "expected"), [
    ({}, REQUIRED_IN_PRODUCTION),
    ({"BASE_URL": "http://a.example.com"}, REQUIRED_IN_PRODUCTION),
    ({"BASE_URL": "https://a.example.com", "REQUIRE_SIGNATURE_VERIFICATION": "false"},
     ("DATABASE_URL", "REDIS_URL", "TOKEN_ENCRYPTION_KEY", "REQUIRE_SIGNATURE_VERIFICATION")),
    ({"RATE_LIMIT_RPS": "fast", "LOG_LEVEL": "LOUD", "DATABASE_URL": "mysql://x/y", "TOKEN_ENCRYPTION_KEY": "nope"},
     ("BASE_URL", "DATABASE_URL", "REDIS_URL", "TOKEN_ENCRYPTION_KEY", "RATE_LIMIT_RPS", "LOG_LEVEL")),
    ({"ADDON_ENV": "test", "RATE_LIMIT_RPS": "0", "WEBHOOK_EVENTS": "NOPE", "METRICS_TOKEN": "short",
      "METRICS_PUBLIC": "maybe", "FRAME_ANCESTORS": "a;b"},
     ("RATE_LIMIT_RPS", "WEBHOOK_EVENTS", "FRAME_ANCESTORS", "METRICS_TOKEN", "METRICS_PUBLIC")),
], ids=["nothing", "http base url", "no signature checks", "many bad values", "test environment"])
def test_every_configuration_error_is_listed_at_once(tmp_path, given, expected):
    with pytest.raises(ConfigError) as raised:
        load_settings(given, str(tmp_path))
    assert sorted(_problem_variables(raised.value.report().splitlines())) == sorted(expected)


@pytest.mark.slow
@pytest.mark.parametrize("entry_point", ["create_app", "gunicorn"])
def test_a_process_started_with_nothing_lists_what_production_needs_and_exits(tmp_path, entry_point):
    result = processes.run(entry_point, {"PORT": str(processes.free_port())}, tmp_path, timeout=60)
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert sorted(_problem_variables(lines)) == sorted(REQUIRED_IN_PRODUCTION), result.stderr
    assert "Traceback" not in result.stderr


def test_make_dev_writes_development_into_a_missing_env_file():
    makefile = (processes.ROOT / "Makefile").read_text()
    dev = makefile[makefile.index("\ndev:"):makefile.index("\ntest:")]
    assert '[ -f .env ] || { echo "ADDON_ENV=development" > .env' in dev
    assert dev.index("ADDON_ENV=development") < dev.index("flask db upgrade")


# -- /metrics -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def production_app(base_overrides):
    def build(**variables):
        return create_app({**base_overrides, "ADDON_ENV": "production", "BASE_URL": "https://a.example.com",
                           "DATABASE_URL": processes.UNREACHABLE_POSTGRES, **variables})
    return build


@pytest.mark.parametrize(("variables", "authorization", "status"), [
    ({}, None, 401),
    ({}, "Bearer anything-at-all-long-enough", 401),
    ({"METRICS_TOKEN": METRICS_TOKEN}, None, 401),
    ({"METRICS_TOKEN": METRICS_TOKEN}, "Bearer wrong-token-of-some-length", 401),
    ({"METRICS_TOKEN": METRICS_TOKEN}, f"Bearer {METRICS_TOKEN[:-1]}", 401),
    ({"METRICS_TOKEN": METRICS_TOKEN}, f"Bearer {METRICS_TOKEN}x", 401),
    ({"METRICS_TOKEN": METRICS_TOKEN}, f"Basic {METRICS_TOKEN}", 401),
    ({"METRICS_TOKEN": METRICS_TOKEN}, METRICS_TOKEN, 401),
    ({"METRICS_TOKEN": METRICS_TOKEN}, "Bearer ", 401),
    ({"METRICS_TOKEN": METRICS_TOKEN}, f"Bearer {METRICS_TOKEN}", 200),
    ({"METRICS_TOKEN": METRICS_TOKEN}, f"bearer {METRICS_TOKEN}", 200),
    ({"METRICS_PUBLIC": "true"}, None, 200),
    ({"METRICS_PUBLIC": "false"}, None, 401),
])
def test_metrics_in_production(production_app, variables, authorization, status):
    client = production_app(**variables).test_client()
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.get_json()["check"] == "metrics_token"
        assert METRICS_TOKEN not in response.get_data(as_text=True)
    else:
        assert "addon_" in response.get_data(as_text=True)


def test_metrics_stay_open_outside_production(client):
    assert client.get("/metrics").status_code == 200


# -- DELETED erases tokens ----------------------------------------------------------------------

EVENT = "NEW_TIME_ENTRY"


@pytest.fixture
def uninstalled(app, signer):
    kit = ClockifySimulator(signer, FlaskTransport(app.test_client()))
    installed = kit.install("ws-erase-1", events=[EVENT])
    assert installed.reply.status_code == 200
    assert kit.uninstall("ws-erase-1").status_code == 200
    return kit, installed


def test_deleted_erases_the_installation_and_webhook_tokens_and_keeps_their_digests(app, uninstalled):
    with app.app_context():
        installation = db.session.execute(sa.text(
            "SELECT installation_token, installation_token_digest FROM installations")).one()
        hooks = db.session.execute(sa.text("SELECT token, token_digest FROM installation_webhooks")).all()
    assert installation.installation_token is None and len(installation.installation_token_digest) == 64
    assert hooks and all(row.token is None and len(row.token_digest) == 64 for row in hooks)


def test_a_late_delivery_is_410_and_a_forgery_401_after_deleted(app, signer, uninstalled):
    kit, installed = uninstalled
    late = kit.send_webhook(EVENT, workspace_id="ws-erase-1")
    assert late.status_code == 410
    forged = kit.send_webhook(EVENT, workspace_id="ws-erase-1",
                              token=signer.webhook_token("ws-erase-1", installed.addon_id, jti="forged"))
    assert forged.status_code == 401 and forged.json()["check"] == "webhook_token"


def test_the_erased_installation_token_is_still_recognised_and_refused(app, base_overrides, uninstalled):
    _, installed = uninstalled
    headers = {"Authorization": f"Bearer {installed.auth_token}"}
    assert app.test_client().get("/ui/session", headers=headers).get_json()["check"] == "token_kind"
    allowing = create_app({**base_overrides, "STUDIO_ALLOW_INSTALLATION_TOKEN": "true"})
    assert allowing.test_client().get("/ui/session", headers=headers).status_code == 410


def test_a_repeated_deleted_keeps_the_tokens_erased(app, uninstalled):
    kit, _ = uninstalled
    assert kit.uninstall("ws-erase-1").status_code == 200
    with app.app_context():
        assert db.session.execute(sa.text("SELECT installation_token FROM installations")).scalar_one() is None


def test_a_reinstall_stores_fresh_tokens(app, uninstalled):
    kit, _ = uninstalled
    again = kit.install("ws-erase-1", events=[EVENT])
    assert again.reply.status_code == 200
    assert kit.send_webhook(EVENT, workspace_id="ws-erase-1").status_code == 200
    with app.app_context():
        assert db.session.execute(sa.text("SELECT installation_token FROM installations")).scalar_one() is not None
