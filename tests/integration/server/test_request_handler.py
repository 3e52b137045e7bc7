"""``server.setRequestHandler``: off the network thread, with a deadline, answers checked.

Real servers on 127.0.0.1; the bad answers are read as bytes by a plain socket,
so a dropped handshake (no HTTP answer at all) shows as such.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter import BusinessError, WebSocketServer, createWebSocket, createWebSocketServer
from tests.helpers import Recorder, wait_until

TIMEOUT = 10


@contextlib.contextmanager
def echo_server() -> Iterator[WebSocketServer]:
    server = createWebSocketServer()
    server.start({"serverPort": 0, "mode": "echo"}).result(TIMEOUT)
    try:
        yield server
    finally:
        server.stop().result(TIMEOUT)


def http_answer(port: int, path: str = "/") -> tuple[int, bytes]:
    """Send an opening handshake; the status and the raw head of the answer.

    Raises:
        EOFError: The server closed the connection without an HTTP answer.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError(f"the server closed without an HTTP answer (got {data!r})")
            data += chunk
    head = data.split(b"\r\n\r\n")[0]
    return int(head.split()[1]), head


def echo_once(url: str, text: str) -> str:
    ws = createWebSocket()
    rec = Recorder(ws)
    try:
        ws.connect(url, {"wholeMessages": True}).result(TIMEOUT)
        ws.send(text).result(TIMEOUT)
        rec.wait("message", timeout=TIMEOUT)
        return str(rec.values("message")[0])
    finally:
        ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-Note": "a\r\nSet-Cookie: session=stolen"}, "line break or NUL"),
        ({"X-Note": "a\nb"}, "line break or NUL"),
        ({"X-Note": "a\x00b"}, "line break or NUL"),
        ({"X-Note": "tab\tok but bell \x07"}, "control characters"),
        ({"X-Note": "snow \u2603"}, "ISO-8859-1"),
        ({"Bad Name": "x"}, "not a valid HTTP header name"),
        ({"X-Bad:Name": "x"}, "not a valid HTTP header name"),
        ({"": "x"}, "not a valid HTTP header name"),
        ({"Content-Length": "0"}, "the server's to write"),
        ({"Transfer-Encoding": "chunked"}, "the server's to write"),
    ],
)
def test_a_bad_answer_becomes_a_500_and_the_log_says_what_was_wrong(
    headers: dict[str, str], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: Any) -> Any:
        return 403, "no", headers

    with echo_server() as server, caplog.at_level(logging.ERROR, "ohws_jupyter.server"):
        server.setRequestHandler(handler)
        status, head = http_answer(server.port)
        assert status == 500
        assert b"Set-Cookie" not in head and b"\x00" not in head
        wait_until(lambda: why in caplog.text, what=f"{why!r} in the log")
        assert "test_request_handler" in caplog.text  # names the handler
        # The server goes on: a client the handler accepts gets in.
        server.setRequestHandler(None)
        assert echo_once(server.url, "still up") == "still up"


def test_a_content_type_from_the_handler_replaces_the_servers() -> None:
    with echo_server() as server:
        server.setRequestHandler(lambda r: (403, "{}", {"Content-Type": "application/json"}))
        status, head = http_answer(server.port)
        assert status == 403
        assert head.lower().count(b"content-type") == 1
        assert b"Content-Type: application/json" in head


def test_a_blocking_handler_stalls_no_other_client_of_any_server() -> None:
    entered = threading.Event()
    release = threading.Event()

    def gate(request: Any) -> None:
        if request.path == "/slow":
            entered.set()
            release.wait(TIMEOUT * 3)  # a database call that hangs
        return None

    with echo_server() as server, echo_server() as other:
        server.setRequestHandler(gate, timeout=TIMEOUT * 4)
        slow = createWebSocket()
        slow_open = slow.connect(f"{server.url}/slow")
        try:
            assert entered.wait(TIMEOUT), "the handler never ran"
            # While the handler blocks: a client of another server, and one of the
            # same server, open and echo.
            assert echo_once(other.url, "other server") == "other server"
            assert echo_once(f"{server.url}/fast", "same server") == "same server"
            assert not slow_open.done()
        finally:
            release.set()
        assert slow_open.result(TIMEOUT) is True
        slow.close({"code": 1000, "reason": "done"}).result(TIMEOUT)


def test_past_its_deadline_the_client_gets_503_and_the_log_names_the_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()

    def slow_lookup(request: Any) -> None:
        release.wait(TIMEOUT * 3)

    with echo_server() as server, caplog.at_level(logging.WARNING, "ohws_jupyter.server"):
        server.setRequestHandler(slow_lookup, timeout=0.2)
        try:
            status, _ = http_answer(server.port)
            assert status == 503
            wait_until(lambda: "did not answer" in caplog.text, what="the log")
            assert "slow_lookup" in caplog.text and "0.2 s" in caplog.text
        finally:
            release.set()
        # Its late answer is ignored and logged; the thread is free again.
        wait_until(lambda: "its answer was ignored" in caplog.text, what="the late answer")


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), 61, "5", True])
def test_the_deadline_is_a_number_of_seconds_in_range(timeout: Any) -> None:
    server = createWebSocketServer()
    with pytest.raises(BusinessError) as info:
        server.setRequestHandler(lambda r: None, timeout=timeout)
    assert info.value.code == 401
    assert "timeout must be a number of seconds above 0 and at most 60" in info.value.message
