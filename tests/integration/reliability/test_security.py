"""The promises of SECURITY.md that live in the core: masking, loopback binding, TLS."""

from __future__ import annotations

import logging
import socket

import pytest

from ohws_jupyter import BusinessError, createWebSocket, createWebSocketServer
from ohws_jupyter.core.options import WebSocketRequestOptions
from tests.helpers import Recorder

SECRET = "s3cr3t-Value"
HEADERS = {"Authorization": f"Bearer {SECRET}", "Cookie": f"sid={SECRET}", "X-Api-Key": SECRET}


def test_request_options_repr_masks_credentials():
    opts = WebSocketRequestOptions(header=dict(HEADERS))
    assert SECRET not in repr(opts) and SECRET not in str(opts)
    assert "***" in repr(opts)


def _handshake_log(ws, url, caplog) -> tuple[list[str], list[logging.LogRecord]]:
    rec = Recorder(ws)
    with caplog.at_level(logging.DEBUG):
        ws.connect(url, {"header": HEADERS}).result(10)
        ws.send("headers").result(10)
        rec.wait("dataEnd")
        ws.close().result(10)
    return rec.values("message"), caplog.records


def test_credentials_are_sent_but_not_in_our_logs(ws, shared_echo_server, caplog):
    messages, records = _handshake_log(ws, shared_echo_server.url, caplog)
    assert SECRET in messages[0]  # the server did get them
    ours = [r.getMessage() for r in records if r.name.startswith("ohws_jupyter")]
    assert not [line for line in ours if SECRET in line]


def test_credentials_not_in_the_handshake_debug_log(ws, shared_echo_server, caplog):
    _, records = _handshake_log(ws, shared_echo_server.url, caplog)
    client = [r.getMessage() for r in records if r.name == "websockets.client"]
    assert client, "the websockets client logged nothing at DEBUG"
    assert not [line for line in client if line.startswith("> ") and SECRET in line]


@pytest.fixture
def refused_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    yield f"ws://user:{SECRET}@127.0.0.1:{port}/path"
    sock.close()


def test_password_in_the_url_is_masked_in_errors_and_repr(refused_url):
    ws = createWebSocket()
    with pytest.raises(BusinessError) as info:
        ws.connect(refused_url).result(10)
    assert SECRET not in info.value.message
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in repr(ws)


def test_password_in_a_bad_url_is_masked_in_the_url_error():
    with pytest.raises(BusinessError) as info:
        createWebSocket().connect(f"http://user:{SECRET}@127.0.0.1/").result(10)
    assert info.value.code == 2302001
    assert SECRET not in info.value.message


def test_server_binds_loopback_by_default():
    server = createWebSocketServer()
    server.start().result(10)
    try:
        assert server.config.serverIP == "127.0.0.1"
        assert server.url.startswith("ws://127.0.0.1:")
        listening = server._server.sockets  # what the kernel was asked to bind
        assert [s.getsockname()[0] for s in listening] == ["127.0.0.1"]
    finally:
        server.stop().result(10)


def test_command_line_server_binds_loopback_by_default():
    from ohws_jupyter.cli.main import build_parser

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1"


def test_tls_is_verified_by_default():
    opts = WebSocketRequestOptions()
    assert opts.skipServerCertVerification is False
