"""The production-like configuration every benchmarked process gets, and the database and Redis it
starts from (both emptied at the start of a run: they belong to the benchmark alone)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import redis
import sqlalchemy as sa
from cryptography.fernet import Fernet

from addon.testkit.databases import recreate_postgres_database
from addon.testkit.signing import Signer, generate_private_key

from .stack import ROOT

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/addon_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
ADDON_KEY = "clockify-api-studio"
BASE_URL = "https://addon.bench.invalid"


@dataclass
class BenchEnvironment:
    """The bench key pair (it plays Clockify's signing key) and the add-on's environment."""

    signer: Signer = field(default_factory=lambda: Signer(generate_private_key(), ADDON_KEY))
    encryption_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    web_concurrency: int = field(default_factory=lambda: int(os.environ.get("WEB_CONCURRENCY", "2")))
    gunicorn_threads: int = field(default_factory=lambda: int(os.environ.get("GUNICORN_THREADS", "4")))

    def variables(self) -> dict[str, str]:
        """What ``ADDON_ENV=production`` requires, all on loopback; the bench key is trusted as
        Clockify's (``CLOCKIFY_PUBLIC_KEY``), and outbound calls may reach the fake on 127.0.0.1."""
        return {
            "ADDON_ENV": "production",
            "BASE_URL": BASE_URL,
            "ADDON_KEY": ADDON_KEY,
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "TOKEN_ENCRYPTION_KEY": self.encryption_key,
            "CLOCKIFY_PUBLIC_KEY": self.signer.public_pem,
            "CLOCKIFY_ALLOWED_API_DOMAINS": "127.0.0.1",
            "RATE_LIMIT_RPS": os.environ.get("RATE_LIMIT_RPS", "50"),
            "GUNICORN_THREADS": str(self.gunicorn_threads),
            "WEB_CONCURRENCY": str(self.web_concurrency),
            "PYTHONUNBUFFERED": "1",
        }


# The production host policy sends outbound calls over https only, and the add-on's client trusts
# only the public CA bundle, which no local fake can be signed by; so the processes that call
# the fake Clockify (bootstrap, API Studio execute) run as ADDON_ENV=test, which allows http.
# Everything else stays as in production (PostgreSQL, Redis, encryption, signature checks).
OUTBOUND_OVERRIDES = {"ADDON_ENV": "test"}


def engine() -> sa.Engine:
    """An engine on the benchmark database, for the checks the benchmark makes itself."""
    return sa.create_engine(DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1), pool_size=2)


def reset_storage() -> None:
    """Drop and recreate the benchmark database, and empty its Redis database."""
    recreate_postgres_database(DATABASE_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()


def machine() -> dict:
    """What the figures were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "postgresql": _server_version(),
        "redis": redis.Redis.from_url(REDIS_URL).info("server")["redis_version"],
        "wrk": _wrk_version(),
        "packages": {name: metadata.version(name) for name in
                     ("flask", "gunicorn", "sqlalchemy", "psycopg", "rq", "redis", "pyjwt", "cryptography")},
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _server_version() -> str:
    bench = engine()
    try:
        with bench.connect() as conn:
            return conn.execute(sa.text("SHOW server_version")).scalar_one()
    finally:
        bench.dispose()


def _wrk_version() -> str:
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    text = (completed.stdout or completed.stderr).strip()
    return text.splitlines()[0].split(" Copyright")[0] if text else ""
