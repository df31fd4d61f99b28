"""docs/webhooks.md states exactly which events keep which cached collection fresh: its table
and its "refreshed only" list agree with the built-in handlers and the bootstrap's sources."""

from __future__ import annotations

import re

from addon import ROOT
from addon.jobs.bootstrap_plan import all_sources
from addon.webhook_handlers.workspace_data import KINDS

DOC = ROOT / "docs" / "webhooks.md"


def _section() -> str:
    text = DOC.read_text()
    start = text.index("<!-- freshness-table")
    return text[start:text.index("\n\nWith the default subscription", start)]


def test_the_table_names_every_event_of_every_handled_collection():
    rows = re.findall(r"^\| `([a-z-]+)` \| (.+) \|$", _section(), re.MULTILINE)
    documented = {source: set(re.findall(r"`([A-Z_]+)`", events)) for source, events in rows}
    assert documented == {kind.source: set(kind.upsert_events + kind.delete_events) for kind in KINDS}


def test_the_refreshed_only_list_is_every_other_bootstrap_source():
    listed = re.search(r"Refreshed only \(no handler\): (.+?)\.\n", _section().replace("\n", " ") + "\n")
    documented = set(re.findall(r"`([a-z-]+)`", listed.group(1)))
    assert documented == set(all_sources()) - {kind.source for kind in KINDS}
