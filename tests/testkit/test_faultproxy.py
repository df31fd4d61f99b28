import pytest
import redis

from addon.testkit.faultproxy import FaultProxy


@pytest.fixture
def proxy():
    proxy = FaultProxy("127.0.0.1", 6379).start()
    yield proxy
    proxy.close()


def test_traffic_flows_until_cut_and_after_restore(proxy):
    client = redis.Redis(port=proxy.port, socket_timeout=2, socket_connect_timeout=2, retry=None)
    assert client.ping() is True

    proxy.cut()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=proxy.port, socket_timeout=2, socket_connect_timeout=2, retry=None).ping()

    proxy.restore()
    assert redis.Redis(port=proxy.port, socket_timeout=2).ping() is True
