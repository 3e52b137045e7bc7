"""The embedded server under both profiles (issue point 9, and points 1, 2, 4, 5, 10 on the
server side), with real clients on 127.0.0.1 and other loopback addresses."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from ohws_jupyter import (
    BusinessError,
    CloseResult,
    PortabilityWarning,
    Promise,
    WebSocketConnection,
    createWebSocket,
    createWebSocketServer,
)
from ohws_jupyter.core import device
from ohws_jupyter.server.config import ServerCloseResult
from tests.helpers import Recorder, wait_until
from tests.helpers.profile_peers import TIMEOUT, RawClient, raw_open, using

pytestmark = pytest.mark.usefixtures("fresh_profile")  # seed, no warning shown yet
LINK_DOWN = "The link is down"
LIMITS = {"maxConcurrentClientsNumber": 10, "maxConnectionsForOneClient": 10}


def _open(url: str, options: Any = None) -> tuple[Any, Recorder]:
    ws = createWebSocket()
    rec = Recorder(ws)
    assert ws.connect(url, options).result(TIMEOUT) is True
    return ws, rec


# -- the config ------------------------------------------------------------------------------------
def test_seed_starts_without_limits_and_warns() -> None:
    server = createWebSocketServer()
    with pytest.warns(PortabilityWarning, match="reads 0, which refuses every client"):
        started = server.start({"serverPort": 0})
    assert started.result(TIMEOUT) is True
    assert server.config.maxConcurrentClientsNumber == 10
    ws, _ = _open(server.url)
    ws.close({"reason": "done"}).result(TIMEOUT)
    server.stop().result(TIMEOUT)
    other = createWebSocketServer()
    with pytest.warns(PortabilityWarning, match="over 10: on a device start"):
        started = other.start({"maxConcurrentClientsNumber": 11, "maxConnectionsForOneClient": 3})
    assert started.result(TIMEOUT) is True
    other.stop().result(TIMEOUT)


def test_device_needs_a_config_and_limits_of_at_most_10() -> None:
    with using("device"):
        server = createWebSocketServer()
        with pytest.raises(BusinessError) as none:
            server.start().result(TIMEOUT)
        assert (none.value.code, none.value.message) == (401, "Parameter error")
        for over in ({"maxConcurrentClientsNumber": 11}, {"maxConnectionsForOneClient": 12}):
            config = {**LIMITS, "serverPort": 0, **over}
            with pytest.raises(BusinessError) as info:
                server.start(config).result(TIMEOUT)
            assert (info.value.code, info.value.message) == (
                2302999,
                "Websocket Unknown Other Error",
            )
            assert "at most 10" in info.value.hint
        assert server.state.name == "STOPPED"


def test_device_with_missing_limits_refuses_every_client(make_server: Any) -> None:
    server, events = make_server("device", {"serverPort": 0})
    assert server.config.maxConcurrentClientsNumber == 0
    ws = createWebSocket()
    rec = Recorder(ws)
    with pytest.raises(BusinessError) as info:
        ws.connect(server.url).result(TIMEOUT)
    assert info.value.code == 200
    assert "open" not in rec.names()
    err = events.wait("error")[0][0]
    assert err.code == 200 and err.data is None
    assert events.of("connect") == []


@pytest.mark.parametrize(
    ("config", "code", "text"),
    [
        ({"serverIP": "not an address"}, 2302004, "Can't listen to the given NIC"),
        ({"serverPort": 70000}, 2302005, "Can't listen to the given Port"),
        ({"serverIP": "192.0.2.1"}, 2302007, "Websocket port already occupied"),
    ],
)
def test_device_start_error_texts(config: dict, code: int, text: str) -> None:
    with using("device"), pytest.raises(BusinessError) as info:
        createWebSocketServer().start({**LIMITS, **config}).result(TIMEOUT)
    assert (info.value.code, info.value.message) == (code, text)


def test_device_port_in_use_is_2302007(make_server: Any) -> None:
    server, _ = make_server("device", {**LIMITS, "serverPort": 0})
    with using("device"), pytest.raises(BusinessError) as info:
        createWebSocketServer().start({**LIMITS, "serverPort": server.port}).result(TIMEOUT)
    assert (info.value.code, info.value.message) == (2302007, "Websocket port already occupied")


# -- limits ----------------------------------------------------------------------------------------
def test_seed_limits_count_connections_and_close_with_1013(make_server: Any) -> None:
    server, events = make_server(
        "seed", {"maxConcurrentClientsNumber": 2, "maxConnectionsForOneClient": 2}
    )
    clients = [RawClient(server.url, f"127.0.0.{n}") for n in (2, 2, 3)]
    try:
        for client in clients[:2]:
            client.open()
        third = clients[2].open()  # opens, then is closed with a reason
        wait_until(lambda: third.close_code is not None, what="the 1013")
        assert third.close_code == 1013 and "maxConcurrentClientsNumber" in third.close_reason
        assert events.of("error") == []
    finally:
        for client in clients:
            client.stop()


def test_device_counts_client_addresses_and_refuses_in_the_handshake(make_server: Any) -> None:
    server, events = make_server(
        "device",
        {"serverPort": 0, "maxConcurrentClientsNumber": 2, "maxConnectionsForOneClient": 2},
    )
    clients = [RawClient(server.url, f"127.0.0.{n}") for n in (2, 2, 3)]
    try:
        for client in clients:
            client.open()  # two connections from one address count as one client
        events.wait("connect", 3)
        assert raw_open(server.url, "127.0.0.4") is not None  # a third address: refused
        assert raw_open(server.url, "127.0.0.2") is not None  # a third from one address
        assert raw_open(server.url, "127.0.0.3") is None  # a second from another: fine
        errors = events.wait("error", 2)
        assert [e[0].code for e in errors] == [200, 200]
        assert all(e[0].data is None for e in errors)
        assert len(events.wait("connect", 4)) == 4
    finally:
        for client in clients:
            client.stop()


def test_device_bans_an_address_that_floods(make_server: Any) -> None:
    server, events = make_server("device", {**LIMITS, "serverPort": 0})
    now = [1_000_000.0]
    device.GUARD.clock = lambda: now[0]
    for _ in range(device.MAX_CONNECTIONS_PER_MINUTE + 1):
        assert raw_open(server.url, "127.0.0.9") is None
    assert raw_open(server.url, "127.0.0.9") is not None  # more than 50 within a minute
    assert raw_open(server.url, "127.0.0.10") is None  # another address is not affected
    now[0] += device.BAN_SECONDS - 1
    assert raw_open(server.url, "127.0.0.9") is not None  # still banned
    now[0] += 2
    assert raw_open(server.url, "127.0.0.9") is None  # the ban is over
    assert len(events.wait("error", 2)) == 2


def test_seed_does_not_ban(make_server: Any) -> None:
    server, events = make_server("seed", {**LIMITS, "serverPort": 0})
    for _ in range(device.MAX_CONNECTIONS_PER_MINUTE + 5):
        assert raw_open(server.url, "127.0.0.11") is None
    assert events.of("error") == []


# -- protocol and extensions -----------------------------------------------------------------------
def test_seed_negotiates_the_protocol_and_compression(make_server: Any) -> None:
    server, _ = make_server("seed", {**LIMITS, "serverPort": 0, "protocol": "chat"})
    ws, _ = _open(server.url, {"protocol": "chat"})
    assert ws.protocol == "chat" and ws.extensions.startswith("permessage-deflate")
    ws.close({"reason": "done"}).result(TIMEOUT)


def test_device_negotiates_neither(make_server: Any) -> None:
    server, events = make_server("device", {**LIMITS, "serverPort": 0, "protocol": "chat"})
    ws = createWebSocket()
    with pytest.raises(BusinessError) as info:
        ws.connect(server.url, {"protocol": "chat"}).result(TIMEOUT)
    assert info.value.code == 200  # dropped during the handshake, without a word
    ws, _ = _open(server.url)  # seed client: offers permessage-deflate
    assert ws.protocol == "" and ws.extensions == ""
    ws.close({"reason": "done"}).result(TIMEOUT)
    events.wait("close")  # events come in order: an error would have come first
    assert len(events.of("connect")) == 1
    assert events.of("error") == []


# -- listeners -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["seed", "device"])
def test_one_listener_per_event(name: str) -> None:
    server = createWebSocketServer(profile=name)
    calls: list[str] = []
    with using(name), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        server.on("messageReceive", lambda m: calls.append(f"first {m.data}"))
        server.on("messageReceive", lambda m: calls.append(f"second {m.data}"))
    portability = [w for w in caught if issubclass(w.category, PortabilityWarning)]
    server.start({**LIMITS, "serverPort": 0}).result(TIMEOUT)
    ws, _ = _open(server.url)
    ws.send("hi").result(TIMEOUT)
    wait_until(lambda: len(calls) >= (2 if name == "seed" else 1), what="the callbacks")
    ws.close({"reason": "done"}).result(TIMEOUT)
    server.stop().result(TIMEOUT)
    if name == "seed":
        assert calls == ["first hi", "second hi"] and len(portability) == 1
    else:
        assert calls == ["second hi"] and portability == []


# -- close, stop, and how ends are reported --------------------------------------------------------
def test_close_codes_reasons_and_the_close_value(make_server: Any) -> None:
    for name, expected, value_type in (
        ("seed", (4000, ""), CloseResult),
        ("device", (1000, "CLOSE_NORMAL"), ServerCloseResult),
    ):
        server, events = make_server(name, {**LIMITS, "serverPort": 0})
        _ws, rec = _open(server.url)
        conn = events.wait("connect")[0][0]
        with using(name), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert server.close(conn, {"code": 4000, "reason": ""}).result(TIMEOUT) is True
        rec.wait("close")
        assert rec.values("close")[0] == CloseResult(*expected), name
        value = events.wait("close")[0][1]
        assert type(value) is value_type
        assert (
            value.code,
            getattr(value, "closeReason", getattr(value, "reason", None)),
        ) == expected
        kinds = [str(w.message) for w in caught if issubclass(w.category, PortabilityWarning)]
        assert len(kinds) == (2 if name == "seed" else 0), kinds


def test_device_close_settles_when_queued(make_server: Any) -> None:
    # closeTimeout 15 s: "when queued" is any time well before the closing handshake ends.
    server, events = make_server("device", {**LIMITS, "serverPort": 0, "closeTimeout": 15})
    client = RawClient(server.url)
    try:
        conn = client.open()

        async def hold() -> None:
            conn.transport.pause_reading()  # our close will go unanswered

        client.run(hold())
        info = events.wait("connect")[0][0]
        with using("device"):
            assert server.close(info, {"code": 1000, "reason": "bye"}).result(10) is True
            assert events.of("close") == []
            with pytest.raises(BusinessError) as twice:
                server.close(info).result(TIMEOUT)
            assert (twice.value.code, twice.value.message) == (
                2302999,
                "Websocket Unknown Other Error",
            )
            with pytest.raises(BusinessError) as sending:
                server.send("late", info).result(TIMEOUT)
            assert (sending.value.code, sending.value.message) == (
                -1,
                "Websocket Unknown Other Error",
            )
        value = events.wait("close", timeout=60)[0][1]
        assert value == ServerCloseResult(1000, "bye")
        assert events.of("error") == []
    finally:
        client.stop()


def test_seed_close_waits_for_the_client(make_server: Any) -> None:
    server, events = make_server("seed", {**LIMITS, "serverPort": 0, "closeTimeout": 2})
    client = RawClient(server.url)
    try:
        conn = client.open()

        async def hold() -> None:
            conn.transport.pause_reading()

        client.run(hold())
        info = events.wait("connect")[0][0]
        closing = server.close(info, {"code": 1000, "reason": "bye"})
        with pytest.raises(TimeoutError):
            closing.result(0.5)
        assert closing.result(TIMEOUT) is True  # once closeTimeout cut the connection
        assert events.wait("close")[0][1] == CloseResult(1000, "bye")
    finally:
        client.stop()


@pytest.mark.parametrize("name", ["seed", "device"])
def test_stop(make_server: Any, name: str) -> None:
    server, events = make_server(name, {**LIMITS, "serverPort": 0})
    _ws, rec = _open(server.url)
    events.wait("connect")
    with using(name):
        stopping = server.stop()
    assert stopping.result(TIMEOUT) is True
    rec.wait("close")
    if name == "device":
        assert rec.values("close")[0] == CloseResult(1001, "server is going away")
        assert events.wait("close")[0][1] == ServerCloseResult(1001, "server is going away")
    else:
        assert rec.values("close")[0] == CloseResult(1001, "server stopping")
        assert events.wait("close")[0][1] == CloseResult(1001, "server stopping")
        assert server.state.name == "STOPPED"


ENDS = {
    # how the client ends: (seed value, seed error?, device value, device error?)
    "drop": ((1006, ""), True, (0, LINK_DOWN), True),
    "close 1001": ((1001, ""), False, (1001, LINK_DOWN), False),
    "close 4000 bye": ((4000, "bye"), False, (4000, "bye"), False),
    # a close frame without a code: the device's server reports a lost link
    "close-empty": ((1005, ""), False, (0, LINK_DOWN), True),
}


@pytest.mark.parametrize("how", list(ENDS))
@pytest.mark.parametrize("name", ["seed", "device"])
def test_how_a_client_end_is_reported(make_server: Any, name: str, how: str) -> None:
    seed_value, seed_err, device_value, device_err = ENDS[how]
    expected, error = (seed_value, seed_err) if name == "seed" else (device_value, device_err)
    server, events = make_server(name, {**LIMITS, "serverPort": 0})
    client = RawClient(server.url)
    try:
        conn = client.open()
        events.wait("connect")

        async def end() -> None:
            if how == "drop":
                conn.transport.abort()
            elif how == "close-empty":
                async with conn.send_context():
                    conn.protocol.send_close()
            else:
                code, _, reason = how[6:].partition(" ")
                await conn.close(int(code), reason)

        client.run(end())
        info, value = events.wait("close")[0]
    finally:
        client.stop()
    reason = value.closeReason if name == "device" else value.reason
    assert (value.code, reason) == expected
    if error:
        assert events.names()[-2:] == ["error", "close"]
        err = events.of("error")[0][0]
        assert err.code == 200
        assert err.data == (None if name == "device" else info)
    else:
        assert events.of("error") == []


# -- listAllConnections and send -------------------------------------------------------------------
def test_list_all_connections(make_server: Any) -> None:
    seed_server, _ = make_server("seed", {**LIMITS, "serverPort": 0})
    device_server, _ = make_server("device", {**LIMITS, "serverPort": 0})
    a, _ = _open(seed_server.url)
    b, _ = _open(device_server.url)
    listed = seed_server.listAllConnections()
    assert isinstance(listed, list) and len(listed) == 1
    with using("device"):
        promise = device_server.listAllConnections()
        assert isinstance(promise, Promise)
        connections = promise.result(TIMEOUT)
        assert len(connections) == 1 and isinstance(connections[0], WebSocketConnection)
        with pytest.raises(BusinessError) as argued:
            device_server.listAllConnections(lambda *a: None).result(TIMEOUT)
        assert argued.value.code == 401
        with pytest.raises(BusinessError) as stopped:
            createWebSocketServer().listAllConnections().result(TIMEOUT)
        assert (stopped.value.code, stopped.value.message) == (
            2302999,
            "Websocket Unknown Other Error",
        )
    for ws in (a, b):
        ws.close({"reason": "done"}).result(TIMEOUT)


@pytest.mark.parametrize("name", ["seed", "device"])
def test_send_to_a_connection_that_is_gone(make_server: Any, name: str) -> None:
    server, _ = make_server(name, {**LIMITS, "serverPort": 0})
    with using(name), pytest.raises(BusinessError) as info:
        server.send("x", WebSocketConnection("127.0.0.1", 1)).result(TIMEOUT)
    assert info.value.code == 2302006
    if name == "device":
        assert info.value.message == "websocket connection does not exist"
    else:
        assert info.value.message.startswith("Websocket connection does not exist: ")


def test_a_ready_made_mode_is_not_warned_about() -> None:
    server = createWebSocketServer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = server.start({"mode": "echo"})
    assert started.result(TIMEOUT) is True
    assert not [w for w in caught if issubclass(w.category, PortabilityWarning)]
    server.stop().result(TIMEOUT)
