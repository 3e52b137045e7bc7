"""The embedded server judges a client that reads slowly by its progress, not by one message.

The clients are raw sockets on 127.0.0.1 driven by websockets' sans-I/O client
protocol, with a modest receive buffer, so the test decides exactly when and
how fast they read. One echo of 24 MiB puts more than CLIENT_SEND_LIMIT
(16 MiB) in front of the client at once: a client that takes it slowly but
steadily keeps its connection; one that takes nothing is cut off, and the
1008 close frame waits for it behind the echo.
"""

from __future__ import annotations

import socket
import time

from websockets.client import ClientProtocol
from websockets.frames import BINARY, CLOSE, TEXT, Frame
from websockets.protocol import CONNECTING
from websockets.uri import parse_uri

from ohws_jupyter import createWebSocketServer
from ohws_jupyter.server.reports import CLIENT_SEND_LIMIT, CLIENT_STALL_LIMIT
from tests.helpers import Recorder, wait_until

MiB = 1024 * 1024
ECHO = 24 * MiB  # more than CLIENT_SEND_LIMIT, within maxSendSize below
LIMITS = {"mode": "echo", "maxMessageSize": 32 * MiB, "maxSendSize": 32 * MiB}
WAIT = 60.0  # generous: the test's deadlines, never what it measures


class ServerRecorder(Recorder):
    EVENTS = ("connect", "close", "error")


class SlowClient:
    """A client on a raw socket that reads only when, and as much as, the test says."""

    def __init__(self, url: str) -> None:
        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        self.sock = socket.socket()
        # Small enough that the echo mostly waits on the server, large enough
        # for a full-speed TCP window once the client reads.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        self.sock.settimeout(WAIT)
        self.sock.connect(("127.0.0.1", parse_uri(url).port))
        self.protocol.send_request(self.protocol.connect())
        self._write()
        self.frames: list[Frame] = []
        self.eof = False
        while self.protocol.state is CONNECTING:
            self.read(4096)

    def _write(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)
            else:  # the protocol's end of stream: half-close, as a client does
                self.sock.shutdown(socket.SHUT_WR)

    def send(self, payload: bytes) -> None:
        self.protocol.send_binary(payload)
        self._write()

    def read(self, size: int) -> None:
        """One ``recv`` of at most ``size`` bytes; frames land in ``frames``."""
        data = self.sock.recv(size)
        if not data:
            self.eof = True
            self.protocol.receive_eof()
        else:
            self.protocol.receive_data(data)
        self.frames += [e for e in self.protocol.events_received() if isinstance(e, Frame)]
        self._write()  # the answer to a close frame, as a client gives it

    def messages(self) -> list[bytes]:
        """The data frames' payloads (the server's keepalive pings left out)."""
        return [f.data for f in self.frames if f.opcode in (TEXT, BINARY)]

    def received(self) -> int:
        return sum(map(len, self.messages()))

    def close(self) -> None:
        self.sock.close()


def _server(**config):
    server = createWebSocketServer()
    server.start({"serverPort": 0, **LIMITS, **config}).result(10)
    return server, ServerRecorder(server)


def test_a_slow_but_steady_reader_gets_a_large_echo_whole():
    assert ECHO > CLIENT_SEND_LIMIT
    server, srec = _server()
    client = SlowClient(server.url)
    try:
        srec.wait("connect", timeout=WAIT)
        payload = bytes(range(256)) * (ECHO // 256)
        client.send(payload)
        # About 2 MiB/s: the echo takes longer than one CLIENT_STALL_LIMIT
        # period to read, so the server judges the client more than once.
        deadline = time.monotonic() + WAIT + 2 * CLIENT_STALL_LIMIT
        while client.received() < ECHO and not client.eof and time.monotonic() < deadline:
            client.read(16 * 1024)
            time.sleep(0.01)  # the client's reading pace (what is under test), not a wait
        assert not client.eof, [(f.opcode, f.data[:60]) for f in client.frames[-1:]]
        assert client.messages() == [payload]
        assert srec.of("error") == []
        # Still open: an ordinary closing handshake completes.
        client.protocol.send_close(1000, "done")
        client._write()
        while not client.eof:
            client.read(4096)
        assert client.frames[-1].opcode is CLOSE
        closes = srec.wait("close", timeout=WAIT)
        assert [result.code for _, result in closes] == [1000]
        assert srec.of("error") == []
    finally:
        client.close()
        server.stop().result(30)


def test_a_client_that_stops_reading_is_cut_off_with_a_1008_close_frame_first():
    server, srec = _server(closeTimeout=WAIT)  # the test reads 24 MiB before answering
    closing: list = []
    server.watch(lambda info, record: record.kind == "closing" and closing.append(record))
    client = SlowClient(server.url)
    try:
        srec.wait("connect", timeout=WAIT)
        payload = b"\x5a" * ECHO
        client.send(payload)
        # The client reads nothing; after CLIENT_STALL_LIMIT s without progress
        # the server gives up on it and queues its close frame behind the echo.
        wait_until(lambda: closing, WAIT, "the server's 1008 close")
        assert [(r.code, r.reason) for r in closing] == [
            (1008, "the client is not reading what the server sends")
        ]
        assert srec.of("close") == []  # the transport waits for the close frame to go out
        while not client.eof:
            client.read(256 * 1024)
        assert client.messages() == [payload]  # what was queued comes first
        last = client.frames[-1]
        assert last.opcode is CLOSE and int.from_bytes(last.data[:2], "big") == 1008
        assert last.data[2:] == b"the client is not reading what the server sends"
        closes = srec.wait("close", timeout=WAIT)
        assert [result.code for _, result in closes] == [1008]
        ((err,),) = srec.wait("error", timeout=WAIT)
        assert "took none of them" in err.message and "1008" in err.message
    finally:
        client.close()
        server.stop().result(30)
