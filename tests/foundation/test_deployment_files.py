"""The Procfile and gunicorn.conf.py say what the issue asks: web, worker and release processes;
migrations on release; multiprocess metrics set in the environment; $PORT and WEB_CONCURRENCY."""

from __future__ import annotations

import runpy

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
