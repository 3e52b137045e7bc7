"""The server's remaining device behaviours under both profiles, with real clients on
127.0.0.1: ``close`` options, the keepalive, a second ``start`` and the ``'error'`` value.

Each behaviour has its source line in docs/porting.md.
"""

from __future__ import annotations

import socket
import warnings
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.frames import CLOSE, PING, Frame
from websockets.uri import parse_uri

from ohws_jupyter import BusinessError, PortabilityWarning, createWebSocket, createWebSocketServer
from tests.helpers.profile_peers import TIMEOUT

LINK_DOWN = "The link is down"
PROFILES = ("seed", "device")
CONFIG = {"serverPort": 0, "maxConcurrentClientsNumber": 10, "maxConnectionsForOneClient": 10}
pytestmark = pytest.mark.usefixtures("fresh_profile")  # seed default, no warning shown yet


class RawClient:
    """A client on a plain socket over websockets' sans-I/O protocol; it answers pings
    only if told to, so a test sees the server's keepalive from the wire."""

    def __init__(self, url: str, answer_pings: bool) -> None:
        self.answer = answer_pings
        self.proto = ClientProtocol(parse_uri(url))
        uri = parse_uri(url)
        self.sock = socket.create_connection((uri.host, uri.port), timeout=TIMEOUT)
        self.proto.send_request(self.proto.connect())
        self._flush(True)
        while self.proto.handshake_exc is None and not self.proto.events_received():
            self._feed()
        assert self.proto.handshake_exc is None

    def _flush(self, send: bool) -> None:
        data = b"".join(self.proto.data_to_send())
        if send and data:
            self.sock.sendall(data)

    def _feed(self) -> bool:
        data = self.sock.recv(65536)
        if data:
            self.proto.receive_data(data)
        else:
            self.proto.receive_eof()
        return bool(data)

    def frames(self, count: int = 50) -> list[Frame]:
        """Control frames received until the connection ends (at most ``count`` reads)."""
        got: list[Frame] = []
        for _ in range(count):
            more = self._feed()
            got += [e for e in self.proto.events_received() if isinstance(e, Frame)]
            self._flush(self.answer)
            if not more:
                return got
            if self.answer and len([f for f in got if f.opcode is PING]) >= 3:
                return got
        raise AssertionError(f"the connection did not end after {count} reads: {got}")

    def close(self) -> None:
        self.sock.close()


# -- keepalive -------------------------------------------------------------------------------------
def _keepalive(make_server: Any, name: str, answer: bool) -> tuple[list[Frame], Any]:
    """The control frames a raw client gets from a server that pings every 0.3 s and
    waits 0.3 s for the pong (until it is dropped, or has answered three pings)."""
    server, events = make_server(name, {**CONFIG, "pingInterval": 0.3, "pongTimeout": 0.3})
    client = RawClient(server.url, answer_pings=answer)
    try:
        return client.frames(), events
    finally:
        client.close()


@pytest.mark.parametrize("name", PROFILES)
def test_a_client_that_never_answers_a_ping(name: str, make_server: Any) -> None:
    frames, events = _keepalive(make_server, name, answer=False)
    assert frames[0].opcode is PING
    (info, value) = events.wait("close")[0]
    (err,) = [e[0] for e in events.of("error")]
    if name == "device":
        # Dropped without a close frame; the server's error carries its code alone.
        assert [f.opcode for f in frames] == [PING]
        assert (value.code, value.closeReason) == (0, LINK_DOWN)
        assert err.to_dict() == {"code": 200}
    else:
        assert frames[-1].opcode is CLOSE
        assert value.code == 1011
        assert err.data == info and err.to_dict()["message"]


@pytest.mark.parametrize("name", PROFILES)
def test_a_client_that_answers_stays(name: str, make_server: Any) -> None:
    frames, events = _keepalive(make_server, name, answer=True)
    assert [f.opcode for f in frames] == [PING, PING, PING]
    events.wait("close")  # only once the client went away
    assert events.names()[:1] == ["connect"]


def test_the_keepalive_defaults(make_server: Any) -> None:
    seed_server, _ = make_server("seed", CONFIG)
    device_server, _ = make_server("device", CONFIG)
    assert (seed_server.config.pingInterval, seed_server.config.pongTimeout) == (None, None)
    with pytest.raises(BusinessError) as info:
        createWebSocketServer(profile="device").start({**CONFIG, "pingInterval": -1}).result(
            TIMEOUT
        )
    assert info.value.code == 401
    assert device_server.config.closeTimeout == 5 and seed_server.config.closeTimeout == 10


# -- close(connection, options) --------------------------------------------------------------------
@pytest.mark.parametrize(
    "options", [{"code": 1000}, {"reason": "bye"}, {"code": "1000", "reason": "x"}]
)
@pytest.mark.parametrize("name", PROFILES)
def test_server_close_options_without_code_and_reason(
    name: str, options: dict, make_server: Any
) -> None:
    server, events = make_server(name, CONFIG)
    ws = createWebSocket(profile=name)
    ws.connect(server.url).result(TIMEOUT)
    (conn,) = events.wait("connect")[0]
    if name == "device":
        with pytest.raises(BusinessError) as info:
            server.close(conn, options).result(TIMEOUT)
        assert (info.value.code, info.value.message) == (401, "Parameter error")
        assert "numeric code and a string reason" in info.value.hint
        assert server.close(conn, {"code": 1000, "reason": "bye"}).result(TIMEOUT) is True
    elif isinstance(options.get("code", 1000), int):
        with pytest.warns(PortabilityWarning, match="numeric code and a string reason"):
            assert server.close(conn, options).result(TIMEOUT) is True
    else:
        with pytest.raises(BusinessError) as info:
            server.close(conn, options).result(TIMEOUT)
        assert info.value.code == 401
        server.close(conn, {"code": 1000, "reason": "bye"}).result(TIMEOUT)
    events.wait("close")


# -- start() while running -------------------------------------------------------------------------
@pytest.mark.parametrize("name", PROFILES)
def test_start_while_running(name: str, make_server: Any) -> None:
    server, _ = make_server(name, CONFIG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PortabilityWarning)
        with pytest.raises(BusinessError) as info:
            server.start({**CONFIG, "serverPort": server.port}).result(TIMEOUT)
    if name == "device":
        assert (info.value.code, info.value.message) == (2302007, "Websocket port already occupied")
    else:
        assert info.value.code == 2302999
    assert server.state.name == "RUNNING"


# -- the 'error' value of a refused client ---------------------------------------------------------
@pytest.mark.parametrize("name", PROFILES)
def test_the_error_of_a_dropped_client(name: str, make_server: Any) -> None:
    server, events = make_server(name, CONFIG)
    client = RawClient(server.url, answer_pings=False)
    (info,) = events.wait("connect")[0]
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # a reset: the link is lost
    events.wait("close")
    (err,) = [e[0] for e in events.of("error")]
    if name == "device":
        assert err.to_dict() == {"code": 200}
        assert (err.message, err.data) == ("", None) and err.hint
    else:
        assert err.to_dict() == {"code": 200, "message": err.message, "data": info}
