"""The environment-variable table of docs/configuration.md and ``addon.config.VARIABLES`` agree: same names, same
defaults, in both directions."""

from __future__ import annotations

import re

from addon.config import VARIABLES
from addon.testkit.processes import ROOT

NO_DEFAULT = "—"
ROW = re.compile(r"^\|\s*`(?P<name>[A-Z][A-Z0-9_]*)`\s*\|\s*(?P<default>[^|]*?)\s*\|")


def readme_table() -> dict[str, str]:
    """``{variable: default as written}`` from the table of docs/configuration.md."""
    section = ROOT.joinpath("docs", "configuration.md").read_text()
    rows = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            assert match["name"] not in rows, f"{match['name']} is listed twice"
            rows[match["name"]] = match["default"]
    return rows


def _written(default: str | None) -> str:
    return NO_DEFAULT if default is None else f"`{default}`"


def test_every_variable_of_the_code_is_in_the_readme():
    missing = [v.name for v in VARIABLES if v.name not in readme_table()]
    assert missing == [], f"add to the table of docs/configuration.md: {missing}"


def test_every_variable_of_the_readme_is_in_the_code():
    known = {v.name for v in VARIABLES}
    extra = [name for name in readme_table() if name not in known]
    assert extra == [], f"docs/configuration.md documents variables the code does not read: {extra}"


def test_defaults_agree():
    table = readme_table()
    wrong = {v.name: (table[v.name], _written(v.default)) for v in VARIABLES
             if v.name in table and table[v.name] != _written(v.default)}
    assert wrong == {}, "documented default != code default: " + str(wrong)


def test_the_table_parser_sees_the_whole_table():
    assert len(readme_table()) == len(VARIABLES) >= 20


def readme_descriptions() -> dict[str, str]:
    """``{variable: meaning as written}`` from the table of docs/configuration.md."""
    rows = {}
    for line in ROOT.joinpath("docs", "configuration.md").read_text().splitlines():
        if ROW.match(line):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = "|".join(cells[2:])
    return rows


def test_descriptions_agree():
    table = readme_descriptions()
    wrong = {v.name: (table.get(v.name), v.description) for v in VARIABLES if table.get(v.name) != v.description}
    assert wrong == {}, "documented meaning != VARIABLES description: " + str(wrong)
