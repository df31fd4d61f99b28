"""Code that makes one Clockify call by hand: curl, Python (``requests``) and JavaScript (``fetch``).

API Studio offers these for every call. They call Clockify directly with the user's own API key
(``X-Api-Key``, left as the ``API_KEY_PLACEHOLDER``), because the sidebar's add-on token expires
within 30 minutes. The URL is built by ``requests`` itself, the way the add-on's client builds it,
and the body is the exact JSON text the add-on would send, so a snippet reproduces the call byte
for byte apart from the credential header.
"""

from __future__ import annotations

import json
import pprint
import shlex
from dataclasses import dataclass
from typing import Any, cast

from requests.models import PreparedRequest

API_KEY_PLACEHOLDER = "<your API key>"


@dataclass(frozen=True)
class SnippetCall:
    """One call as it goes on the wire: method, full URL (query included) and JSON body (None: none)."""

    method: str
    url: str
    body: Any = None

    @classmethod
    def build(cls, method: str, base_url: str, path: str, query_pairs: list[tuple[str, str]],
              body: Any = None) -> SnippetCall:
        """The call to ``base_url`` + ``path`` with ``query_pairs`` encoded as ``requests`` does."""
        prepared = PreparedRequest()
        prepared.prepare_url(base_url.rstrip("/") + path, query_pairs or None)
        return cls(method.upper(), cast(str, prepared.url), body)  # prepare_url always sets it

    @property
    def body_text(self) -> str | None:
        """The JSON text of the body, exactly as ``requests`` encodes ``json=``."""
        return None if self.body is None else json.dumps(self.body, allow_nan=False)


def curl(call: SnippetCall) -> str:
    """A shell command (POSIX quoting)."""
    lines = [f"curl -X {call.method} {shlex.quote(call.url)}", f"-H {shlex.quote('X-Api-Key: ' + API_KEY_PLACEHOLDER)}"]
    if call.body_text is not None:
        lines += [f"-H {shlex.quote('Content-Type: application/json')}", f"--data-raw {shlex.quote(call.body_text)}"]
    return " \\\n  ".join(lines)


def python(call: SnippetCall) -> str:
    """A Python script using ``requests``; prints the status and the body."""
    lines = ["import requests", "", f"API_KEY = {API_KEY_PLACEHOLDER!r}", "",
             "response = requests.request(", f"    {call.method!r},", f"    {call.url!r},",
             '    headers={"X-Api-Key": API_KEY},']
    if call.body is not None:
        literal = pprint.pformat(call.body, indent=4, width=100, sort_dicts=False).replace("\n", "\n    ")
        lines.append(f"    json={literal},")
    lines += ["    timeout=30,", ")", "print(response.status_code)", "print(response.text)", ""]
    return "\n".join(lines)


def javascript(call: SnippetCall) -> str:
    """JavaScript with ``fetch`` (browsers and Node 18+); logs the status and the body."""
    headers = {"X-Api-Key": API_KEY_PLACEHOLDER}
    if call.body_text is not None:
        headers["Content-Type"] = "application/json"
    options = [f"  method: {json.dumps(call.method)},", f"  headers: {json.dumps(headers)},"]
    if call.body_text is not None:
        options.append(f"  body: {json.dumps(call.body_text)},")
    return "\n".join([f"const response = await fetch({json.dumps(call.url)}, {{", *options, "});",
                      "console.log(response.status);", "console.log(await response.text());", ""])


def all_snippets(call: SnippetCall) -> dict[str, str]:
    """``{"curl", "python", "javascript"}`` for ``call``."""
    return {"curl": curl(call), "python": python(call), "javascript": javascript(call)}
