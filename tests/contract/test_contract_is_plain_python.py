"""``addon.clockify`` is the plain-Python contract: none of its modules imports Flask or
Werkzeug's request machinery, so jobs, tools and other runtimes can use it. Werkzeug's
multidicts are allowed: openapi-core's ``RequestParameters`` is built from them."""

import ast
from pathlib import Path

import pytest

import addon.clockify

MODULES = sorted(Path(addon.clockify.__file__).parent.glob("*.py"))
WEB = ("flask", "werkzeug", "flask_sqlalchemy")
ALLOWED = {"werkzeug.datastructures"}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_web_framework_imports(path):
    assert not {n for n in imported(path) - ALLOWED if n.split(".")[0] in WEB}


def test_the_contract_modules_are_all_checked():
    assert {p.name for p in MODULES} >= {"event_types.py", "lifecycle.py", "lifecycle_payloads.py", "manifest.py",
                                         "schemas.py", "tokens.py"}
