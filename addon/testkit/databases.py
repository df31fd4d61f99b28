"""Scratch PostgreSQL databases for the test suite and the benchmarks."""

from __future__ import annotations

import sqlalchemy as sa


def recreate_postgres_database(url: str) -> None:
    """Drop the database ``url`` names (closing its sessions) and create it empty."""
    target = sa.engine.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
