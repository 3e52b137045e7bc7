"""The page's own network: TCP-like connections in memory, for a browser (Pyodide).

A page cannot listen on a port, so in Pyodide the runtime's loop gets
``create_server`` and ``create_connection`` from here: a server "listens" on
``127.0.0.1:PORT`` inside the page, and a connection to that address from the
same kernel gets a pair of in-memory transports, one per end. Both ends are
the ordinary asyncio protocols (the engine's ``Connection``), so everything the
wire carries is real: the HTTP upgrade, masked frames, fragmentation, pings,
closing handshakes.

The transports behave like TCP where the engine can tell: bytes arrive in order
in later turns of the loop, not inside ``write``; a reader that pauses makes
the writer's buffer grow until the writer is told to pause; ``write_eof`` is a
half-close; ``close`` delivers what was written, then the end; ``abort`` drops
it and the peer sees a reset.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
from collections.abc import Callable
from typing import Any

__all__ = [
    "FIRST_PORT",
    "InPageNetwork",
    "InPageServer",
    "InPageTransport",
    "deliveries",
    "install",
    "network",
    "uninstall",
]

#: Ports handed out for port 0 start here (the dynamic range).
FIRST_PORT = 49152
#: Bytes one turn of the loop hands to a reader, as one socket read would.
READ_SIZE = 256 * 1024
#: Write buffer marks (bytes not yet taken by the reader), as asyncio's defaults.
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024

#: Deliveries run so far on any connection of the page (a measure of progress).
deliveries = 0

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_ANY = {"0.0.0.0", "::", ""}


class InPageTransport(asyncio.Transport):
    """One end of an in-memory connection."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.Protocol,
        sockname: tuple[str, int],
        peername: tuple[str, int],
    ) -> None:
        super().__init__({"sockname": sockname, "peername": peername})
        self._loop = loop
        self._protocol = protocol
        self.peer: InPageTransport | None = None
        self._outbox: list[bytes] = []  # written here, not yet read by the peer
        self._out_bytes = 0
        self._eof_pending = False  # write_eof() after what is in the outbox
        self._delivery_scheduled = False
        self._reading = True
        self._writing_paused = False
        self._closing = False
        self._lost = False
        self._eof_received = False
        self._high, self._low = HIGH_WATER, LOW_WATER

    # -- asyncio.BaseTransport -------------------------------------------------------
    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        # asyncio types the argument as any protocol; a stream protocol is what is set here.
        self._protocol = protocol  # type: ignore[assignment]

    def is_closing(self) -> bool:
        return self._closing or self._lost

    def close(self) -> None:
        """Send what is buffered, then end the connection (a FIN)."""
        if self._closing or self._lost:
            return
        self._closing = True
        self._eof_pending = True
        self._schedule_delivery()

    # -- reading ------------------------------------------------------------------------
    def is_reading(self) -> bool:
        return self._reading and not self._lost

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if self._reading:
            return
        self._reading = True
        if self.peer is not None:
            self.peer._schedule_delivery()

    # -- writing ----------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._eof_pending or self._lost:
            return  # as asyncio: writing after close is ignored
        if not data:
            return
        self._outbox.append(bytes(data))
        self._out_bytes += len(data)
        self._schedule_delivery()
        if not self._writing_paused and self._out_bytes > self._high:
            self._writing_paused = True
            self._protocol.pause_writing()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        if self._eof_pending or self._lost:
            return
        self._eof_pending = True
        self._schedule_delivery()

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return self._out_bytes

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = HIGH_WATER if high is None else high
        self._low = self._high // 4 if low is None else low

    def abort(self) -> None:
        """End now: what is buffered is dropped and the peer sees a reset."""
        if self._lost:
            return
        self._outbox.clear()
        self._out_bytes = 0
        self._closing = True
        peer = self.peer
        self._loop.call_soon(self._lose, None)
        if peer is not None and not peer._lost:
            self._loop.call_soon(
                peer._lose, ConnectionResetError(errno.ECONNRESET, "connection reset by peer")
            )

    # -- delivery to the peer (loop callbacks) ---------------------------------------------
    def _schedule_delivery(self) -> None:
        if not self._delivery_scheduled and not self._lost:
            self._delivery_scheduled = True
            self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        global deliveries
        deliveries += 1
        self._delivery_scheduled = False
        if self._lost:
            return
        peer = self.peer
        if peer is None or peer._lost:
            # Nobody reads any more: what is left is dropped, as on a reset socket.
            self._outbox.clear()
            self._out_bytes = 0
            if self._closing:
                self._lose(None)
            return
        if self._outbox:
            if not peer._reading:
                return  # resume_reading() schedules the next delivery
            data = b"".join(self._outbox)
            chunk, rest = data[:READ_SIZE], data[READ_SIZE:]
            self._outbox = [rest] if rest else []
            self._out_bytes = len(rest)
            if self._writing_paused and self._out_bytes <= self._low:
                self._writing_paused = False
                self._protocol.resume_writing()
            peer._protocol.data_received(chunk)
            if self._outbox:
                self._schedule_delivery()  # the next read, in a later turn
                return
        if not self._eof_pending or self._lost:
            return
        if not peer._eof_received and not peer._lost:
            peer._eof_received = True
            if not peer._protocol.eof_received():
                peer.close()  # as asyncio does when eof_received() returns a false value
        if self._closing:
            self._lose(None)  # closed and flushed: this end is done

    def _lose(self, exc: BaseException | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self._outbox.clear()
        self._out_bytes = 0
        # What ends a page connection is an Exception or None, as asyncio expects.
        self._protocol.connection_lost(exc)  # type: ignore[arg-type]


class _Socket:
    """What ``asyncio.Server.sockets`` gives: enough for ``getsockname()``."""

    def __init__(self, address: tuple[str, int]) -> None:
        self._address = address

    def getsockname(self) -> tuple[str, int]:
        return self._address


class InPageServer:
    """A listening address in the page, as ``loop.create_server`` returns it."""

    def __init__(
        self,
        network: InPageNetwork,
        factory: Callable[[], asyncio.Protocol],
        host: str,
        port: int,
    ) -> None:
        self._network = network
        self.factory = factory
        self.host, self.port = host, port
        self.sockets = [_Socket((host, port))]
        self._serving = True
        self._closed = asyncio.get_event_loop().create_future()

    def is_serving(self) -> bool:
        return self._serving

    def close(self) -> None:
        """Stop accepting; connections already made go on, as with asyncio."""
        if self._serving:
            self._serving = False
            self._network._unbind(self)
            if not self._closed.done():
                self._closed.set_result(None)

    async def wait_closed(self) -> None:
        await self._closed

    def __repr__(self) -> str:
        return f"<InPageServer {self.host}:{self.port}{'' if self._serving else ' closed'}>"


class InPageNetwork:
    """The addresses servers listen on in this page, and connections to them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._servers: dict[int, InPageServer] = {}
        self._ports = itertools.count(FIRST_PORT)
        self._client_ports = itertools.count(FIRST_PORT + 8192)

    def listening(self, host: str | None, port: int | None) -> bool:
        """Whether a server in the page listens where ``host:port`` points."""
        return self._find(host, port) is not None

    def _find(self, host: str | None, port: int | None) -> InPageServer | None:
        if port is None or (host or "").strip("[]").lower() not in _LOOPBACK:
            return None
        server = self._servers.get(port)
        if server is None or not server.is_serving():
            return None
        return server

    async def create_server(
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        host: str | None = None,
        port: int | None = None,
        *,
        ssl: Any = None,
        **kwargs: Any,
    ) -> InPageServer:
        """Listen on ``host:port`` in the page (port 0 or None: a free one)."""
        host = host or "0.0.0.0"
        where = f"{host}:{port}"
        if ssl is not None:
            raise OSError(
                errno.EPROTONOSUPPORT,
                f"a server in the page serves ws:// only: a browser cannot serve TLS ({where})",
            )
        if host.strip("[]").lower() not in _LOOPBACK | _ANY:
            raise OSError(errno.EADDRNOTAVAIL, f"cannot assign requested address {host}")
        if port:
            if port in self._servers:
                raise OSError(errno.EADDRINUSE, f"address already in use: {where}")
        else:
            port = next(p for p in self._ports if p not in self._servers)
        server = InPageServer(self, protocol_factory, host, port)
        self._servers[port] = server
        return server

    def _unbind(self, server: InPageServer) -> None:
        if self._servers.get(server.port) is server:
            del self._servers[server.port]

    async def create_connection(
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        host: str | None = None,
        port: int | None = None,
        *,
        ssl: Any = None,
        **kwargs: Any,
    ) -> tuple[InPageTransport, asyncio.Protocol]:
        """Connect to a server listening in the page."""
        server = self._find(host, port)
        if server is None:
            raise ConnectionRefusedError(
                errno.ECONNREFUSED, f"no server in this page listens on {host}:{port}"
            )
        if ssl is not None:
            raise ConnectionResetError(
                errno.ECONNRESET, "a server in the page speaks ws:// only, not wss:// (TLS)"
            )
        client_address = ("127.0.0.1", next(self._client_ports))
        server_address = ("127.0.0.1", server.port)
        client_protocol = protocol_factory()
        server_protocol = server.factory()
        client_end = InPageTransport(self.loop, client_protocol, client_address, server_address)
        server_end = InPageTransport(self.loop, server_protocol, server_address, client_address)
        client_end.peer, server_end.peer = server_end, client_end
        # The server side first: what the client writes on connect must find it ready.
        server_protocol.connection_made(server_end)
        client_protocol.connection_made(client_end)
        return client_end, client_protocol


_NETWORK: InPageNetwork | None = None


def install(loop: asyncio.AbstractEventLoop) -> InPageNetwork:
    """Give ``loop`` the page's network: its ``create_server`` and ``create_connection``."""
    global _NETWORK
    if _NETWORK is None or _NETWORK.loop is not loop:
        _NETWORK = InPageNetwork(loop)
        # Replaced on this one loop, which has no sockets; the page's versions take
        # fewer forms than asyncio's overloads declare.
        loop.create_server = _NETWORK.create_server  # type: ignore[method-assign,assignment]
        loop.create_connection = _NETWORK.create_connection  # type: ignore[method-assign,assignment]
    return _NETWORK


def uninstall(loop: asyncio.AbstractEventLoop) -> None:
    """Give ``loop`` its own ``create_server`` and ``create_connection`` back."""
    global _NETWORK
    if _NETWORK is not None and _NETWORK.loop is loop:
        del loop.create_server, loop.create_connection  # the instance's, not the class's
        _NETWORK = None


def network() -> InPageNetwork | None:
    """The page's network, once the runtime has started in a browser."""
    return _NETWORK
