"""The proxy option against a real HTTP CONNECT proxy on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ohws_jupyter import BusinessError, HttpProxy, createWebSocket
from tests.helpers import ConnectProxy, Recorder, running_server


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    p = ConnectProxy().start()
    yield p
    p.stop()


def _roundtrip(url: str, options: dict) -> None:
    ws = createWebSocket()
    rec = Recorder(ws)
    ws.connect(url, options).result(10)
    ws.send("via?").result(10)
    rec.wait("dataEnd")
    assert rec.values("message") == ["via?"]
    ws.close().result(10)


def test_http_proxy_tunnels_the_connection(proxy):
    with running_server() as server:
        _roundtrip(server.url, {"proxy": HttpProxy("127.0.0.1", proxy.port)})
        assert proxy.targets == [f"127.0.0.1:{server.port}"]


def test_exclusion_list_goes_direct(proxy):
    with running_server() as server:
        options = {
            "proxy": {"host": "127.0.0.1", "port": proxy.port, "exclusionList": ["127.0.0.1"]}
        }
        _roundtrip(server.url, options)
        assert proxy.targets == []


def test_system_proxy_from_the_environment_and_no_proxy(proxy, monkeypatch):
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
    with running_server() as server:
        _roundtrip(server.url, {})  # 'system' is the default
        assert proxy.targets == [f"127.0.0.1:{server.port}"]
        _roundtrip(server.url, {"proxy": "no-proxy"})
        assert len(proxy.targets) == 1


def test_a_dead_proxy_is_a_connection_error():
    ws = createWebSocket()
    with running_server() as server, pytest.raises(BusinessError) as info:
        ws.connect(server.url, {"proxy": HttpProxy("127.0.0.1", 9)}).result(10)
    assert info.value.code == 200


@pytest.mark.parametrize(
    "proxy",
    [
        "socks5://127.0.0.1:1080",
        {"host": "", "port": 8080},
        {"host": "127.0.0.1", "port": 0},
        {"host": "127.0.0.1", "port": "8080"},
        {"host": "127.0.0.1", "port": 8080, "exclusionList": "localhost"},
        {"host": "127.0.0.1"},
    ],
)
def test_bad_proxy_values_are_401(proxy):
    with pytest.raises(BusinessError) as info:
        createWebSocket().connect("ws://127.0.0.1:9", {"proxy": proxy}).result(5)
    assert info.value.code == 401
