"""Deployment files generated from the configuration table, so they never drift from the code.

``VARIABLES`` and ``REQUIRED_IN_PRODUCTION`` (``addon/config.py``) and the ``Procfile`` are the
sources; this module renders from them:

* ``app.json``: the Heroku app manifest ("Deploy" button): the PostgreSQL and Redis add-ons, a
  formation of every long-running process type of the ``Procfile``, and the variables production
  requires that no add-on provides;
* ``.env.example``: every variable, commented out at its default, with its description;
* the variable table of ``docs/configuration.md``, between its two marker lines.

``python -m addon.deploy_files`` (``make deploy-files``) rewrites them; ``--check`` only reports
which differ (the tests run the same check).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .config import REQUIRED_IN_PRODUCTION, VARIABLES, Variable

ROOT = Path(__file__).resolve().parent.parent
APP_JSON, ENV_EXAMPLE, CONFIGURATION_DOC = "app.json", ".env.example", "docs/configuration.md"
TABLE_BEGIN = "<!-- generated from VARIABLES by `make deploy-files`: begin -->"
TABLE_END = "<!-- generated from VARIABLES by `make deploy-files`: end -->"
NO_DEFAULT = "—"

# Add-on plan (the platform's default tier) -> the variable it sets on the app.
ADDONS = {"heroku-postgresql": "DATABASE_URL", "heroku-redis": "REDIS_URL"}
# Procfile entries that are not long-running processes (Heroku runs `release` once per deploy).
ONE_OFF_PROCESS_TYPES = ("release",)
APP_NAME = "Clockify API Studio"
APP_DESCRIPTION = ("Clockify add-on server: lifecycle callbacks, every webhook stored then processed by RQ "
                   "workers, and API Studio.")


def procfile_process_types(root: Path = ROOT) -> dict[str, str]:
    """``{process type: command}`` of the ``Procfile``, in file order."""
    types = {}
    for line in (root / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            types[name.strip()] = command.strip()
    return types


def render_app_json(root: Path = ROOT) -> str:
    """The text of ``app.json``."""
    by_name = {v.name: v for v in VARIABLES}
    env: dict[str, dict[str, str | bool]] = {
        "ADDON_ENV": {"description": by_name["ADDON_ENV"].description, "value": "production"}}
    provided = set(ADDONS.values())
    for name in REQUIRED_IN_PRODUCTION:
        if name not in provided:
            env[name] = {"description": by_name[name].description, "required": True}
    manifest = {
        "name": APP_NAME,
        "description": APP_DESCRIPTION,
        "keywords": ["clockify", "add-on", "flask", "rq"],
        "buildpacks": [{"url": "heroku/python"}],
        "formation": {name: {"quantity": 1} for name in procfile_process_types(root)
                      if name not in ONE_OFF_PROCESS_TYPES},
        "addons": [{"plan": plan} for plan in ADDONS],
        "env": env,
        "success_url": "/ready",
    }
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def render_env_example() -> str:
    """The text of ``.env.example``: each variable commented out at its default (uncommented, a
    line sets exactly that default)."""
    lines = [
        "# Every variable the server reads (generated from VARIABLES in addon/config.py by `make deploy-files`).",
        "# Copy to .env and uncomment what you change; the process environment wins over .env.",
    ]
    for variable in VARIABLES:
        lines.append("")
        lines.append(f"# {variable.description}")
        if variable.name in REQUIRED_IN_PRODUCTION:
            lines.append("# Required in production.")
        lines.append(f"# {variable.name}={_dotenv_value(variable.default)}")
    return "\n".join(lines) + "\n"


def _dotenv_value(default: str | None) -> str:
    if default is None:
        return ""
    if any(c in default for c in " '\"#\\$"):
        return '"' + default.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return default


def render_configuration_table() -> str:
    """The markdown table of every variable, between its marker lines."""
    rows = [TABLE_BEGIN, "| Variable | Default | Meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {_written_default(v)} | {v.description} |" for v in VARIABLES]
    return "\n".join([*rows, TABLE_END])


def _written_default(variable: Variable) -> str:
    return NO_DEFAULT if variable.default is None else f"`{variable.default}`"


def render_configuration_doc(current: str) -> str:
    """``current`` (the text of docs/configuration.md) with its table regenerated.

    :raise ValueError: when the marker lines are missing.
    """
    begin, end = current.find(TABLE_BEGIN), current.find(TABLE_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{CONFIGURATION_DOC} lacks the table's marker lines")
    return current[:begin] + render_configuration_table() + current[end + len(TABLE_END):]


def expected_files(root: Path = ROOT) -> dict[str, str]:
    """``{path relative to root: text it must have}``."""
    return {
        APP_JSON: render_app_json(root),
        ENV_EXAMPLE: render_env_example(),
        CONFIGURATION_DOC: render_configuration_doc((root / CONFIGURATION_DOC).read_text()),
    }


def drifted(root: Path = ROOT) -> list[str]:
    """The generated files whose committed text differs from what the sources give."""
    return [path for path, text in expected_files(root).items()
            if not (root / path).is_file() or (root / path).read_text() != text]


def write(root: Path = ROOT) -> list[str]:
    """Rewrite every generated file that differs; return their paths."""
    changed = drifted(root)
    for path, text in expected_files(root).items():
        if path in changed:
            (root / path).write_text(text)
    return changed


def main(argv: list[str]) -> int:
    """``python -m addon.deploy_files [--check]``."""
    if "--check" in argv:
        stale = drifted(ROOT)
        for path in stale:
            print(f"{path} differs from the configuration code: run `make deploy-files`", file=sys.stderr)
        return 1 if stale else 0
    for path in write(ROOT):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
