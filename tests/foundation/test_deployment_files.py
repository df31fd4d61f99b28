"""The Procfile and gunicorn.conf.py say what the issue asks: web, worker and release processes;
migrations on release; multiprocess metrics set in the environment; $PORT and WEB_CONCURRENCY."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from addon.testkit.processes import ROOT


def _procfile() -> dict[str, str]:
    lines = [line for line in ROOT.joinpath("Procfile").read_text().splitlines() if line.strip()]
    return dict(line.split(":", 1) for line in lines)


def test_procfile_has_web_worker_and_release():
    procfile = {name: command.strip() for name, command in _procfile().items()}
    assert set(procfile) == {"web", "worker", "release"}
    assert procfile["release"] == "flask --app wsgi:app db upgrade"
    assert procfile["worker"] == "python worker.py"
    assert "gunicorn wsgi:app" in procfile["web"]
    # Set in the process environment, never by app code: prometheus_client reads it at import.
    assert procfile["web"].startswith("PROMETHEUS_MULTIPROC_DIR=")


def test_gunicorn_settings_follow_the_environment(bare_environ, monkeypatch, tmp_path):
    monkeypatch.setenv("ADDON_ENV", "test")
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    (tmp_path / "prom").mkdir()
    (tmp_path / "prom" / "counter_1.db").write_bytes(b"stale")
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["bind"] == ["0.0.0.0:8123"] and settings["workers"] == 3
    assert list((tmp_path / "prom").iterdir()) == []  # wiped once per boot
    assert "%(U)s" in settings["access_log_format"] and "%(r)s" not in settings["access_log_format"]
    assert callable(settings["child_exit"])


@pytest.mark.slow
def test_gunicorn_config_creates_a_missing_multiproc_dir(tmp_path):
    """On a fresh dyno the Procfile's directory does not exist yet: the config file must create it
    before it imports the add-on, whose label-less counters open their files there at import."""
    multiproc = tmp_path / "not-yet" / "prometheus"
    environ = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    environ.update({"ADDON_ENV": "test", "PROMETHEUS_MULTIPROC_DIR": str(multiproc), "PYTHONPATH": str(ROOT),
                    "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()})
    loaded = subprocess.run([sys.executable, "-c", f"import runpy; runpy.run_path({str(ROOT / 'gunicorn.conf.py')!r})"],
                            cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert multiproc.is_dir()
