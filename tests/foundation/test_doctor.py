"""``flask doctor``: one line per item, in a fixed order, ok or PROBLEM with how to fix it; exit 0
only when every item is ok. Each problem path is produced for real (an unreachable server, an
unmigrated database, a missing worker, a bad variable); only the machine's clock is injected."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from addon import doctor
from addon.clockify.manifest import build_manifest
from addon.extensions import db
from addon.models import Installation, WebhookEvent, utcnow
from addon.queueing import PRIORITY_ORDER, get_queue, get_redis
from addon.testkit import processes
from addon.testkit.databases import recreate_postgres_database
from addon.testkit.processes import ROOT, UNREACHABLE_POSTGRES, UNREACHABLE_REDIS
from addon.workers import AppSimpleWorker

# The newest migration's revision, read from the files the way a person would: by name.
HEAD = sorted(path.name for path in (ROOT / "migrations" / "versions").glob("[0-9]*.py"))[-1].split("_")[0]
ITEMS = ["configuration", "database", "redis", "workers", "base_url", "manifest", "public_key", "clock",
         "installations", "tokens", "backlog"]


@pytest.fixture
def workers():
    """``workers(app, queues)``: real RQ workers registered on ``queues``, gone after the test."""
    registered = []

    def register(app, queues=PRIORITY_ORDER):
        with app.app_context():
            worker = AppSimpleWorker([get_queue(q) for q in queues], connection=get_redis(), app=app)
        worker.register_birth()
        registered.append(worker)
        return worker

    yield register
    for worker in registered:
        worker.register_death()


def _doctor(app) -> tuple[int, dict[str, str]]:
    """Run ``flask doctor``; its exit code and ``{item: line}``."""
    result = app.test_cli_runner().invoke(args=["doctor"])
    lines = result.output.strip().splitlines()
    by_item = {line.split()[1]: line for line in lines}
    assert [line.split()[1] for line in lines] == ITEMS, result.output
    return result.exit_code, by_item


def _problems(lines: dict[str, str]) -> list[str]:
    return [item for item, line in lines.items() if line.startswith("PROBLEM")]


def _store_event(app, age_seconds: float, n: int = 0) -> None:
    with app.app_context():
        db.session.add(WebhookEvent(workspace_id="ws-doctor", event_type="NEW_TAG", route="tag", payload="{}",
                                    dedupe_key=f"doctor-{n}", headers={},
                                    received_at=utcnow() - timedelta(seconds=age_seconds)))
        db.session.commit()
        db.session.remove()


def test_a_healthy_deployment_is_all_ok_and_exits_0(make_app, workers):
    app = make_app()
    workers(app)
    code, lines = _doctor(app)
    assert code == 0 and _problems(lines) == []
    assert all(line.startswith("ok ") and "-> fix:" not in line for line in lines.values())
    assert lines["database"].endswith(f"reachable, migrations at head ({HEAD})")
    assert "high 1, default 1, bootstrap 1" in lines["workers"]
    assert "0 webhook events waiting" in lines["backlog"]
    assert lines["tokens"].endswith("no stored token to check")


def test_no_worker_at_all_is_a_problem_naming_every_queue_and_the_fix(make_app):
    code, lines = _doctor(make_app())
    assert code == 1 and _problems(lines) == ["workers"]
    assert "no live worker on queue high, default, bootstrap" in lines["workers"]
    assert "-> fix: heroku ps:scale worker=1" in lines["workers"]


def test_a_queue_without_a_worker_is_named(make_app, workers):
    app = make_app()
    workers(app, ("high",))
    code, lines = _doctor(app)
    assert code == 1 and _problems(lines) == ["workers"]
    assert ("no live worker on queue default, bootstrap (live workers: high 1, default 0, bootstrap 0)"
            in lines["workers"])


def test_an_unreachable_database_fails_every_item_that_reads_it(make_app, workers):
    app = make_app(DATABASE_URL=UNREACHABLE_POSTGRES)
    workers(app)
    code, lines = _doctor(app)
    assert code == 1 and _problems(lines) == ["database", "clock", "installations", "tokens", "backlog"]
    assert "unreachable (OperationalError) -> fix: check DATABASE_URL" in lines["database"]
    assert "hunter2" not in "".join(lines.values())


def test_an_unmigrated_database_says_to_run_the_migrations(make_app, base_overrides, tmp_path, workers):
    if base_overrides["DATABASE_URL"].startswith("postgres"):
        url = base_overrides["DATABASE_URL"].rsplit("/", 1)[0] + "/addon_t_ops_doctor_empty"
        recreate_postgres_database(url)
    else:
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = make_app(DATABASE_URL=url)
    workers(app)
    code, lines = _doctor(app)
    assert code == 1 and "database" in _problems(lines)
    assert f"schema at revision none, the code expects {HEAD} -> fix: flask db upgrade" in lines["database"]


def test_an_unreachable_redis_is_a_problem(make_app):
    code, lines = _doctor(make_app(REDIS_URL=UNREACHABLE_REDIS))
    assert code == 1 and _problems(lines) == ["redis", "workers"]
    assert "unreachable (ConnectionError) -> fix: check REDIS_URL" in lines["redis"]
    assert "cannot count them (Redis: ConnectionError)" in lines["workers"]


@pytest.mark.parametrize("base_url, says", [
    ("http://addon.example.com", "is not https"),
    ("https://localhost:5000", "names this machine"),
    ("https://127.0.0.1:8443", "names this machine"),
    ("https://10.1.2.3", "names this machine"),
    ("https://192.168.0.10/addon", "names this machine"),
])
def test_a_base_url_clockify_cannot_call_is_a_problem(make_app, workers, base_url, says):
    app = make_app(BASE_URL=base_url)
    workers(app)
    code, lines = _doctor(app)
    assert code == 1 and _problems(lines) == ["base_url"]
    assert says in lines["base_url"] and "-> fix: set BASE_URL" in lines["base_url"]


def test_a_manifest_that_states_another_base_url_is_a_problem(make_app):
    app = make_app()
    with app.app_context():
        findings = doctor.run_checks(build_manifest=lambda s: {**build_manifest(s), "baseUrl": "https://old.example.com"})
    base_url = next(f for f in findings if f.item == "base_url")
    assert not base_url.ok and "the manifest states baseUrl 'https://old.example.com'" in base_url.detail


@pytest.mark.parametrize("broken, says", [
    (lambda m: {k: v for k, v in m.items() if k != "key"}, "'key' is a required property"),
    (lambda m: {**m, "schemaVersion": "0.9"}, "schemaVersion: '0.9' is not one of"),
    (lambda m: {**m, "scopes": ["NOT_A_SCOPE"]}, "scopes[0]"),
])
def test_a_manifest_its_schema_rejects_is_a_problem(make_app, broken, says):
    app = make_app()
    with app.app_context():
        findings = doctor.run_checks(build_manifest=lambda s: broken(build_manifest(s)))
    manifest = next(f for f in findings if f.item == "manifest")
    assert not manifest.ok and says in manifest.detail and "MANIFEST_SCHEMA_VERSION" in manifest.fix


@pytest.mark.parametrize("variables, says", [
    ({"REQUIRE_SIGNATURE_VERIFICATION": "false"}, "token signatures are not verified"),
    ({"CLOCKIFY_JWKS_URL": "http://127.0.0.1:1/jwks"}, "CLOCKIFY_JWKS_URL does not answer with keys"),
])
def test_unverifiable_tokens_are_a_problem(make_app, workers, variables, says):
    app = make_app(**variables)
    workers(app)
    code, lines = _doctor(app)
    assert code == 1 and _problems(lines) == ["public_key"] and says in lines["public_key"]


def test_the_public_key_line_names_its_source_and_fingerprint(make_app):
    line = _doctor(make_app())[1]["public_key"]
    assert "loaded from CLOCKIFY_PUBLIC_KEY (sha256 " in line and "not the bundled official key" in line


@pytest.mark.parametrize("skew", [45, -45, 3600])
def test_a_clock_off_by_more_than_30_s_is_a_problem(make_app, skew):
    app = make_app()
    with app.app_context():
        clock = next(f for f in doctor.run_checks(clock=lambda: time.time() + skew) if f.item == "clock")
    assert not clock.ok and f"{skew:+d} s from the database's clock" in clock.detail and "NTP" in clock.fix


def test_a_clock_within_30_s_is_ok(make_app):
    app = make_app()
    with app.app_context():
        clock = next(f for f in doctor.run_checks(clock=lambda: time.time() + 20) if f.item == "clock")
    assert clock.ok


def test_installations_are_counted_by_status(make_app, workers):
    app = make_app()
    workers(app)
    with app.app_context():
        for n, status in enumerate(["ACTIVE", "ACTIVE", "INACTIVE", "DELETED", "ACTIVE"]):
            db.session.add(Installation(workspace_id=f"ws-{n}", addon_id=f"addon-{n}", status=status,
                                        installation_token="t", api_url="https://api.clockify.me/api"))
        db.session.commit()
        db.session.remove()
    code, lines = _doctor(app)
    assert code == 0 and lines["installations"].endswith("3 ACTIVE, 1 INACTIVE, 1 DELETED")


def test_stored_tokens_the_keys_decrypt_are_ok_and_others_are_a_problem_with_the_fix(make_app, workers):
    app = make_app()
    workers(app)
    with app.app_context():
        db.session.add(Installation(workspace_id="ws-key", addon_id="addon-key", installation_token="t0ken",
                                    api_url="https://api.clockify.me/api"))
        db.session.commit()
        ciphertext = db.session.execute(sa.text("SELECT installation_token FROM installations")).scalar_one()
        db.session.remove()
    code, lines = _doctor(app)
    assert code == 0 and lines["tokens"].endswith("a stored token decrypts with TOKEN_ENCRYPTION_KEY (1 key)")

    other = make_app(TOKEN_ENCRYPTION_KEY=f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}")
    workers(other)
    code, lines = _doctor(other)
    assert code == 1 and _problems(lines) == ["tokens"]
    assert lines["tokens"].startswith("PROBLEM  tokens        a stored token (installations row ")
    assert "does not decrypt with TOKEN_ENCRYPTION_KEY (2 keys) -> fix: put the previous key back after the new " \
           "one (TOKEN_ENCRYPTION_KEY=new,old), then run flask tokens reencrypt" in lines["tokens"]
    assert ciphertext not in lines["tokens"] and "t0ken" not in lines["tokens"]


def test_a_backlog_older_than_the_grace_period_is_a_problem_even_with_workers(make_app, workers):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="60")
    workers(app)
    _store_event(app, age_seconds=400, n=1)
    _store_event(app, age_seconds=10, n=2)
    code, lines = _doctor(app)
    assert code == 1 and _problems(lines) == ["backlog"]
    assert "2 webhook events waiting, the oldest for 4" in lines["backlog"]
    assert "the workers are not keeping up -> fix: add worker processes" in lines["backlog"]


def test_a_stalled_queue_is_named_in_the_backlog(make_app, workers):
    app = make_app(WORKER_MISSING_GRACE_SECONDS="0")
    workers(app, ("default", "bootstrap"))
    _store_event(app, age_seconds=5)
    code, lines = _doctor(app)
    assert code == 1 and _problems(lines) == ["workers", "backlog"]
    assert "no live worker on queue high -> fix: heroku ps:scale worker=1" in lines["backlog"]


@pytest.mark.slow
def test_a_configuration_that_does_not_load_is_the_configuration_problem(tmp_path):
    variables = {"ADDON_ENV": "production", "BASE_URL": "http://addon.example.com", "REDIS_URL": UNREACHABLE_REDIS,
                 "DATABASE_URL": UNREACHABLE_POSTGRES, "TOKEN_ENCRYPTION_KEY": "x" * 10}
    finished = subprocess.run([sys.executable, "-m", "addon.doctor"], env=processes.clean_env(variables),
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 1
    fix = " -> fix: set the variable it names (docs/configuration.md)"
    assert sorted(finished.stdout.strip().splitlines()) == [
        "PROBLEM  configuration BASE_URL must be an https URL in production" + fix,
        "PROBLEM  configuration TOKEN_ENCRYPTION_KEY must be one Fernet key or several separated by commas, newest "
        "first: key 1 of 1 is not a Fernet key (32 url-safe base64-encoded bytes)" + fix]
    flask = processes.run("flask", variables, tmp_path, "doctor")
    assert flask.returncode != 0
    assert "configuration error: BASE_URL must be an https URL in production" in flask.stderr.strip().splitlines()
