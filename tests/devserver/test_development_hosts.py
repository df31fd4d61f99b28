"""Development reaches a fake Clockify on this machine without configuration; no other
environment gains a loopback host."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from addon.clockify.hosts import HostPolicy
from addon.config import load_settings

KEY = Fernet.generate_key().decode()
LOOPBACK = ["http://127.0.0.1:8025/api", "http://localhost:5001/api", "http://127.0.0.1/api"]
ELSEWHERE = ["http://10.0.0.1/api", "http://127.0.0.2:8025/api", "http://localhost.example.com/api"]


def _policy(env: str, **extra) -> HostPolicy:
    environ = {"ADDON_ENV": env, "TOKEN_ENCRYPTION_KEY": KEY, **extra}
    if env == "production":
        environ.update(BASE_URL="https://addon.example.com", DATABASE_URL="postgresql://u@127.0.0.1:1/x",
                       REDIS_URL="redis://127.0.0.1:1/0")
    return HostPolicy(load_settings(environ, "/tmp").allowed_api_domains)


@pytest.mark.parametrize("url", LOOPBACK)
def test_development_allows_loopback_hosts(url):
    assert _policy("development").allows(url)


@pytest.mark.parametrize("url", ELSEWHERE)
def test_development_allows_nothing_else_beyond_the_variable(url):
    assert not _policy("development").allows(url)


@pytest.mark.parametrize("env", ["test", "production"])
@pytest.mark.parametrize("url", LOOPBACK)
def test_other_environments_do_not_allow_loopback(env, url):
    assert not _policy(env).allows(url)
    assert _policy(env).allows("https://api.clockify.me/api")
