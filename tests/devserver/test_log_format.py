"""LOG_FORMAT: one plain line per event on stderr for a person (the development default), JSON on
stdout for machines (every other environment's default); never a colour code inside a line."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from addon.config import ConfigError, log_format
from addon.logs import REDACTED, configure_logging, early_log_format, logging_config
from addon.testkit.processes import ROOT, clean_env, command
from addon.testkit.signing import Signer, generate_private_key

JWT = Signer(generate_private_key(), "k").make_token(workspaceId="ws")
ANSI_LINE = f"\x1b[32mPOST /ui?auth_token={JWT} HTTP/1.1\x1b[0m"


@pytest.mark.parametrize(("value", "env", "expected"), [
    (None, "development", "text"), (None, "test", "json"), (None, "production", "json"),
    ("json", "development", "json"), ("TEXT", "production", "text"), ("text", "test", "text"),
])
def test_format_by_environment(value, env, expected):
    assert log_format(value, env) == expected


@pytest.mark.parametrize("value", ["yaml", "plain", "jsonl", "1"])
def test_an_unknown_format_names_the_variable(value):
    with pytest.raises(ConfigError, match="^LOG_FORMAT must be one of text, json"):
        log_format(value, "development")


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "json"), ({"ADDON_ENV": "development"}, "text"), ({"ADDON_ENV": "production"}, "json"),
    ({"ADDON_ENV": "production", "LOG_FORMAT": "text"}, "text"), ({"ADDON_ENV": "development", "LOG_FORMAT": "bad"},
                                                                  "text"),
])
def test_start_up_lines_use_the_format_chosen(environ, expected):
    assert early_log_format(environ) == expected


@pytest.mark.parametrize(("fmt", "stream"), [("text", sys.stderr), ("json", sys.stdout)])
def test_default_streams(fmt, stream):
    assert logging_config(fmt=fmt)["handlers"]["stdout"]["stream"] is stream


@pytest.fixture
def capture():
    saved = logging.root.handlers[:], logging.root.level
    stream = io.StringIO()

    def configure(fmt):
        configure_logging("INFO", stream, fmt=fmt)
        return stream

    yield configure
    logging.root.handlers[:] = saved[0]
    logging.root.setLevel(saved[1])


def test_text_is_one_plain_redacted_line_per_event(capture):
    stream = capture("text")
    logging.getLogger("werkzeug").info(ANSI_LINE, extra={"request_id": "r-1", "event_type": "NEW_TAG"})
    logging.getLogger("addon.x").warning("two\nlines")
    first, second = stream.getvalue().splitlines()
    assert "\x1b" not in first and JWT not in first and REDACTED in first
    assert first.split(" ", 1)[1].startswith("INFO    werkzeug: POST /ui?auth_token=")
    assert first.endswith("request_id=r-1 event_type=NEW_TAG")
    assert not first.lstrip().startswith("{") and second.endswith("addon.x: two lines")


def test_text_shows_a_traceback_indented_under_its_line(capture):
    stream = capture("text")
    try:
        raise ValueError("boom " + JWT)
    except ValueError:
        logging.getLogger("addon.x").exception("failed")
    first, *rest = stream.getvalue().splitlines()
    assert first.endswith("addon.x: failed") and rest and all(line.startswith("    ") for line in rest)
    assert JWT not in stream.getvalue()


def test_json_lines_carry_no_colour_codes(capture):
    stream = capture("json")
    logging.getLogger("werkzeug").info(ANSI_LINE)
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert "\x1b" not in record["message"] and "\\u001b" not in line
    assert record["message"].startswith("POST /ui?auth_token=" + REDACTED)


@pytest.mark.slow
def test_a_cli_command_keeps_stdout_for_its_output(tmp_path):
    """``open "$(flask clockify simulate ui)"``: the embedded-mode warning goes to stderr."""
    import subprocess

    result = subprocess.run(
        command("flask", "clockify", "simulate", "ui", "--url", "http://127.0.0.1:1"),
        env=clean_env({"ADDON_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
                       "PYTHONPATH": str(ROOT)}), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("http://127.0.0.1:1/ui?auth_token=")
    assert "REDIS_URL is not set: embedded mode" in result.stderr and "{" not in result.stderr.splitlines()[0]
