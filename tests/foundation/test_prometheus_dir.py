"""``PROMETHEUS_MULTIPROC_DIR`` naming a directory that does not exist yet (a fresh dyno, before
gunicorn's config creates it) must not crash the release phase's ``flask db upgrade`` or any
other entry point: the directory is created."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from addon.testkit import processes
from addon.testkit.processes import UNREACHABLE_REDIS


@pytest.mark.slow
@pytest.mark.parametrize("entry_point, args", [
    ("flask", ("db", "upgrade")),
    ("flask", ("manifest", "write", "--output", "manifest-out.json")),
    ("flask", ("--help",)),
    ("create_app", ()),
])
@pytest.mark.parametrize("missing", ["prometheus", "not/yet/there"])
def test_a_missing_multiprocess_directory_is_created(tmp_path, entry_point, args, missing):
    directory = tmp_path / missing
    variables = {"ADDON_ENV": "test", "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
                 "REDIS_URL": UNREACHABLE_REDIS, "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                 "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    result = processes.run(entry_point, variables, tmp_path, *args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert directory.is_dir()
