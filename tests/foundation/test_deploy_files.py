"""app.json, .env.example, .python-version and the table of docs/configuration.md agree with the
configuration code and the Procfile; a drift in any of them fails here with the one command that
regenerates them (`make deploy-files`)."""

from __future__ import annotations

import io
import json
import shutil
import sys

import pytest
from cryptography.fernet import Fernet
from dotenv import dotenv_values

from addon import create_app, deploy_files
from addon.config import FERNET_KEY_COMMAND, REQUIRED_IN_PRODUCTION, VARIABLES
from addon.testkit import processes
from addon.testkit.processes import ROOT, UNREACHABLE_POSTGRES, UNREACHABLE_REDIS

GENERATED = (deploy_files.APP_JSON, deploy_files.ENV_EXAMPLE, deploy_files.CONFIGURATION_DOC)


def _app_json() -> dict:
    return json.loads(ROOT.joinpath("app.json").read_text())


def test_committed_files_are_what_the_configuration_code_generates():
    assert deploy_files.drifted() == [], "run `make deploy-files` and commit the result"


@pytest.fixture
def copy_root(tmp_path):
    """The generated files and their sources, copied to a scratch root."""
    for path in (*GENERATED, "Procfile"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    return tmp_path


@pytest.mark.parametrize("path", GENERATED)
@pytest.mark.parametrize("edit", ["reword", "delete", "truncate"])
def test_a_drifted_file_is_reported_and_regenerated(copy_root, path, edit):
    target = copy_root / path
    if edit == "reword":
        description = VARIABLES[1].description
        assert description in target.read_text()
        target.write_text(target.read_text().replace(description, "An older description."))
    elif edit == "delete":
        target.unlink()
    else:
        target.write_text(target.read_text()[: len(target.read_text()) // 2])
    if path == deploy_files.CONFIGURATION_DOC and edit != "reword":
        # Without its marker lines the table cannot be regenerated: that is an error, not a rewrite.
        with pytest.raises((ValueError, FileNotFoundError)):
            deploy_files.drifted(copy_root)
        return
    assert deploy_files.drifted(copy_root) == [path]
    assert deploy_files.write(copy_root) == [path]
    assert deploy_files.drifted(copy_root) == []


def test_a_new_process_type_in_the_procfile_drifts_app_json(copy_root):
    with open(copy_root / "Procfile", "a") as procfile:
        procfile.write("events: python worker.py --no-fork high\n")
    assert deploy_files.drifted(copy_root) == [deploy_files.APP_JSON]
    deploy_files.write(copy_root)
    assert "events" in json.loads((copy_root / "app.json").read_text())["formation"]


def test_app_json_runs_every_long_running_process_type_of_the_procfile():
    procfile = deploy_files.procfile_process_types()
    assert set(_app_json()["formation"]) == set(procfile) - {"release"} == {"web", "worker"}
    assert all(entry["quantity"] >= 1 for entry in _app_json()["formation"].values())
    # Migrations run in the release phase, before any new web or worker process starts.
    assert procfile["release"] == "flask --app wsgi:app db upgrade"


def test_app_json_provides_every_variable_production_requires():
    manifest = _app_json()
    from_addons = {deploy_files.ADDONS[a["plan"].split(":")[0]] for a in manifest["addons"]}
    asked = {name for name, entry in manifest["env"].items() if entry.get("required")}
    assert set(REQUIRED_IN_PRODUCTION) == from_addons | asked
    assert from_addons == {"DATABASE_URL", "REDIS_URL"}
    assert manifest["env"]["ADDON_ENV"]["value"] == "production"
    descriptions = {v.name: v.description for v in VARIABLES}
    assert {n: e["description"] for n, e in manifest["env"].items()} == {n: descriptions[n] for n in manifest["env"]}
    # No generator can make a Fernet key: its description carries the one command that does.
    assert FERNET_KEY_COMMAND in manifest["env"]["TOKEN_ENCRYPTION_KEY"]["description"]


def test_the_app_json_environment_starts_the_app_in_production(bare_environ):
    """What the Deploy button sets (its values, the add-ons' URLs, the asked variables) is enough."""
    environment = {name: entry["value"] for name, entry in _app_json()["env"].items() if "value" in entry}
    environment.update(DATABASE_URL=UNREACHABLE_POSTGRES, REDIS_URL=UNREACHABLE_REDIS,
                       BASE_URL="https://addon.example.com", TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert create_app(environment).config["SETTINGS"].env == "production"


@pytest.mark.slow
def test_the_release_phase_refuses_to_start_without_the_encryption_key(tmp_path):
    finished = processes.run("flask", {"ADDON_ENV": "production", "BASE_URL": "https://addon.example.com",
                                       "DATABASE_URL": UNREACHABLE_POSTGRES, "REDIS_URL": UNREACHABLE_REDIS},
                             tmp_path, "db", "upgrade")
    assert finished.returncode != 0
    assert finished.stderr.strip().splitlines()[-1] == (
        f"configuration error: TOKEN_ENCRYPTION_KEY is required in production; make one with {FERNET_KEY_COMMAND} "
        "and set it once (heroku config:set TOKEN_ENCRYPTION_KEY=...)")


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
def test_env_example_uncommented_sets_each_default(variable):
    lines = ROOT.joinpath(".env.example").read_text().splitlines()
    setting = [line for line in lines if line.startswith(f"# {variable.name}=")]
    assert len(setting) == 1
    parsed = dotenv_values(stream=io.StringIO(setting[0][2:]))
    assert parsed == {variable.name: variable.default or ""}


def test_env_example_marks_what_production_requires():
    text = ROOT.joinpath(".env.example").read_text()
    for name in REQUIRED_IN_PRODUCTION:
        block = text.split(f"\n# {name}=")[0].rsplit("\n\n", 1)[1]
        assert "# Required in production." in block, name


def test_python_version_pin_is_the_tested_minor_version():
    pinned = ROOT.joinpath(".python-version").read_text().strip()
    assert pinned == "3.11" == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_the_check_command_exits_non_zero_on_drift(copy_root, monkeypatch, capsys):
    monkeypatch.setattr(deploy_files, "ROOT", copy_root)
    assert deploy_files.main(["--check"]) == 0
    (copy_root / ".env.example").write_text("# stale\n")
    assert deploy_files.main(["--check"]) == 1
    assert ".env.example differs from the configuration code: run `make deploy-files`" in capsys.readouterr().err


def test_app_json_keeps_to_the_platform_schema_limits():
    """app.json's schema: ``name`` 3-30 characters, ``description`` at most 140; only known keys."""
    manifest = _app_json()
    assert 3 <= len(manifest["name"]) <= 30 and len(manifest["description"]) <= 140
    assert set(manifest) <= {"name", "description", "keywords", "website", "repository", "logo", "success_url",
                             "scripts", "env", "formation", "image", "addons", "buildpacks", "environments", "stack"}
    assert all(set(entry) <= {"description", "value", "required", "generator"} for entry in manifest["env"].values())
