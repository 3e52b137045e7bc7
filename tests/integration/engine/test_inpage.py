"""The page's in-memory network, on CPython: the transports alone, then the whole engine.

In a browser (Pyodide) the runtime's loop gets this network so that the
embedded server can listen in the page. The network itself is plain asyncio,
so here it runs on ordinary loops: first with small protocols written in the
test, then installed on the runtime's own loop, where our real server and our
real client talk through it with the same engine as over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter import BusinessError, CloseResult, WebSocketServer, createWebSocket
from ohws_jupyter import createWebSocketServer as create_server
from ohws_jupyter.engine import inpage
from ohws_jupyter.engine.runtime import get_runtime
from tests.helpers import Recorder

TIMEOUT = 10


class Peer(asyncio.Protocol):
    """Records what a transport delivers, in order."""

    def __init__(self, name: str, *, keep_open_on_eof: bool = False) -> None:
        self.name = name
        self.keep_open_on_eof = keep_open_on_eof
        self.transport: Any = None
        self.events: list[tuple[str, Any]] = []
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append(("made", None))

    def data_received(self, data: bytes) -> None:
        self.events.append(("data", data))

    def eof_received(self) -> bool:
        self.events.append(("eof", None))
        return self.keep_open_on_eof

    def pause_writing(self) -> None:
        self.events.append(("pause_writing", None))

    def resume_writing(self) -> None:
        self.events.append(("resume_writing", None))

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("lost", exc))
        if not self.lost.done():
            self.lost.set_result(exc)

    def data(self) -> bytes:
        return b"".join(d for kind, d in self.events if kind == "data")


async def pair(
    **server_kwargs: Any,
) -> tuple[inpage.InPageNetwork, Peer, Peer, inpage.InPageServer]:
    net = inpage.InPageNetwork(asyncio.get_running_loop())
    accepted: list[Peer] = []

    def factory() -> Peer:
        peer = Peer("server", **server_kwargs)
        accepted.append(peer)
        return peer

    server = await net.create_server(factory, "127.0.0.1", 0)
    _, client = await net.create_connection(lambda: Peer("client"), "127.0.0.1", server.port)
    return net, client, accepted[0], server  # type: ignore[return-value]


async def settle(condition: Any, what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


# -- the transports ---------------------------------------------------------------------
def test_bytes_arrive_in_order_in_later_turns_never_inside_write() -> None:
    async def main() -> None:
        _, client, server, _ = await pair()
        client.transport.write(b"one ")
        client.transport.write(b"two")
        assert server.data() == b""  # not delivered inside write()
        await settle(lambda: server.data() == b"one two", "delivery")
        server.transport.write(b"back")
        await settle(lambda: client.data() == b"back", "the reply")
        assert client.transport.get_extra_info("peername") == ("127.0.0.1", 49152)
        port = client.transport.get_extra_info("sockname")[1]
        assert server.transport.get_extra_info("peername") == ("127.0.0.1", port)

    asyncio.run(main())


def test_a_paused_reader_holds_the_writer_back_and_gets_everything_after() -> None:
    async def main() -> None:
        _, client, server, _ = await pair()
        server.transport.pause_reading()
        big = bytes(range(256)) * 1024  # 256 KiB: past the 64 KiB high mark
        client.transport.write(big)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert server.data() == b""
        assert client.transport.get_write_buffer_size() == len(big)
        assert ("pause_writing", None) in client.events
        server.transport.resume_reading()
        await settle(lambda: server.data() == big, "the held bytes")
        assert client.transport.get_write_buffer_size() == 0
        assert ("resume_writing", None) in client.events

    asyncio.run(main())


def test_close_delivers_what_was_written_then_the_end_on_both_sides() -> None:
    async def main() -> None:
        _, client, server, _ = await pair()
        client.transport.write(b"last words")
        client.transport.close()
        assert await asyncio.wait_for(client.lost, TIMEOUT) is None
        # eof_received() returned False: the server's end closes itself, as asyncio's do.
        assert await asyncio.wait_for(server.lost, TIMEOUT) is None
        assert [k for k, _ in server.events] == ["made", "data", "eof", "lost"]
        assert server.data() == b"last words"

    asyncio.run(main())


def test_write_eof_is_a_half_close() -> None:
    async def main() -> None:
        _, client, server, _ = await pair(keep_open_on_eof=True)
        client.transport.write_eof()
        await settle(lambda: ("eof", None) in server.events, "the EOF")
        server.transport.write(b"still talking")
        await settle(lambda: client.data() == b"still talking", "data after the EOF")
        server.transport.close()
        assert await asyncio.wait_for(server.lost, TIMEOUT) is None
        await settle(lambda: ("eof", None) in client.events, "the server's EOF")
        assert await asyncio.wait_for(client.lost, TIMEOUT) is None

    asyncio.run(main())


def test_abort_drops_the_buffer_and_resets_the_peer() -> None:
    async def main() -> None:
        _, client, server, _ = await pair()
        server.transport.pause_reading()
        client.transport.write(b"never read")
        client.transport.abort()
        assert await asyncio.wait_for(client.lost, TIMEOUT) is None
        assert isinstance(await asyncio.wait_for(server.lost, TIMEOUT), ConnectionResetError)
        assert server.data() == b""

    asyncio.run(main())


def test_addresses_ports_and_refusals() -> None:
    async def main() -> None:
        net = inpage.InPageNetwork(asyncio.get_running_loop())
        first = await net.create_server(asyncio.Protocol, "127.0.0.1", 0)
        second = await net.create_server(asyncio.Protocol, "0.0.0.0", 0)
        assert (first.port, second.port) == (inpage.FIRST_PORT, inpage.FIRST_PORT + 1)
        assert net.listening("localhost", first.port) and net.listening("[::1]", second.port)
        assert not net.listening("10.0.0.1", first.port)
        with pytest.raises(OSError) as in_use:
            await net.create_server(asyncio.Protocol, "127.0.0.1", first.port)
        assert in_use.value.errno == errno.EADDRINUSE
        with pytest.raises(OSError, match="cannot assign"):
            await net.create_server(asyncio.Protocol, "192.0.2.1", 8080)
        with pytest.raises(OSError, match="ws:// only"):
            await net.create_server(asyncio.Protocol, "127.0.0.1", 0, ssl=object())
        first.close()
        await first.wait_closed()
        assert not net.listening("127.0.0.1", first.port)
        with pytest.raises(ConnectionRefusedError):
            await net.create_connection(asyncio.Protocol, "127.0.0.1", first.port)

    asyncio.run(main())


# -- the engine on both ends ------------------------------------------------------------------
@pytest.fixture
def page_network() -> Iterator[inpage.InPageNetwork]:
    """The runtime's loop with the page's network, as in a browser; TCP again afterwards."""
    runtime = get_runtime()
    runtime.call_soon(lambda: None)  # start the I/O loop
    loop = runtime.loop
    assert loop is not None

    async def install() -> inpage.InPageNetwork:
        return inpage.install(loop)

    net = runtime.submit(install()).result(TIMEOUT)
    try:
        yield net
    finally:

        async def uninstall() -> None:
            inpage.uninstall(loop)

        runtime.submit(uninstall()).result(TIMEOUT)


@contextlib.contextmanager
def serving(mode: str, **config: Any) -> Iterator[WebSocketServer]:
    server = create_server()
    server.start({"serverPort": 0, "mode": mode, **config}).result(TIMEOUT)
    try:
        yield server
    finally:
        server.stop().result(TIMEOUT)


def test_the_embedded_server_listens_in_the_page_not_on_a_socket(
    page_network: inpage.InPageNetwork,
) -> None:
    with serving("echo") as server:
        assert server.url == f"ws://127.0.0.1:{server.port}"
        assert page_network.listening("127.0.0.1", server.port)
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), 1):
            pass  # nothing listens on the machine's port: the server is in memory


def test_echo_in_4k_pieces_with_masking_and_compression(page_network: inpage.InPageNetwork) -> None:
    with serving("echo") as server:
        ws = createWebSocket()
        rec = Recorder(ws)
        assert ws.connect(server.url).result(TIMEOUT) is True
        assert ws.extensions.startswith("permessage-deflate")
        ws.send("é" * 5000).result(TIMEOUT)
        rec.wait("dataEnd")
        assert [len(p.encode()) for p in rec.values("message")] == [4096, 4096, 1808]
        ws.send(bytes(range(256)) * 100).result(TIMEOUT)
        rec.wait("dataEnd", 2)
        assert b"".join(rec.values("message")[3:]) == bytes(range(256)) * 100
        assert server.clients()[0].messages_in == 2
        assert ws.stats.wireBytesOut > 0 and ws.stats.wireBytesIn > 0
        ws.close({"code": 4000, "reason": "done"}).result(TIMEOUT)
        assert rec.wait("close")[0][-1] == CloseResult(4000, "done")


def test_broadcast_reaches_every_client(page_network: inpage.InPageNetwork) -> None:
    with serving("broadcast") as server:
        clients = [createWebSocket() for _ in range(3)]
        recorders = [Recorder(ws) for ws in clients]
        for ws in clients:
            ws.connect(server.url).result(TIMEOUT)
        clients[0].send("to all").result(TIMEOUT)
        for rec in recorders:
            assert rec.wait("message")[0][-1] == "to all"
        for ws in clients:
            ws.close().result(TIMEOUT)


def test_lab_commands_close_drop_bad_utf8_and_no_ping(page_network: inpage.InPageNetwork) -> None:
    with serving("lab") as server:

        def session(command: str, **options: Any) -> Recorder:
            ws = createWebSocket()
            rec = Recorder(ws)
            ws.connect(server.url, {"wholeMessages": True, **options}).result(TIMEOUT)
            ws.send(command).result(TIMEOUT)
            rec.wait("close")
            return rec

        assert session("/close 4001 kicked").values("close") == [CloseResult(4001, "kicked")]
        dropped = session("/drop")
        assert dropped.values("close")[0].code == 1006
        assert dropped.names()[-2:] == ["error", "close"]
        assert session("/badutf8").values("close")[0].code == 1007
        assert session("/bytes 100000", maxMessageSize=65536).values("close")[0].code == 1009
        silent = session("/noping", pingInterval=0.3, pongTimeout=0.3)
        assert "keepalive" in silent.values("error")[0].message


def test_headers_and_subprotocols_cross_the_in_page_handshake(
    page_network: inpage.InPageNetwork,
) -> None:
    with serving("echo", protocol="chat") as server:
        seen: list[Any] = []
        server.on("connect", seen.append)
        ws = createWebSocket()
        headers = ws.once("headerReceive")
        ws.connect(server.url, {"protocol": ["superchat", "chat"], "header": {"X-Lesson": "4"}})
        assert headers.result(TIMEOUT)["Sec-WebSocket-Protocol"] == "chat"
        assert ws.protocol == "chat"
        assert seen[0].clientIP == "127.0.0.1"
        ws.close().result(TIMEOUT)


def test_server_refusals_keep_their_codes(page_network: inpage.InPageNetwork) -> None:
    with serving("echo") as server:
        other = create_server()
        with pytest.raises(BusinessError) as in_use:
            other.start({"serverPort": server.port}).result(TIMEOUT)
        assert in_use.value.code == 2302007
    elsewhere = create_server()
    with pytest.raises(BusinessError) as address:
        elsewhere.start({"serverIP": "192.0.2.1", "serverPort": 8080}).result(TIMEOUT)
    assert address.value.code == 2302004


def test_a_stopped_server_refuses_connections(page_network: inpage.InPageNetwork) -> None:
    with serving("echo") as server:
        url = server.url
    ws = createWebSocket()
    with pytest.raises(BusinessError) as info:
        ws.connect(url).result(TIMEOUT)
    assert info.value.code == 200 and "refused" in info.value.message
