"""The outbound client against the fake Clockify: host checks, headers, retries, Retry-After."""

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from requests.adapters import BaseAdapter

from addon.clockify.client import (
    ClockifyClient,
    ClockifyHTTPError,
    ClockifyUnavailable,
    HostNotAllowed,
    RateLimitExceeded,
    join_url,
    reports_base,
    retry_after_seconds,
)
from addon.clockify.hosts import HostPolicy
from addon.config import DEFAULT_ALLOWED_API_DOMAINS
from addon.testkit.fake_clockify import Fault

TOKEN = "secret-installation-token-value"


class RecordingLimiter:
    """Stands in for the shared limiter: records slots taken and penalties."""

    def __init__(self, refuse_with: float | None = None):
        self.acquired, self.penalties, self.refuse_with = [], [], refuse_with

    def acquire(self, workspace_id, timeout):
        if self.refuse_with is not None:
            raise RateLimitExceeded(self.refuse_with)
        self.acquired.append((workspace_id, timeout))

    def penalize(self, workspace_id, seconds):
        self.penalties.append((workspace_id, seconds))


class RefusingAdapter(BaseAdapter):
    """Fails the test if the client ever tries to open a connection."""

    def __init__(self):
        super().__init__()
        self.sent = []

    def send(self, request, **kwargs):
        self.sent.append(request.url)
        raise AssertionError(f"connection attempted to {request.url}")

    def close(self):
        pass


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(sleeps):
    def make(**kwargs):
        options = {"hosts": HostPolicy(["*.clockify.me", "clockify.me", "127.0.0.1"]), "max_retries": 3,
                   "backoff_base": 0.01, "backoff_cap": 0.05, "read_timeout": 2.0, "sleep": sleeps.append}
        options.update(kwargs)
        return ClockifyClient(**options)
    return make


def call(client, fake, path, method="GET", **kwargs):
    return client.request(method, join_url(fake.api_url, path), workspace_id="ws1", token=TOKEN, **kwargs)


def test_sends_token_request_id_and_returns_parsed_answer(make_client, fake_clockify):
    fake_clockify.seed("ws1", "projects", [{"id": "p1"}])
    limiter = RecordingLimiter()
    client = make_client(rate_limiter=limiter, request_id=lambda: "req-42")
    response = call(client, fake_clockify, "/v1/workspaces/ws1/projects", params={"page": 1}, wait=7)
    assert response.ok and response.body == [{"id": "p1"}] and response.attempts == 1
    assert response.header("last-page") == "true" and response.duration_ms > 0
    sent = fake_clockify.requests()[0]
    assert sent.headers["x-addon-token"] == TOKEN and sent.headers["x-request-id"] == "req-42"
    assert limiter.acquired == [("ws1", 7)]


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost:5000/api/v1/user",
    "https://evil.example/api/v1/user",
    "https://api.clockify.me.evil.example/api",
    "https://evilclockify.me/api",
    "https://api.clockify.me@evil.example/api",
    "file:///etc/passwd",
])
def test_refused_hosts_are_never_contacted(make_client, url):
    limiter = RecordingLimiter()
    client = make_client(rate_limiter=limiter)
    adapter = RefusingAdapter()
    client.session.mount("http://", adapter)
    client.session.mount("https://", adapter)
    with pytest.raises(HostNotAllowed):
        client.request("GET", url, workspace_id="ws1", token=TOKEN)
    assert adapter.sent == [] and limiter.acquired == []


def test_redirects_are_not_followed(make_client, fake_clockify):
    fake_clockify.inject("*/user", Fault.status(302, body={}, headers={"Location": "http://169.254.169.254/"}))
    response = call(make_client(), fake_clockify, "/v1/user")
    assert response.status == 302
    assert len(fake_clockify.requests()) == 1


def test_5xx_is_retried_then_succeeds(make_client, fake_clockify, sleeps):
    fake_clockify.inject("*/tags", Fault.status(500), Fault.status(502))
    outcomes = []
    response = call(make_client(on_response=outcomes.append), fake_clockify, "/v1/workspaces/ws1/tags")
    assert response.status == 200 and response.attempts == 3
    assert [r.status for r in fake_clockify.requests()] == [500, 502, 200]
    assert outcomes == ["500", "502", "200"]
    assert len(sleeps) == 2 and all(0 <= s <= 0.05 for s in sleeps)


def test_5xx_left_after_the_retries_is_returned(make_client, fake_clockify):
    fake_clockify.inject("*/tags", *[Fault.status(503)] * 4)
    response = call(make_client(), fake_clockify, "/v1/workspaces/ws1/tags")
    assert response.status == 503 and response.attempts == 4
    with pytest.raises(ClockifyHTTPError) as raised:
        response.raise_for_status()
    assert raised.value.status == 503 and "Injected 503" in str(raised.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_other_4xx_are_not_retried(make_client, fake_clockify, sleeps, status):
    fake_clockify.inject("*/tags", Fault.status(status))
    response = call(make_client(), fake_clockify, "/v1/workspaces/ws1/tags")
    assert response.status == status and response.attempts == 1
    assert len(fake_clockify.requests()) == 1 and sleeps == []


def test_429_retry_after_penalizes_the_shared_limiter(make_client, fake_clockify, sleeps):
    fake_clockify.inject("*/tags", Fault.rate_limited("3"))
    limiter = RecordingLimiter()
    response = call(make_client(rate_limiter=limiter), fake_clockify, "/v1/workspaces/ws1/tags")
    assert response.status == 200 and response.attempts == 2
    # The wait happens in the limiter (for every process of the workspace), not in a local sleep.
    assert limiter.penalties == [("ws1", 3.0)] and sleeps == []
    assert len(limiter.acquired) == 2


def test_429_without_limiter_sleeps_retry_after(make_client, fake_clockify, sleeps):
    fake_clockify.inject("*/tags", Fault.rate_limited("2"))
    response = call(make_client(), fake_clockify, "/v1/workspaces/ws1/tags")
    assert response.status == 200 and sleeps == [2.0]


def test_retry_after_is_capped(make_client, fake_clockify, sleeps):
    fake_clockify.inject("*/tags", Fault.rate_limited("86400"))
    call(make_client(retry_after_cap=5.0), fake_clockify, "/v1/workspaces/ws1/tags")
    assert sleeps == [5.0]


def test_retry_after_formats():
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8 <= retry_after_seconds(in_ten, 60) <= 10
    assert retry_after_seconds("1.5", 60) == 1.5
    assert retry_after_seconds("-4", 60) == 0.0
    assert retry_after_seconds("soon", 60) is None
    assert retry_after_seconds(None, 60) is None


def test_connection_errors_and_timeouts_are_retried(make_client, fake_clockify):
    fake_clockify.inject("*/tags", Fault.drop(), Fault.slow(1.0))
    outcomes = []
    response = call(make_client(read_timeout=0.2, on_response=outcomes.append), fake_clockify,
                    "/v1/workspaces/ws1/tags")
    assert response.status == 200 and response.attempts == 3
    assert outcomes == ["connection_error", "timeout", "200"]


def test_unreachable_after_the_retries(make_client, fake_clockify):
    fake_clockify.inject("*/tags", *[Fault.drop()] * 3)
    with pytest.raises(ClockifyUnavailable) as raised:
        call(make_client(max_retries=2), fake_clockify, "/v1/workspaces/ws1/tags")
    assert raised.value.attempts == 3 and TOKEN not in str(raised.value)


def test_no_slot_in_non_blocking_mode_raises_with_retry_after(make_client, fake_clockify):
    with pytest.raises(RateLimitExceeded) as raised:
        call(make_client(rate_limiter=RecordingLimiter(refuse_with=0.4)), fake_clockify, "/v1/user", wait=0)
    assert raised.value.retry_after == 0.4
    assert fake_clockify.requests() == []


def test_json_body_and_per_call_retry_override(make_client, fake_clockify):
    fake_clockify.inject("*/tags", Fault.status(500))
    response = call(make_client(), fake_clockify, "/v1/workspaces/ws1/tags", method="POST",
                    json={"name": "x"}, max_retries=0)
    assert response.status == 500 and response.attempts == 1
    assert fake_clockify.requests()[0].body == {"name": "x"}


def test_tokens_never_reach_the_logs(make_client, fake_clockify, caplog):
    fake_clockify.inject("*/tags", Fault.status(500), Fault.drop())
    with caplog.at_level(logging.DEBUG):
        call(make_client(), fake_clockify, "/v1/workspaces/ws1/tags", params={"q": "x"})
    assert caplog.records
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("url", [
    "https://api.clockify.me/api/v1/user",
    "https://euc1.clockify.me/api/v1/user",
    "https://use2.clockify.me/api/v1/user",
    "https://euw2.clockify.me/api/v1/user",
    "https://apse2.clockify.me/api/v1/user",
    "https://developer.clockify.me/api/v1/user",
    "https://reports.api.clockify.me/v1/workspaces/w/reports/detailed",
    "https://clockify.me/api",
])
def test_default_domains_allow_every_clockify_host(url):
    HostPolicy(DEFAULT_ALLOWED_API_DOMAINS.split(",")).check(url)


def test_host_patterns_ports_and_schemes():
    policy = HostPolicy(["*.clockify.me", "127.0.0.1:8080"])
    assert policy.allows("https://a.b.c.clockify.me/x")
    assert policy.allows("http://127.0.0.1:8080/x")
    assert not policy.allows("http://127.0.0.1:8081/x")
    assert not policy.allows("http://127.0.0.1/x")
    assert not policy.allows("https://clockify.me/x")
    assert HostPolicy(["127.0.0.1"]).allows("http://127.0.0.1:5999/x")
    assert not HostPolicy(["*.clockify.me"], https_only=True).allows("http://api.clockify.me/x")


def test_reports_base_for_each_environment():
    assert reports_base("https://api.clockify.me/api") == "https://reports.api.clockify.me"
    assert reports_base("https://euc1.clockify.me/api") == "https://euc1.clockify.me/report"
    assert reports_base("https://developer.clockify.me/api") == "https://developer.clockify.me/report"
    assert reports_base("https://euc1.clockify.me/api", "https://x.clockify.me/report/") == \
        "https://x.clockify.me/report"


def test_session_ignores_proxy_environment(make_client, monkeypatch, fake_clockify):
    monkeypatch.setenv("HTTP_PROXY", "http://169.254.169.254:3128")
    client = make_client()
    assert client.session.trust_env is False
    assert call(client, fake_clockify, "/v1/user").ok
    assert isinstance(client.session, requests.Session)
