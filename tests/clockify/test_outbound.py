"""The app's per-process client and limiter: settings applied, attempts counted in shared metrics."""

import json

from addon import metrics
from addon.clockify.client import join_url
from addon.outbound import get_client, get_rate_limiter
from addon.testkit.fake_clockify import Fault


def test_one_client_per_process_built_from_settings(app, ctx):
    client = get_client()
    assert client is get_client()
    assert get_rate_limiter() is client.rate_limiter
    settings = app.config["SETTINGS"]
    assert get_rate_limiter().rate == settings.rate_limit_rps
    assert client.max_retries == settings.webhook_request_max_retries
    assert client.hosts.allows("http://127.0.0.1:1234/api") and not client.hosts.allows("http://localhost/api")


def test_attempts_are_counted_by_status(app, ctx, fake_clockify, redis_conn):
    fake_clockify.inject("*/user", Fault.status(503))
    response = get_client().request("GET", join_url(fake_clockify.api_url, "/v1/user"), workspace_id="ws1",
                                    token="t")
    assert response.status == 200
    counts = {json.loads(k)[0]: float(v) for k, v in
              ((k.decode(), v) for k, v in redis_conn.hgetall(metrics.CLOCKIFY_REQUESTS.key).items())}
    assert counts == {"503": 1.0, "200": 1.0}
