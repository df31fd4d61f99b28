"""The host policy remembers the URLs it allowed (``HostPolicy.check`` runs several times per API
Studio call): asking again must give the same answer, for every form of URL, and what one
policy allowed says nothing to another."""

import pytest

from addon.clockify.client_errors import HostNotAllowed
from addon.clockify.hosts import HostPolicy, Target

PATTERNS = ["*.clockify.me", "127.0.0.1:8080"]
ALLOWED = [
    ("https://api.clockify.me/api", Target("https", "api.clockify.me", 443)),
    ("https://API.Clockify.me/api/v1/workspaces/ws1?page=2", Target("https", "api.clockify.me", 443)),
    ("http://reports.api.clockify.me:8443/", Target("http", "reports.api.clockify.me", 8443)),
    ("http://127.0.0.1:8080/api", Target("http", "127.0.0.1", 8080)),
]
REFUSED = [
    "https://clockify.me/api",  # the bare domain is not a subdomain
    "https://api.clockify.me.evil.test/api",
    "https://api.clockify.me@evil.test/api",
    "https://evil.test\\.api.clockify.me/",
    "https://api.clockify.me./api",
    "https://api%2eclockify.me/api",
    "http://[::1]:8080/",
    "http://2130706433:8080/",
    "http://127.0.0.1:8081/api",
    "ftp://api.clockify.me/",
    "https://api.clockify.me /api",
    "",
]


@pytest.mark.parametrize(("url", "target"), ALLOWED)
def test_an_allowed_url_is_allowed_again_with_the_same_target(url, target):
    policy = HostPolicy(PATTERNS)
    assert policy.check(url) == target
    assert policy.check(url) == target


@pytest.mark.parametrize("url", REFUSED)
def test_a_refused_url_is_refused_again_for_the_same_reason(url):
    policy = HostPolicy(PATTERNS)
    with pytest.raises(HostNotAllowed) as first:
        policy.check(url)
    with pytest.raises(HostNotAllowed) as second:
        policy.check(url)
    assert str(second.value) == str(first.value)


@pytest.mark.parametrize(("url", "target"), ALLOWED)
def test_what_one_policy_allowed_another_still_checks(url, target):
    HostPolicy(PATTERNS).check(url)
    with pytest.raises(HostNotAllowed):
        HostPolicy(["*.example.com"]).check(url)
    if target.scheme == "http":
        with pytest.raises(HostNotAllowed):
            HostPolicy(PATTERNS, https_only=True).check(url)
