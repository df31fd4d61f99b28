"""The migrations, through the real ``flask db`` CLI, on SQLite (batch mode) and PostgreSQL:
empty to head, head to base, and agreement with the models (autogenerate finds no diff)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet

import addon.models  # noqa: F401  (registers the tables with the metadata)
from addon import create_app
from addon.clockify import deliveries
from addon.extensions import db
from addon.json_bodies import decode_json
from addon.store import webhook_events
from addon.testkit import processes
from addon.testkit.processes import ROOT, UNREACHABLE_REDIS

TABLES = {"installations", "installation_webhooks", "webhook_events", "api_calls", "bootstrap_runs",
          "bootstrap_checkpoints", "workspace_data", "webhook_latest_deliveries", "lifecycle_outbox"}
KEY = Fernet.generate_key().decode()


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_database(request, tmp_path):
    """(URL of an empty database, the variables ``flask`` runs with). PostgreSQL runs as the
    release phase does: production with exactly the required variables."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
        yield url, {"ADDON_ENV": "test", "DATABASE_URL": url, "REDIS_URL": UNREACHABLE_REDIS,
                    "TOKEN_ENCRYPTION_KEY": KEY}
        return
    base = os.environ.get("TEST_DATABASE_URL", "")
    if not base.startswith("postgres"):
        pytest.skip(reason="needs TEST_DATABASE_URL on PostgreSQL")
    target = sa.engine.make_url(_sqlalchemy_url(base))
    name = f"{target.database}_mig"
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = target.set(database=name).render_as_string(hide_password=False)
    try:
        yield url, {"ADDON_ENV": "production", "BASE_URL": "https://addon.example.com", "DATABASE_URL": url,
                    "REDIS_URL": UNREACHABLE_REDIS, "TOKEN_ENCRYPTION_KEY": KEY}
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _flask_db(variables, cwd, *args):
    result = processes.run("flask", variables, cwd, "db", *args)
    assert result.returncode == 0, result.stderr
    return result


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _version(engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]


def _diff(engine, metadata) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)


@pytest.mark.slow
def test_upgrade_to_head_and_downgrade_to_base(scratch_database, tmp_path):
    url, variables = scratch_database
    engine = sa.create_engine(_sqlalchemy_url(url))
    try:
        _flask_db(variables, tmp_path, "upgrade")
        assert _tables(engine) == TABLES | {"alembic_version"}
        assert _version(engine) == [_head()]
        for table in TABLES:
            columns = {c["name"] for c in sa.inspect(engine).get_columns(table)}
            indexes = {tuple(i["column_names"]) for i in sa.inspect(engine).get_indexes(table)}
            uniques = {tuple(u["column_names"]) for u in sa.inspect(engine).get_unique_constraints(table)}
            assert "workspace_id" in columns
            assert any(cols[0] == "workspace_id" for cols in indexes | uniques), table

        _flask_db(variables, tmp_path, "downgrade", "base")
        assert _tables(engine) == {"alembic_version"}
        assert _version(engine) == []

        _flask_db(variables, tmp_path, "upgrade")  # down left nothing behind that blocks a new up
        assert _tables(engine) == TABLES | {"alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.slow
def test_models_and_migrations_agree(scratch_database, tmp_path):
    url, variables = scratch_database
    engine = sa.create_engine(_sqlalchemy_url(url))
    try:
        _flask_db(variables, tmp_path, "upgrade")
        assert _diff(engine, db.metadata) == []
        check = _flask_db(variables, tmp_path, "check")
        assert "No new upgrade operations detected" in check.stdout + check.stderr

        # The comparison can fail: a model with a column the migrations never created...
        drifted = sa.MetaData(naming_convention=db.metadata.naming_convention)
        for table in db.metadata.sorted_tables:
            table.to_metadata(drifted)
        drifted.tables["installations"].append_column(sa.Column("nickname", sa.String(40)))
        assert [(op[0], op[2], op[3].name) for op in _diff(engine, drifted)] == \
            [("add_column", "installations", "nickname")]

        # ...and the real `flask db check` fails when the schema drifts from the models.
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE api_calls DROP COLUMN error"))
        result = processes.run("flask", variables, tmp_path, "db", "check")
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert "New upgrade operations detected" in output and "api_calls" in output
    finally:
        engine.dispose()


@pytest.mark.slow
def test_dedupe_migration_carries_the_latest_delivery_of_each_entity_over(scratch_database, tmp_path):
    url, variables = scratch_database
    engine = sa.create_engine(_sqlalchemy_url(url))
    events = [  # (event type, dedupe key of the old rule, body)
        ("TIME_ENTRY_UPDATED", "sha256:a", '{"id": "te-1", "description": "A"}'),
        ("TIME_ENTRY_UPDATED", "sha256:b", '{"id": "te-1", "description": "B"}'),
        ("NEW_TAG", "delivery:d1", '{"id": "t-1"}'),
        ("USERS_INVITED_TO_WORKSPACE", "sha256:c", '[{"email": "a@example.com"}]'),
    ]
    try:
        _flask_db(variables, tmp_path, "upgrade", "0001")
        with engine.begin() as conn:
            for event_type, key, body in events:
                conn.execute(sa.text(
                    "INSERT INTO webhook_events (workspace_id, event_type, route, known_event, dedupe_key, payload,"
                    " headers, received_at, status, attempts) VALUES ('ws', :t, 'time', true, :k, :p, '{}',"
                    " CURRENT_TIMESTAMP, 'processed', 1)"), {"t": event_type, "k": key, "p": body})
        _flask_db(variables, tmp_path, "upgrade")
        with engine.connect() as conn:
            latest = conn.execute(sa.text(
                "SELECT event_type, subject, event_id, expires_at IS NOT NULL FROM webhook_latest_deliveries"
                " ORDER BY event_id")).all()
            keys = conn.execute(sa.text("SELECT dedupe_key FROM webhook_events ORDER BY id")).scalars().all()
        assert [(row[0], row[1].split(":")[0], row[2], row[3]) for row in latest] == [
            ("TIME_ENTRY_UPDATED", "entity", 2, False), ("NEW_TAG", "delivery", 3, False),
            ("USERS_INVITED_TO_WORKSPACE", "body", 4, True)]
        assert keys[0] == keys[1] == latest[0][1] and keys[2] == "delivery:d1"
        with engine.begin() as conn:  # no longer unique: the same state may come back later
            conn.execute(sa.text(
                "INSERT INTO webhook_events (workspace_id, event_type, route, known_event, dedupe_key, payload,"
                " headers, received_at, status, attempts) VALUES ('ws', 'TIME_ENTRY_UPDATED', 'time', true, :k,"
                " '{\"id\": \"te-1\", \"description\": \"A\"}', '{}', CURRENT_TIMESTAMP, 'received', 0)"),
                {"k": keys[0]})
        _flask_db(variables, tmp_path, "downgrade", "0001")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM webhook_events")).scalar_one() == 4
    finally:
        engine.dispose()


def _key(event_type: str, body: dict) -> deliveries.DedupeKey:
    raw = json.dumps(body).encode()
    return deliveries.dedupe_key(event_type, raw, deliveries.parse_body(raw, decode_json))


@pytest.mark.slow
def test_latest_deliveries_become_one_per_subject_keeping_the_newest(scratch_database, tmp_path, base_overrides):
    url, variables = scratch_database
    engine = sa.create_engine(_sqlalchemy_url(url))
    entry, other = {"id": "te-1"}, {"id": "te-2"}
    subject, digest = _key("NEW_TIME_ENTRY", entry).subject, _key("NEW_TIME_ENTRY", entry).digest
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [  # (id, workspace, event type, subject, event id, seen at)
        (1, "ws-1", "NEW_TIME_ENTRY", subject, 11, at),
        (2, "ws-1", "TIME_ENTRY_DELETED", subject, 13, at + timedelta(minutes=2)),  # newest of ws-1/te-1
        (3, "ws-1", "TIME_ENTRY_RESTORED", subject, 12, at + timedelta(minutes=1)),
        (4, "ws-1", "TIME_ENTRY_UPDATED", _key("TIME_ENTRY_UPDATED", other).subject, 14, at),
        (5, "ws-1", "TIME_ENTRY_DELETED", _key("TIME_ENTRY_UPDATED", other).subject, 15, at),  # same time: id decides
        (6, "ws-2", "NEW_TIME_ENTRY", subject, 16, at),  # another workspace's row of the same subject
    ]
    latest = sa.table("webhook_latest_deliveries", *(sa.column(name) for name in (
        "id", "workspace_id", "event_type", "subject", "body_digest", "event_id")),
        sa.column("seen_at", sa.DateTime(timezone=True)))
    try:
        _flask_db(variables, tmp_path, "upgrade", "0005")
        with engine.begin() as conn:
            names = ("id", "workspace_id", "event_type", "subject", "event_id", "seen_at")
            conn.execute(latest.insert(), [{**dict(zip(names, row, strict=True)), "body_digest": digest}
                                           for row in rows])
        _flask_db(variables, tmp_path, "upgrade", "0006")
        with engine.connect() as conn:
            kept = conn.execute(sa.select(latest.c.id, latest.c.event_type).order_by(latest.c.id)).all()
        assert kept == [(2, "TIME_ENTRY_DELETED"), (5, "TIME_ENTRY_DELETED"), (6, "NEW_TIME_ENTRY")]
        uniques = {tuple(u["column_names"]) for u in sa.inspect(engine).get_unique_constraints(latest.name)}
        assert uniques == {("workspace_id", "subject")}

        migrated = create_app({**base_overrides, "DATABASE_URL": url})
        with migrated.app_context():
            def record(workspace_id, event_type):
                return webhook_events.record(workspace_id, event_type=event_type, route="time", known_event=True,
                                             dedupe=_key(event_type, entry), window_seconds=3600,
                                             payload=json.dumps(entry), headers={})

            assert record("ws-1", "TIME_ENTRY_DELETED") == webhook_events.Stored(13, False)
            assert record("ws-1", "TIME_ENTRY_RESTORED").created
            assert record("ws-2", "NEW_TIME_ENTRY") == webhook_events.Stored(16, False)
            assert record("ws-2", "TIME_ENTRY_DELETED").created
            db.session.remove()
            db.engine.dispose()

        _flask_db(variables, tmp_path, "downgrade", "0005")
        uniques = {tuple(u["column_names"]) for u in sa.inspect(engine).get_unique_constraints(latest.name)}
        assert uniques == {("workspace_id", "event_type", "subject")}
    finally:
        engine.dispose()
