"""``flask manifest write``."""

import json

from addon import ROOT
from addon.clockify import manifest


def test_write_uses_the_app_settings(app, tmp_path):
    target = tmp_path / "out" / "manifest.json"
    target.parent.mkdir()
    result = app.test_cli_runner().invoke(args=["manifest", "write", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert "20 webhooks declared, 2 registered through the API" in result.output
    written = json.loads(target.read_text())
    assert written == manifest.build_manifest(app.config["SETTINGS"])
    assert written["baseUrl"] == "https://addon.example.com"


def test_write_with_defaults_reproduces_the_committed_file(app, tmp_path):
    target = tmp_path / "manifest.json"
    result = app.test_cli_runner().invoke(args=["manifest", "write", "--defaults", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == (ROOT / "manifest.json").read_text()


def test_an_unwritable_target_is_a_clear_error(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["manifest", "write", "--output", str(tmp_path / "missing" / "m.json")])
    assert result.exit_code == 1 and "Error:" in result.output
