"""Docstrings, comments and documents name only modules, attributes and files that exist: every
dotted name under ``addon``, every path under ``addon``, ``tests``, ``docs``... (or under a
package of ``addon``, like ``jobs``) and every Python file name resolves. A rename that forgets
the prose fails here instead of misleading the next reader."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import io
import re
import tokenize
from pathlib import Path

from addon import ROOT

DOTTED = re.compile(r"(?<![\w./@:-])addon(?:\.[A-Za-z_]\w*)+")
HOSTNAME = re.compile(r"\.(com|org|net|io|me)$")
REPOSITORY_PATH = re.compile(r"(?<![\w./@:-])(?:addon|tests|benchmarks|docs|migrations|static|templates)/[\w./-]*[\w/]")
PACKAGE_PATH = re.compile(r"(?<![\w./@:-])(?:cli|clockify|jobs|store|testkit|web|webhook_handlers)/\w+\.py\b")
FILE_NAME = re.compile(r"(?<![\w./-])([A-Za-z_][\w.]*\.py)\b")
# Files the documents ask the reader to create.
EXAMPLES = {"addon/webhook_handlers/notify.py"}


def _sources() -> list[Path]:
    python = [p for folder in ("addon", "tests", "benchmarks") for p in (ROOT / folder).rglob("*.py")]
    return sorted(python + list((ROOT / "docs").glob("*.md")) + [ROOT / "README.md", ROOT / "benchmarks" / "README.md"])


def _prose(path: Path) -> str:
    """A document's text; a module's docstrings and comments (its code is checked by importing it)."""
    text = path.read_text()
    if path.suffix != ".py":
        return text
    chunks = [ast.get_docstring(node, clean=False) or "" for node in ast.walk(ast.parse(text))
              if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    chunks += [token.string for token in tokenize.generate_tokens(io.StringIO(text).readline)
               if token.type == tokenize.COMMENT]
    return "\n".join(chunks)


def _resolves(dotted: str) -> bool:
    """The longest importable prefix of ``dotted`` is a module holding the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.util.find_spec(".".join(parts[:cut])) is not None
        except ModuleNotFoundError:  # a parent is not a package
            found = False
        if found:
            target = importlib.import_module(".".join(parts[:cut]))
            for name in parts[cut:]:
                if not hasattr(target, name):
                    return False
                target = getattr(target, name)
            return True
    return False


def unresolved(prose: str) -> list[str]:
    """The references of ``prose`` that name nothing."""
    existing_names = _python_file_names()
    missing = [name for name in DOTTED.findall(prose) if not HOSTNAME.search(name) and not _resolves(name)]
    missing += [path for path in REPOSITORY_PATH.findall(prose) if path not in EXAMPLES and not (ROOT / path).exists()]
    missing += [path for path in PACKAGE_PATH.findall(prose) if not (ROOT / "addon" / path).exists()]
    missing += [name for name in FILE_NAME.findall(prose) if name not in existing_names]
    return sorted(set(missing))


@functools.cache
def _python_file_names() -> frozenset[str]:
    return frozenset(p.name for p in ROOT.rglob("*.py") if not {".venv", ".git"} & set(p.parts))


def test_every_reference_names_something_that_exists():
    problems = {str(path.relative_to(ROOT)): unresolved(_prose(path)) for path in _sources()}
    assert {path: missing for path, missing in problems.items() if missing} == {}


def test_a_reference_to_a_renamed_module_attribute_or_file_is_reported():
    prose = ("Runs in ``addon.jobs.webhook_processing.process_received_events``, not in ``addon.jobs.nothing``; "
             "``addon.workers.NO_SUCH``; see addon/jobs/gone.py, store/gone.py and gone_module.py; "
             "served at https://addon.example.com.")
    assert unresolved(prose) == ["addon.jobs.nothing", "addon.workers.NO_SUCH", "addon/jobs/gone.py",
                                 "gone_module.py", "store/gone.py"]
