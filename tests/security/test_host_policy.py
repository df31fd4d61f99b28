"""The host policy and the connection-time guard, table by table: every confusable URL is refused
before anything is sent, and a socket never opens to a host the policy did not allow, even when
the URL check is bypassed."""

from __future__ import annotations

import socket

import pytest
import requests
from confusable_urls import CONFUSABLE_URLS, TRAP_HOST, confusable_ids
from urllib3.util import parse_url

from addon import create_app
from addon.clockify.client import ClockifyClient, HostNotAllowed, join_url
from addon.clockify.hosts import HostPattern, HostPolicy, Target, valid_host
from addon.clockify.transport import GuardedAdapter
from addon.config import DEFAULT_ALLOWED_API_DOMAINS

TEST_PATTERNS = ["*.clockify.me", "clockify.me", "127.0.0.1"]


@pytest.fixture
def policy():
    return HostPolicy(TEST_PATTERNS)


@pytest.mark.parametrize("template", CONFUSABLE_URLS, ids=confusable_ids())
def test_every_confusable_url_is_refused(policy, no_connections, template):
    with pytest.raises(HostNotAllowed):
        policy.check(no_connections(template))


@pytest.mark.parametrize("template", CONFUSABLE_URLS, ids=confusable_ids())
def test_the_client_sends_nothing_for_a_confusable_url(policy, no_connections, template):
    client = ClockifyClient(hosts=policy, max_retries=0)
    with pytest.raises(HostNotAllowed):
        client.request("GET", join_url(no_connections(template), "/v1/user"), workspace_id="ws", token="t")


@pytest.mark.parametrize(("url", "target"), [
    ("https://api.clockify.me/api", Target("https", "api.clockify.me", 443)),
    ("https://API.Clockify.ME/api", Target("https", "api.clockify.me", 443)),
    ("HTTPS://euc1.clockify.me/api", Target("https", "euc1.clockify.me", 443)),
    ("https://reports.api.clockify.me", Target("https", "reports.api.clockify.me", 443)),
    ("https://developer.clockify.me:8443/api?x=%2F#frag", Target("https", "developer.clockify.me", 8443)),
    ("http://127.0.0.1:5000/api/v1/workspaces/w/projects/a%2Fb", Target("http", "127.0.0.1", 5000)),
    ("https://clockify.me", Target("https", "clockify.me", 443)),
])
def test_clockify_urls_are_allowed_and_read_as_urllib3_reads_them(policy, url, target):
    assert policy.check(url) == target
    parsed = parse_url(url)
    assert (parsed.host, parsed.port or {"http": 80, "https": 443}[parsed.scheme]) == (target.host, target.port)


@pytest.mark.parametrize("url", [
    "https://api.clockify.me/api", "https://euc1.clockify.me/api", "https://use2.clockify.me/report",
    "https://euw2.clockify.me/api", "https://apse2.clockify.me/api", "https://developer.clockify.me/api",
    "https://reports.api.clockify.me", "https://clockify.me/api",
])
def test_default_domains_allow_every_clockify_host(url):
    HostPolicy(DEFAULT_ALLOWED_API_DOMAINS.split(","), https_only=True).check(url)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.2\\.x.clockify.me/api", "backslash"),
    ("http://api.clockify.me@127.0.0.2/api", "credentials"),
    ("http://127%2e0%2e0%2e2/api", "percent-encoding"),
    ("http://127.0.0.2./api", "trailing dot"),
    ("http://\u0430pi.clockify.me/api", "non-ASCII"),
    ("http://127.0.0.2\t.x.clockify.me/api", "whitespace"),
    ("http://[::ffff:127.0.0.2]/api", "IP-literal"),
    ("http://2130706434/api", "ambiguous"),
    ("http://127.0.0.1:99999/api", "port out of range"),
    ("http://127.0.0.1:5000:80/api", "malformed host or port"),
    ("ftp://api.clockify.me/api", "scheme"),
    ("http://127.0.0.2/api", "not in CLOCKIFY_ALLOWED_API_DOMAINS"),
])
def test_each_refusal_says_why(policy, url, reason):
    with pytest.raises(HostNotAllowed) as refused:
        policy.check(url)
    assert reason in refused.value.reason


@pytest.mark.parametrize(("host", "valid"), [
    ("api.clockify.me", True), ("127.0.0.1", True), ("a-b.c", True), ("localhost", True),
    ("api.clockify.me.", False), ("-a.clockify.me", False), ("a..b", False), ("", False), ("a_b.c", False),
    ("127.0.0.01", False), ("2130706433", False), ("0x7f.0.0.1", False), ("127.1", False), ("1.2.3.4.5", False),
    ("x" * 64 + ".me", False), ("API.clockify.me", False),
])
def test_valid_host(host, valid):
    assert valid_host(host) is valid


@pytest.mark.parametrize("pattern", ["", "*.", "exa mple.com", "example.com.", "a:b:c", "*.x.com:0", "h:99999"])
def test_malformed_patterns_are_refused(pattern):
    with pytest.raises(ValueError):
        HostPattern.parse(pattern)


def test_https_only_refuses_http_at_check_and_at_connection():
    policy = HostPolicy(["127.0.0.1"], https_only=True)
    assert not policy.allows("http://127.0.0.1:8080/api")
    assert not policy.allows_connection("http", "127.0.0.1", 8080)
    assert policy.allows_connection("https", "127.0.0.1", 8080)


@pytest.mark.parametrize(("scheme", "host", "port", "allowed"), [
    ("http", "127.0.0.1", 5000, True),
    ("https", "api.clockify.me", 443, True),
    ("http", TRAP_HOST, 80, False),
    ("http", "127.0.0.1.", 5000, False),
    ("http", "2130706433", 5000, False),
    ("http", "::1", 5000, False),
    ("http", "127.0.0.2\\.x.clockify.me", 80, False),
    ("gopher", "127.0.0.1", 70, False),
])
def test_connection_check_table(policy, scheme, host, port, allowed):
    assert policy.allows_connection(scheme, host, port) is allowed


def _session(policy: HostPolicy) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter(policy, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@pytest.mark.parametrize("port", ["80", "443", "{p}"])
def test_the_adapter_refuses_a_socket_the_url_check_never_saw(policy, no_connections, port):
    """The URL check is skipped here (a bare session): only the adapter stands in the way."""
    with _session(policy) as session, pytest.raises(HostNotAllowed, match="connection time"):
        session.get(no_connections(f"http://{TRAP_HOST}:{port}/api"), timeout=2)


def test_the_adapter_refuses_the_host_urllib3_reads_out_of_a_confusable_url(policy, no_connections):
    with _session(policy) as session, pytest.raises(HostNotAllowed, match="connection time"):
        session.get(no_connections("http://127.0.0.2\\.x.clockify.me/api"), timeout=2)


def test_the_adapter_refuses_proxies(policy, no_connections):
    with _session(policy) as session, pytest.raises(HostNotAllowed, match="proxy"):
        session.get("http://127.0.0.1:9/api", proxies={"http": no_connections(f"http://{TRAP_HOST}:{{p}}")},
                    timeout=2)


def test_the_adapter_lets_allowed_hosts_through(policy, fake_clockify):
    with _session(policy) as session:
        assert session.get(join_url(fake_clockify.api_url, "/v1/user"), timeout=5).status_code == 401
    assert len(fake_clockify.requests()) == 1


def test_the_listeners_do_count_connections(listeners):
    """The trap itself can fail a test: a real connection to each port is counted."""
    before = listeners.count()
    for port in (80, 443, listeners.port):
        with socket.create_connection((TRAP_HOST, port), timeout=2):
            pass
    assert listeners.count() == before + 3


def test_the_clients_session_carries_the_guard(policy):
    client = ClockifyClient(hosts=policy)
    for prefix in ("http://", "https://"):
        adapter = client.session.get_adapter(prefix + "x")
        assert isinstance(adapter, GuardedAdapter) and adapter.policy is policy


@pytest.mark.parametrize("patterns", ["api.clockify.me.", "*.clockify.me,2130706433", "0x7f.0.0.1", "127.1:80"])
def test_start_up_refuses_patterns_the_guard_would_refuse(base_overrides, patterns):
    with pytest.raises(SystemExit) as raised:
        create_app({**base_overrides, "CLOCKIFY_ALLOWED_API_DOMAINS": patterns})
    assert str(raised.value.code).startswith("configuration error: CLOCKIFY_ALLOWED_API_DOMAINS")
