"""The lab server's misbehaviours and the server's request hook, on real 127.0.0.1 sockets.

Each misbehaviour is checked twice: on the wire, with a raw socket that reads
the bytes the server wrote, and through our client, which must react as RFC
6455 says (fail with 1002, report 1005, refuse the handshake ...).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter import BusinessError, CloseResult, WebSocketServer, createWebSocket
from ohws_jupyter.server.modes import LAB_HELP, frame_bytes
from ohws_jupyter.server.request_handler import HandshakeRequest, decision_of
from ohws_jupyter.server.websocket_server import ServerState, createWebSocketServer
from tests.helpers import Recorder, wait_until

TIMEOUT = 10
MiB = 1024 * 1024
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class ServerRecorder(Recorder):
    EVENTS = ("connect", "messageReceive", "close", "error")


@contextlib.contextmanager
def running(config: dict[str, Any] | None = None) -> Iterator[tuple[WebSocketServer, Recorder]]:
    server = createWebSocketServer()
    rec = ServerRecorder(server)
    server.start({"serverPort": 0, "mode": "lab", **(config or {})}).result(TIMEOUT)
    try:
        yield server, rec
    finally:
        if server.state is ServerState.RUNNING:
            server.stop().result(TIMEOUT)


@pytest.fixture(scope="module")
def lab() -> Iterator[WebSocketServer]:
    with running() as (server, _):
        yield server


class Raw:
    """A WebSocket client written on a plain socket: the bytes, nothing hidden."""

    def __init__(self, port: int, path: str = "/", extra: str = "") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}

    def _until(self, end: bytes) -> bytes:
        while end not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed before {end!r}; got {self.buffer!r}")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(end)
        return head

    def _exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed after {self.buffer!r}")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def send_text(self, text: str) -> None:
        self.sock.sendall(frame_bytes(0x1, text.encode(), mask=True))

    def frame(self) -> tuple[int, int, bytes]:
        """The next frame: its first header byte, its second, its (unmasked) payload."""
        first, second = self._exact(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exact(8))
        key = self._exact(4) if second & 0x80 else b""
        payload = self._exact(length)
        if key:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return first, second, payload

    def close(self) -> None:
        self.sock.close()


def ours(url: str, **options: Any) -> tuple[Any, Recorder]:
    ws = createWebSocket()
    rec = Recorder(ws)
    ws.connect(url, {"wholeMessages": True, **options}).result(TIMEOUT)
    return ws, rec


def broken(url: str, command: str, **options: Any) -> tuple[str, CloseResult]:
    """Send ``command``; the client must fail the connection: its error text and close."""
    ws, rec = ours(url, **options)
    ws.send(command)
    ((err,),) = rec.wait("error")
    (result,) = [args[-1] for args in rec.wait("close")]
    assert err.code == 200
    return err.message, result


def accept_of(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


# -- /help and the message commands ------------------------------------------------------
def test_help_lists_every_command_and_handshake_path(lab: WebSocketServer) -> None:
    raw = Raw(lab.port)
    raw.send_text("/help")
    assert raw.frame()[2].decode() == LAB_HELP
    raw.close()
    names = "/ping /badclose /masked /opcode /rsv /bigping /splitping /pause /throttle /restart"
    paths = "/request /status/CODE /redirect/PATH /bad-accept /subprotocol/NAME /slow/SECONDS"
    for name in f"{names} {paths}".split():
        assert name in LAB_HELP


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        (
            "/ping " + "x" * 126,
            "error: TEXT may be at most 125 UTF-8 bytes (a control frame's limit)",
        ),
        ("/badclose", "error: usage: /badclose CODE [REASON]"),
        ("/badclose 70000", "error: CODE must be from 0 to 65535, not 70000"),
        ("/badclose 1000 " + "r" * 124, "error: REASON may be at most 123 UTF-8 bytes"),
        ("/opcode 16", "error: N must be from 0 to 15, not 16"),
        ("/rsv 0", "error: BITS must be from 1 to 7, not 0"),
        ("/pause soon", "error: SECONDS must be a number, not 'soon'"),
        ("/throttle -1", "error: N must be from 0 to 67108864, not -1"),
        ("/restart", "error: usage: /restart SECONDS"),
        (
            "/close 1005",
            "error: close code 1005 may not be sent; use 1000–1003, 1007–1014 or 3000–4999",
        ),
    ],
)
def test_bad_arguments_are_answered_with_an_error(
    lab: WebSocketServer, command: str, answer: str
) -> None:
    raw = Raw(lab.port)
    raw.send_text(command)
    assert raw.frame()[2].decode() == answer
    raw.close()


def test_ping_is_a_control_frame_the_client_answers_unseen(lab: WebSocketServer) -> None:
    raw = Raw(lab.port)
    raw.send_text("/ping are you there")
    assert raw.frame() == (0x89, len("are you there"), b"are you there")
    raw.close()
    # Our client answers with a pong (its protocol does) and no event fires: compare
    # the wire bytes with a twin session that sends a same-sized plain message instead.
    wire = {}
    for first in ("/ping 12345", "xping 12345"):
        ws, rec = ours(lab.url, compression=False)
        ws.send(first)
        ws.send("sync")
        rec.wait("message", 1 if first.startswith("/") else 2)
        ws.close().result(TIMEOUT)
        assert rec.values("message")[-1] == "sync" and rec.of("error") == []
        assert [r.kind for r in ws.history()].count("message") == 4 - first.startswith("/")
        wire[first] = (ws.stats.wireBytesIn, ws.stats.wireBytesOut)
    (ping_in, ping_out), (plain_in, plain_out) = wire["/ping 12345"], wire["xping 12345"]
    assert ping_out - plain_out == 2 + 4 + 5  # the pong: header, mask, the ping's payload
    assert ping_in - plain_in == (2 + 5) - (2 + 11)  # a ping came instead of an echo


def test_fragments_are_cut_by_bytes_even_inside_a_character(lab: WebSocketServer) -> None:
    raw = Raw(lab.port)
    raw.send_text("/fragments 2 €€€")
    # 9 bytes in frames of 5 and 4: the first ends inside the second €.
    assert raw.frame() == (0x01, 5, "€€€".encode()[:5])
    assert raw.frame() == (0x80, 4, "€€€".encode()[5:])
    raw.send_text("/fragments 10 €€€")
    assert raw.frame()[2] == b"error: TEXT has 9 UTF-8 bytes; it cannot fill 10 fragments"
    raw.close()
    ws, rec = ours(lab.url)
    ws.send("/fragments 2 €€€")
    rec.wait("message")
    assert rec.values("message") == ["€€€"] and rec.of("error") == []
    ws.close().result(TIMEOUT)


def test_close_without_a_code_is_reported_as_1005(lab: WebSocketServer) -> None:
    raw = Raw(lab.port)
    raw.send_text("/close")
    assert raw.frame() == (0x88, 0, b"")
    raw.close()
    ws, rec = ours(lab.url)
    ws.send("/close")
    rec.wait("close")
    assert rec.values("close") == [CloseResult(1005, "")]
    assert rec.of("error") == []


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_an_illegal_close_code_on_the_wire_earns_1002(lab: WebSocketServer, code: int) -> None:
    raw = Raw(lab.port)
    raw.send_text(f"/badclose {code} why")
    assert raw.frame() == (0x88, 5, struct.pack("!H", code) + b"why")
    raw.close()
    message, result = broken(lab.url, f"/badclose {code}")
    assert "invalid status code" in message and "1002" in message
    assert result.code == 1002


@pytest.mark.parametrize("code", [1000, 1012, 3000, 4999])
def test_a_legal_close_code_through_badclose_is_taken(lab: WebSocketServer, code: int) -> None:
    ws, rec = ours(lab.url)
    ws.send(f"/badclose {code} fine")
    rec.wait("close")
    assert rec.values("close") == [CloseResult(code, "fine")]
    assert rec.of("error") == []


@pytest.mark.parametrize(
    ("command", "first", "complaint"),
    [
        ("/masked", 0x81, "incorrect masking"),
        ("/opcode 3", 0x83, "invalid opcode"),
        ("/opcode 11", 0x8B, "invalid opcode"),
        ("/opcode 0", 0x80, "unexpected continuation frame"),
        ("/rsv 2", 0xA1, "reserved bits must be 0"),
        ("/rsv 1", 0x91, "reserved bits must be 0"),
        ("/bigping", 0x89, "control frame too long"),
        ("/splitping", 0x09, "fragmented control frame"),
    ],
)
def test_a_broken_frame_earns_1002(
    lab: WebSocketServer, command: str, first: int, complaint: str
) -> None:
    raw = Raw(lab.port)
    raw.send_text(command)
    got_first, second, payload = raw.frame()
    assert got_first == first
    assert bool(second & 0x80) is (command == "/masked")  # unmasked payload returned
    if command == "/bigping":
        assert second & 0x7F == 126 and len(payload) == 126
    raw.close()
    message, result = broken(lab.url, command, compression=False)
    assert complaint in message and "(closed with 1002)" in message
    assert result.code == 1002


def test_a_masked_frame_carries_its_text(lab: WebSocketServer) -> None:
    raw = Raw(lab.port)
    raw.send_text("/masked hidden in plain sight")
    first, second, payload = raw.frame()
    assert (first, second & 0x80, payload) == (0x81, 0x80, b"hidden in plain sight")
    raw.close()


def test_pause_leaves_the_close_unanswered_until_it_ends(lab: WebSocketServer) -> None:
    ws, rec = ours(lab.url, closeTimeout=0.3)
    ws.send("/pause 9")  # far longer than closeTimeout: only the deadline can end it
    rec.wait("message")  # read in a batch with the close, the close would be answered
    assert rec.values("message") == ["ok: not reading for 9 s"]
    ws.close({"code": 1000, "reason": "bye"})
    rec.wait("close", timeout=TIMEOUT)
    # The close asked for is reported, with an error: nobody answered it in time.
    assert rec.values("close") == [CloseResult(1000, "bye")]
    ((err,),) = rec.of("error")
    assert "did not finish the closing handshake within closeTimeout (0.3 s)" in err.message
    # Messages sent during a pause are read, and answered, when it ends.
    raw = Raw(lab.port)
    raw.send_text("/pause 0.4")
    assert raw.frame()[2] == b"ok: not reading for 0.4 s"
    start = time.monotonic()
    raw.send_text("later")
    assert raw.frame()[2] == b"later"
    assert time.monotonic() - start >= 0.35
    raw.close()


def _echo_time(ws: Any, rec: Recorder, chunks: int, size: int, timeout: float = 30) -> float:
    seen = len(rec.of("message"))
    start = time.monotonic()
    for _ in range(chunks):
        ws.send(os.urandom(size))
    rec.wait("message", seen + chunks, timeout=timeout)
    return time.monotonic() - start


def test_throttle_slows_reading_and_zero_lifts_it(lab: WebSocketServer) -> None:
    ws, rec = ours(lab.url, compression=False)
    ws.send("/throttle 524288")
    rec.wait("message")
    assert rec.values("message") == ["ok: reading at most 524288 bytes a second"]
    # 1 MiB at 512 KiB/s: at least 1.5 s once the first read (up to 256 KiB) is paid off.
    assert _echo_time(ws, rec, 16, 65536) >= 1.0
    ws.send("/throttle 0")
    rec.wait("message", 1 + 16 + 1)
    assert rec.values("message")[-1] == "ok: reading at full speed"
    # 16 MiB: throttled, at least 30 s; lifted, it must come back within a wait
    # that a loaded machine meets easily and the throttle cannot.
    _echo_time(ws, rec, 16, MiB, timeout=20)
    ws.close().result(TIMEOUT)


def test_restart_closes_with_1012_and_comes_back_on_the_same_port() -> None:
    with running() as (server, srec):
        port = server.port
        a, arec = ours(server.url)
        _, brec = ours(server.url)
        srec.wait("connect", 2)
        a.send("/restart 0.5")
        for rec in (arec, brec):
            rec.wait("close")
            assert rec.values("close") == [CloseResult(1012, "service restart")]
            assert rec.of("error") == []
        wait_until(lambda: server.state is ServerState.STOPPED, what="the server to stop")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
        wait_until(lambda: server.state is ServerState.RUNNING, what="the server to come back")
        assert server.port == port
        c, crec = ours(f"ws://127.0.0.1:{port}")
        c.send("back")
        crec.wait("message")
        assert crec.values("message") == ["back"]
        c.close().result(TIMEOUT)


def test_request_shows_the_key_and_masks_credentials(lab: WebSocketServer) -> None:
    ws, rec = ours(
        f"{lab.url}/room?token=s3cret&page=2",
        header={"Authorization": "Bearer s3cret", "X-Lesson": "0"},
    )
    ws.send("/request")
    rec.wait("message")
    shown = json.loads(rec.values("message")[0])
    headers = {k.lower(): v for k, v in shown["headers"].items()}
    assert shown["method"] == "GET" and shown["target"] == "/room?token=***&page=2"
    assert headers["authorization"] == "***" and headers["x-lesson"] == "0"
    assert "s3cret" not in json.dumps(shown)
    assert ws.responseHeaders["Sec-WebSocket-Accept"] == accept_of(headers["sec-websocket-key"])
    ws.close().result(TIMEOUT)


# -- the opening handshake ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "header"),
    [
        (401, ("www-authenticate", 'Bearer realm="lab"')),
        (403, None),
        (426, ("sec-websocket-version", "13")),
        (503, ("retry-after", "1")),
    ],
)
def test_status_refuses_the_handshake(lab: WebSocketServer, status: int, header: Any) -> None:
    raw = Raw(lab.port, f"/status/{status}")
    assert raw.status == status
    if header is not None:
        assert raw.headers[header[0]] == header[1]
    raw.close()
    ws = createWebSocket()
    rec = Recorder(ws)
    with pytest.raises(BusinessError) as info:
        ws.connect(f"{lab.url}/status/{status}").result(TIMEOUT)
    assert info.value.code == 200 and info.value.data == str(status)
    assert f"HTTP {status}" in info.value.message
    rec.wait("error")
    assert rec.names() == ["error"]  # a connect that fails: 'error' only, no 'close'


@pytest.mark.parametrize("path", ["/status/999", "/status/299", "/status/x", "/slow/60"])
def test_a_bad_handshake_path_is_answered_400(lab: WebSocketServer, path: str) -> None:
    raw = Raw(lab.port, path)
    assert raw.status == 400
    assert raw._until(b"\n").startswith(b"error: ")
    raw.close()


def test_redirect_is_followed_to_the_new_path(lab: WebSocketServer) -> None:
    raw = Raw(lab.port, "/redirect/chat/room?x=1")
    assert (raw.status, raw.headers["location"]) == (302, "/chat/room?x=1")
    raw.close()
    ws, rec = ours(f"{lab.url}/redirect/chat?x=1")
    ws.send("/request")
    rec.wait("message")
    assert json.loads(rec.values("message")[0])["target"] == "/chat?x=1"
    ws.close().result(TIMEOUT)


def test_bad_accept_is_refused_by_the_client_and_never_admitted() -> None:
    with running() as (server, srec):
        raw = Raw(server.port, "/bad-accept")
        assert raw.status == 101
        assert raw.headers["sec-websocket-accept"] != accept_of(raw.key)
        raw.close()
        ws = createWebSocket()
        with pytest.raises(BusinessError) as info:
            ws.connect(f"{server.url}/bad-accept").result(TIMEOUT)
        assert "Sec-WebSocket-Accept does not match" in info.value.message
        assert srec.names() == []  # no 'connect': the server never admitted it
        wait_until(lambda: not server._handshaking, what="the refused clients to go")


def test_subprotocol_not_offered_is_refused_offered_is_chosen(lab: WebSocketServer) -> None:
    ws = createWebSocket()
    with pytest.raises(BusinessError) as info:
        ws.connect(f"{lab.url}/subprotocol/superchat").result(TIMEOUT)
    assert "no subprotocols supported" in info.value.message
    with pytest.raises(BusinessError) as info:
        ws.connect(f"{lab.url}/subprotocol/superchat", {"protocol": "chat"}).result(TIMEOUT)
    assert "unsupported subprotocol: superchat" in info.value.message
    ws, rec = ours(f"{lab.url}/subprotocol/superchat", protocol=["chat", "superchat"])
    assert ws.protocol == "superchat"
    ws.send("still a lab")
    rec.wait("message")
    assert rec.values("message") == ["still a lab"]
    ws.close().result(TIMEOUT)


def test_slow_handshake_opens_late_or_times_out(lab: WebSocketServer) -> None:
    start = time.monotonic()
    ws, _ = ours(f"{lab.url}/slow/0.5")
    assert time.monotonic() - start >= 0.5
    ws.close().result(TIMEOUT)
    ws = createWebSocket()
    with pytest.raises(BusinessError) as info:
        ws.connect(f"{lab.url}/slow/3", {"openTimeout": 0.3}).result(TIMEOUT)
    assert "did not finish within 0.3 s" in info.value.message


def test_other_paths_and_other_modes_are_plain(lab: WebSocketServer) -> None:
    ws, rec = ours(f"{lab.url}/statusboard")
    ws.send("hi")
    rec.wait("message")
    ws.close().result(TIMEOUT)
    with running({"mode": "echo"}) as (echo, _):
        ws, rec = ours(f"{echo.url}/status/401")  # only the lab misbehaves
        ws.close().result(TIMEOUT)


# -- the request hook ---------------------------------------------------------------------
def test_request_handler_sees_the_request_and_refuses_by_origin() -> None:
    seen: list[HandshakeRequest] = []
    lock = threading.Lock()

    def check(request: HandshakeRequest) -> Any:
        with lock:
            seen.append(request)
        if request.origin != "https://app.example":
            return 403, "cross-site WebSocket requests are refused"
        if request.query.get("ticket") != "t-1":
            return 401
        return None

    with running({"mode": "echo"}) as (server, srec):
        server.setRequestHandler(check)
        ws = createWebSocket()
        with pytest.raises(BusinessError) as info:
            evil = {"header": {"Origin": "https://evil.example"}}
            ws.connect(f"{server.url}/chat?ticket=t-1", evil).result(TIMEOUT)
        assert info.value.data == "403"
        assert "cross-site WebSocket requests are refused" in info.value.message
        with pytest.raises(BusinessError) as info:
            same_site = {"header": {"Origin": "https://app.example"}}
            ws.connect(f"{server.url}/chat", same_site).result(TIMEOUT)
        assert info.value.data == "401"
        ws, _ = ours(
            f"{server.url}/chat?ticket=t-1&room=2",
            header={"Origin": "https://app.example", "Authorization": "Bearer zz"},
            protocol=["chat"],
        )
        assert srec.wait("connect") and len(srec.of("connect")) == 1  # refused ones never came
        request = seen[-1]
        assert (request.path, request.query) == ("/chat", {"ticket": "t-1", "room": "2"})
        assert request.origin == "https://app.example" and request.protocols == ["chat"]
        assert request.header("authorization") == "Bearer zz"
        assert (request.clientIP, request.method) == ("127.0.0.1", "GET")
        assert "zz" not in repr(request) and "t-1" in repr(request)
        assert request.masked()["headers"]["Authorization"] == "***"
        ws.close().result(TIMEOUT)
        server.setRequestHandler(None)
        ws, _ = ours(server.url)  # no handler: every request is accepted
        ws.close().result(TIMEOUT)


def test_request_handler_can_redirect_and_runs_before_the_lab() -> None:
    with running() as (server, _):
        server.setRequestHandler(
            lambda r: (307, "", {"Location": "/in"}) if r.path == "/out" else None
        )
        ws, rec = ours(f"{server.url}/out")
        ws.send("/request")
        rec.wait("message")
        assert json.loads(rec.values("message")[0])["target"] == "/in"
        ws.close().result(TIMEOUT)
        server.setRequestHandler(lambda r: 418)
        raw = Raw(server.port, "/status/401")  # the handler answers first
        assert raw.status == 418
        raw.close()


@pytest.mark.parametrize("returned", [{"status": 403}, 200, 700, (403, 5), "no", (1, 2, 3, 4)])
def test_a_handler_returning_nonsense_refuses_with_500_and_says_why(
    returned: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with running({"mode": "echo"}) as (server, _), caplog.at_level(logging.ERROR):
        server.setRequestHandler(lambda r: returned)
        raw = Raw(server.port)
        assert raw.status == 500
        raw.close()
        wait_until(lambda: "the request handler returned" in caplog.text, what="the log")
        assert "Return None to accept" in caplog.text


def test_a_handler_that_raises_refuses_with_500(caplog: pytest.LogCaptureFixture) -> None:
    def boom(request: HandshakeRequest) -> None:
        raise RuntimeError("lookup failed")

    with running({"mode": "echo"}) as (server, srec), caplog.at_level(logging.ERROR):
        server.setRequestHandler(boom)
        ws = createWebSocket()
        with pytest.raises(BusinessError) as info:
            ws.connect(server.url).result(TIMEOUT)
        assert info.value.data == "500"
        wait_until(lambda: "lookup failed" in caplog.text, what="the log")
        assert srec.names() == []


def test_set_request_handler_takes_a_function_or_none() -> None:
    server = createWebSocketServer()
    with pytest.raises(BusinessError) as info:
        server.setRequestHandler("allow all")  # type: ignore[arg-type]
    assert info.value.code == 401
    assert "setRequestHandler() needs a function or None, not str" in info.value.message


def test_decisions() -> None:
    assert decision_of(None) is None and decision_of(True) is None
    assert decision_of(False) == (403, "", {})
    assert decision_of(401) == (401, "", {})
    assert decision_of((429, "slow down")) == (429, "slow down", {})
    assert decision_of((302, "", {"Location": "/x"})) == (302, "", {"Location": "/x"})
    for bad in (101, 299, 600, 599.0, "403", (403, b"x"), (403, "", {"a": 1}), ()):
        with pytest.raises(ValueError):
            decision_of(bad)
