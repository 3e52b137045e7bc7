"""Edges a newcomer meets through the engine: secrets in logs and errors, subprotocol
mismatches, proxies for IPv6 and credentialed URLs, and a script that exits while open.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

from ohws_jupyter import BusinessError, HttpProxy, createWebSocketServer
from tests.helpers import Recorder, wait_until

from .peers import Peer, RawPeer

SECRET = "pw-S3cret"
TOKEN = "tok-S3cret"


def test_the_server_handshake_log_masks_tokens_and_credentials(ws, caplog):
    server = createWebSocketServer()
    server.start({"serverPort": 0}).result(10)
    try:
        headers = {"Authorization": f"Bearer {SECRET}", "Cookie": f"sid={SECRET}"}
        with caplog.at_level(logging.DEBUG, logger="websockets.server"):
            ws.connect(f"{server.url}/room?token={TOKEN}", {"header": headers}).result(10)
            ws.close().result(10)
    finally:
        server.stop().result(10)
    lines = [r.getMessage() for r in caplog.records if r.name == "websockets.server"]
    assert any(line.startswith("< GET /room?token=***") for line in lines), lines
    assert any(line.startswith("< Authorization: ***") for line in lines), lines
    assert not [line for line in lines if SECRET in line or TOKEN in line]


def test_the_close_deadline_log_line_shows_no_url_secret(ws, caplog):
    def silent(peer: Peer) -> None:
        peer.accept()
        peer.owner.stop.wait(30)

    with RawPeer(silent) as server:
        url = server.url.replace("ws://", f"ws://alice:{SECRET}@") + f"/?token={TOKEN}"
        with caplog.at_level(logging.DEBUG):
            ws.connect(url, {"closeTimeout": 0.5}).result(10)
            assert ws.close().result(10) is True
    # Our loggers and our client's handshake log; the test peer logs as it likes.
    ours = ("ohws_jupyter", "websockets.client")
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(ours))
    assert "closeTimeout" in text  # the line is there...
    assert SECRET not in text and TOKEN not in text  # ...without the secrets
    assert SECRET not in repr(ws) and TOKEN not in repr(ws)


def test_a_bad_accept_value_is_not_repeated_in_the_error(ws):
    def wrong_accept(peer: Peer) -> None:
        peer.read_request()
        peer.sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: c2VjcmV0LWFjY2VwdC12YWx1ZQ==\r\n\r\n"
        )
        peer.owner.stop.wait(5)

    with RawPeer(wrong_accept) as server:
        rec = Recorder(ws)
        try:
            ws.connect(server.url).result(10)
        except BusinessError as exc:
            err = exc
        rec.wait("error")
    assert err.code == 200 and "Sec-WebSocket-Accept does not match" in err.message
    assert "c2VjcmV0LWFjY2VwdC12YWx1ZQ" not in err.message


def test_an_unknown_subprotocol_is_named_on_both_sides(ws, caplog):
    server = createWebSocketServer()
    server.start({"serverPort": 0, "protocol": "chat"}).result(10)
    try:
        with caplog.at_level(logging.INFO, logger="ohws_jupyter.server"):
            try:
                ws.connect(server.url, {"protocol": "v2.lesson"}).result(10)
            except BusinessError as exc:
                err = exc
    finally:
        server.stop().result(10)
    assert err.data == "400" and "subprotocol (v2.lesson)" in err.message
    server_lines = [r.getMessage() for r in caplog.records if r.name == "ohws_jupyter.server"]
    assert any("refused the handshake" in line and "400" in line for line in server_lines)


def test_a_server_that_picks_no_subprotocol_gets_a_warning(ws, shared_echo_server, caplog):
    with caplog.at_level(logging.WARNING, logger="ohws_jupyter"):
        ws.connect(shared_echo_server.url, {"protocol": "chat"}).result(10)
    assert ws.protocol == ""
    assert any("accepted none of the offered subprotocols (chat)" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_proxy_exclusion_list_matches_ipv6_and_credentialed_urls(ws):
    server = createWebSocketServer()
    server.start({"serverPort": 0, "serverIP": "::1", "mode": "echo"}).result(10)
    dead_proxy = {"host": "127.0.0.1", "port": 9}  # nothing listens: going through fails
    try:
        for url, excluded in [
            (server.url, "::1"),
            (server.url.replace("ws://", f"ws://user:{SECRET}@"), "::1"),
        ]:
            proxy = HttpProxy(exclusionList=[excluded], **dead_proxy)
            assert ws.connect(url, {"proxy": proxy}).result(10) is True
            assert ws.close().result(10) is True
        ipv4 = createWebSocketServer()
        ipv4.start({"serverPort": 0, "mode": "echo"}).result(10)
        try:
            url = ipv4.url.replace("ws://", f"ws://user:{SECRET}@")
            proxy = HttpProxy(exclusionList=["127.0.0.1"], **dead_proxy)
            assert ws.connect(url, {"proxy": proxy}).result(10) is True
            assert ws.close().result(10) is True
        finally:
            ipv4.stop().result(10)
    finally:
        server.stop().result(10)


def test_a_script_that_exits_while_open_closes_with_1001():
    server = createWebSocketServer()
    server.start({"serverPort": 0}).result(10)
    closes: list = []
    errors: list = []
    server.on("close", lambda conn, result: closes.append(result))
    server.on("error", lambda err: errors.append(err))
    script = textwrap.dedent(
        f"""
        from ohws_jupyter import createWebSocket
        ws = createWebSocket()
        ws.connect({server.url!r}).result(10)
        ws.send("bye").result(10)
        """
    )
    try:
        done = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
        assert done.returncode == 0, done.stderr
        wait_until(lambda: closes, 10, "the server to see the close")
    finally:
        server.stop().result(10)
    assert closes[0].code == 1001
    assert errors == []  # no "lost without a close frame (1006)"
