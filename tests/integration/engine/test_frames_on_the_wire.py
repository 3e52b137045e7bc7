"""Received frames over real sockets: crafted peers on 127.0.0.1 against our client and server.

The peers here are raw sockets that write exactly the bytes a test chooses:
the handshake's end and the first frames in one write (so one read holds both
and the connection must cut between websockets' handshake and the data-frame
splitter), control frames between fragments, and frames the splitter refuses.
What comes back is parsed with websockets' own sans-I/O protocol.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, Close, Frame
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.uri import parse_uri
from websockets.utils import accept_key, generate_key

from ohws_jupyter import createWebSocketServer
from tests.helpers import Recorder


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "the peer closed during the handshake"
        data += chunk
    return data


def read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


class CraftedServer:
    """Accepts one client, answers its handshake and writes ``frames`` in the same write."""

    def __init__(self, frames: bytes) -> None:
        self.frames = frames
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.received: list[Frame] = []  # what the client sent, up to its close frame
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(10)
                request = read_head(conn)
                key = next(
                    line.split(b":", 1)[1].strip().decode()
                    for line in request.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                    + accept_key(key).encode()
                    + b"\r\n\r\n"
                    + self.frames
                )
                # Read the client's frames up to its close frame, then end TCP first,
                # as a server does (RFC 6455 7.1.1).
                proto = ServerProtocol(state=OPEN, max_size=None)
                data = request.partition(b"\r\n\r\n")[2]
                for _ in range(1000):  # bounded: a few reads in practice
                    proto.receive_data(data)
                    self.received += [e for e in proto.events_received() if isinstance(e, Frame)]
                    if any(f.opcode is CLOSE for f in self.received):
                        break
                    data = conn.recv(65536)
                    if not data:
                        break
        finally:
            self.listener.close()
            self.done.set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def frames_received(self) -> list[Frame]:
        assert self.done.wait(15), "the crafted server did not finish"
        return self.received


def unmasked(*frames: Frame) -> bytes:
    return b"".join(f.serialize(mask=False) for f in frames)


def close_of(frame: Frame) -> tuple[int, str]:
    assert frame.opcode is CLOSE
    close = Close.parse(frame.data)
    return close.code, close.reason


def test_first_frames_in_the_handshake_read_with_a_ping_between_fragments(ws):
    euro = "€".encode()
    server = CraftedServer(
        unmasked(
            Frame(TEXT, b"first"),
            Frame(TEXT, b"h" + euro[:1], fin=False),
            Frame(PING, b"keep"),
            Frame(CONT, euro[1:], fin=False),
            Frame(CONT, b"!"),
            Frame(BINARY, bytes(range(200))),
            Frame(CLOSE, Close(1000, "done").serialize()),
        )
    )
    rec = Recorder(ws)
    ws.connect(server.url).result(10)
    rec.wait("close")
    assert rec.values("message") == ["first", "h€!", bytes(range(200))]
    assert rec.values("close")[0].code == 1000
    sent = server.frames_received()
    assert [f.opcode for f in sent] == [PONG, CLOSE]
    assert sent[0].data == b"keep"
    assert close_of(sent[1]) == (1000, "done")


@pytest.mark.parametrize(
    ("frames", "code", "words"),
    [
        pytest.param(
            [Frame(TEXT, b"ok"), Frame(CONT, b"x")],
            1002,
            "unexpected continuation frame",
            id="continuation-without-start",
        ),
        pytest.param(
            [Frame(TEXT, b"ok"), Frame(TEXT, b"a", fin=False), Frame(BINARY, b"b")],
            1002,
            "expected a continuation frame",
            id="new-message-inside-fragments",
        ),
        pytest.param(
            [Frame(TEXT, b"ok"), Frame(TEXT, b"x" * 6, fin=False), Frame(CONT, b"y" * 6)],
            1009,
            "frame with 6 bytes after reading 6 bytes exceeds limit of 10 bytes",
            id="fragments-over-maxMessageSize",
        ),
        pytest.param(
            [
                Frame(TEXT, b"ok"),
                Frame(TEXT, "κ".encode(), fin=False),
                Frame(CONT, b"\xff", fin=False),
            ],
            1007,
            "not valid UTF-8",
            id="bad-utf8-in-a-fragment",
        ),
        pytest.param(
            [Frame(TEXT, b"ok"), Frame(TEXT, b"z")],
            1002,
            "reserved bits must be 0",
            id="rsv-bit",
        ),
    ],
)
def test_a_client_fails_a_server_that_breaks_the_frame_rules(ws, frames, code, words):
    data = unmasked(*frames)
    if words == "reserved bits must be 0":  # websockets will not build it: set RSV1 by hand
        last = unmasked(frames[-1])
        data = data[: -len(last)] + bytes((last[0] | 0x40,)) + last[1:]
    server = CraftedServer(data)
    rec = Recorder(ws)
    ws.connect(server.url, {"maxMessageSize": 10}).result(10)
    rec.wait("close")
    assert rec.values("message") == ["ok"]  # what came before the bad frame is kept
    assert rec.values("close")[0].code == code
    assert words in rec.values("error")[0].message
    sent = server.frames_received()
    assert [close_of(f)[0] for f in sent if f.opcode is CLOSE] == [code]


@pytest.fixture
def echo_server() -> Iterator[Any]:
    server = createWebSocketServer()
    server.start({"serverPort": 0, "mode": "echo", "maxMessageSize": 10}).result(10)
    yield server
    server.stop().result(30)


def talk(port: int, frames: bytes, until: int = 1) -> list[Frame]:
    """Open a raw client, send the handshake and ``frames`` in one write; the frames back.

    Reads until ``until`` frames or a close frame came back, then closes (1000).
    """
    key = generate_key()
    proto = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/"), state=OPEN, max_size=None)
    back: list[Frame] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            + frames
        )
        head, _, data = read_head(sock).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        for _ in range(1000):  # bounded: a few reads in practice
            proto.receive_data(data)
            back += [e for e in proto.events_received() if isinstance(e, Frame)]
            if len(back) >= until or any(f.opcode is CLOSE for f in back):
                break
            data = sock.recv(65536)
            assert data, f"the server ended TCP after {back}"
        if not any(f.opcode is CLOSE for f in back):
            sock.sendall(masked(Frame(CLOSE, Close(1000, "").serialize())))
        proto.receive_data(read_to_eof(sock))  # the server ends TCP after the handshake
    return back + [e for e in proto.events_received() if isinstance(e, Frame)]


def masked(*frames: Frame) -> bytes:
    return b"".join(f.serialize(mask=True) for f in frames)


def test_the_server_reads_frames_sent_with_the_handshake(echo_server):
    back = talk(
        echo_server.port,
        masked(
            Frame(TEXT, b"ab", fin=False),
            Frame(PING, b"p"),
            Frame(CONT, b"cd"),
            Frame(BINARY, b"\x00\x01"),
        ),
        until=3,
    )
    assert [(f.opcode, bytes(f.data)) for f in back[:3]] == [
        (PONG, b"p"),
        (TEXT, b"abcd"),
        (BINARY, b"\x00\x01"),
    ]
    assert close_of(back[3]) == (1000, "")


@pytest.mark.parametrize(
    ("frames", "code", "words"),
    [
        ([Frame(TEXT, b"x" * 6, fin=False), Frame(CONT, b"y" * 6)], 1009, "after reading 6 bytes"),
        ([Frame(CONT, b"x")], 1002, "unexpected continuation frame"),
    ],
)
def test_the_server_fails_a_client_that_breaks_the_frame_rules(echo_server, frames, code, words):
    # The echo of "ok" may or may not precede the close frame: the server fails
    # the connection as soon as it reads the bad frame, in the same read.
    back = talk(echo_server.port, masked(Frame(TEXT, b"ok"), *frames))
    closes = [close_of(f) for f in back if f.opcode is CLOSE]
    assert [c for c, _ in closes] == [code]
    assert words in closes[0][1]


def test_an_unmasked_client_frame_gets_websockets_own_1002(echo_server):
    back = talk(echo_server.port, masked(Frame(TEXT, b"ok")) + unmasked(Frame(TEXT, b"x")))
    assert [close_of(f) for f in back if f.opcode is CLOSE] == [(1002, "incorrect masking")]
