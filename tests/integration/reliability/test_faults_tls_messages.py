"""Faults of TLS and of received messages.

TLS: each bad certificate is refused by default, with a message naming the
cause, and accepted only with ``skipServerCertVerification``. Messages: too
big (1009), invalid UTF-8 (1007), ten thousand fragments, 5 MiB intact.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import ssl

import pytest
import trustme

from ohws_jupyter import createWebSocket, createWebSocketServer
from ohws_jupyter.core.checks import MAX_SEND_SIZE
from ohws_jupyter.core.options import PIECE_SIZE
from tests.helpers import Recorder, running_server, wait_until

from .test_faults_handshake import failed_attempt
from .test_faults_transport import assert_connects_again

# -- TLS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trusted_ca() -> trustme.CA:
    return trustme.CA()


def _self_signed(tmp_path) -> ssl.SSLContext:
    # A CA certificate is self-signed; serving it as the leaf makes a self-signed server.
    own = trustme.CA()
    cert, key = tmp_path / "self.pem", tmp_path / "self.key"
    own.cert_pem.write_to_path(str(cert))
    own.private_key_pem.write_to_path(str(key))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _leaf(ca: trustme.CA, host: str, **kwargs) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(host, **kwargs).configure_cert(ctx)
    return ctx


CASES = {
    "expired": (r"certificate has expired", True),
    "self-signed": (r"self[- ]signed certificate", False),
    "wrong host": (r"(IP address|Hostname) mismatch", True),
    "unknown CA": (r"unable to get local issuer certificate", False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_certificate_refused_by_default_accepted_with_opt_out(tmp_path, trusted_ca, case):
    ca_file = tmp_path / "ca.pem"
    trusted_ca.cert_pem.write_to_path(str(ca_file))
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    ctx = {
        "expired": lambda: _leaf(trusted_ca, "127.0.0.1", not_after=past),
        "self-signed": lambda: _self_signed(tmp_path),
        "wrong host": lambda: _leaf(trusted_ca, "other.example"),
        "unknown CA": lambda: _leaf(trustme.CA(), "127.0.0.1"),
    }[case]()
    pattern, give_ca = CASES[case]
    options = {"caPath": str(ca_file)} if give_ca else {}
    with running_server(ssl=ctx) as server:
        url = f"wss://127.0.0.1:{server.port}"
        ws = createWebSocket()
        err = failed_attempt(ws, url, options)
        assert err.data == "0"
        assert re.search(pattern, err.message), err.message
        assert "skipServerCertVerification" in err.message
        assert isinstance(err.__cause__, ssl.SSLCertVerificationError)
        # The same object, with the explicit opt-out, connects and echoes.
        rec = Recorder(ws)
        assert ws.connect(url, {**options, "skipServerCertVerification": True}).result(10)
        ws.send("over unverified tls").result(10)
        rec.wait("dataEnd")
        assert rec.values("message") == ["over unverified tls"]
        assert ws.close().result(10) is True


def test_tls_to_a_plain_server_fails_with_a_message_naming_the_cause(ws, shared_echo_server):
    url = shared_echo_server.url.replace("ws://", "wss://")
    err = failed_attempt(ws, url, {"openTimeout": 3})
    assert not err.message.rstrip().endswith(":"), err.message
    assert "TLS" in err.message or "reset" in err.message.lower(), err.message
    assert_connects_again(ws, shared_echo_server.url)


# -- received messages -----------------------------------------------------------------


def _close_codes_seen_by(server) -> list[int | None]:
    # close_code is known once the server's side of TCP is closed too.
    wait_until(
        lambda: all(c.close_code is not None for c in server.connections), 10, "server closed"
    )
    return [conn.close_code for conn in server.connections]


def test_message_over_the_receive_limit_closes_1009(ws, shared_echo_server):
    async def handler(conn):
        await conn.send("small first")
        await conn.send("x" * 2001)
        await conn.wait_closed()

    with running_server(handler) as server:
        rec = Recorder(ws)
        ws.connect(server.url, {"maxMessageSize": 2000}).result(10)
        rec.wait("close")
        names = rec.names()
        assert names[-2:] == ["error", "close"], names
        err = rec.values("error")[0]
        assert err.code == 200
        assert "too big" in err.message and "maxMessageSize" in err.message
        assert "1009" in err.message
        assert rec.values("close")[0].code == 1009
        assert rec.values("message") == ["small first"]
        assert _close_codes_seen_by(server) == [1009]
    assert_connects_again(ws, shared_echo_server.url)


def test_message_at_the_receive_limit_is_delivered(ws):
    async def handler(conn):
        await conn.send(b"y" * 2000)
        await conn.wait_closed()

    with running_server(handler) as server:
        rec = Recorder(ws)
        ws.connect(server.url, {"maxMessageSize": 2000, "wholeMessages": True}).result(10)
        rec.wait("dataEnd")
        assert rec.values("message") == [b"y" * 2000]
        assert ws.close().result(10) is True


def test_invalid_utf8_closes_1007(ws, shared_echo_server):
    async def handler(conn):
        await conn.send("valid first")
        await conn.send(b"bad \xff\xfe utf-8", text=True)
        await conn.wait_closed()

    with running_server(handler) as server:
        rec = Recorder(ws)
        ws.connect(server.url).result(10)
        rec.wait("close")
        names = rec.names()
        assert names[-2:] == ["error", "close"], names
        err = rec.values("error")[0]
        assert err.code == 200 and "UTF-8" in err.message and "1007" in err.message
        assert rec.values("close")[0].code == 1007
        assert rec.values("message") == ["valid first"]
        assert _close_codes_seen_by(server) == [1007]
    assert_connects_again(ws, shared_echo_server.url)


@pytest.fixture(scope="module")
def lab_url():
    server = createWebSocketServer()
    server.start({"serverPort": 0, "mode": "lab", "maxMessageSize": 64 * 1024 * 1024}).result(10)
    yield server.url
    server.stop().result(10)


@pytest.mark.parametrize("whole", [False, True])
def test_ten_thousand_fragments_make_one_message(lab_url, whole):
    text = "".join(f"{i:05d}" for i in range(10_000))  # one number per fragment
    ws = createWebSocket()
    rec = Recorder(ws)
    ws.connect(lab_url, {"wholeMessages": whole}).result(10)
    ws.send(f"/fragments 10000 {text}").result(10)
    wait_until(lambda: {"dataEnd", "close"} & set(rec.names()), 30, "the message or a close")
    assert "close" not in rec.names(), rec.values("error")
    pieces = rec.values("message")
    assert "".join(pieces) == text
    expected = 1 if whole else -(-len(text) // PIECE_SIZE)
    assert len(pieces) == expected
    assert rec.names().count("dataEnd") == 1
    assert ws.close().result(10) is True


def test_invalid_utf8_from_the_lab_server(lab_url):
    ws = createWebSocket()
    rec = Recorder(ws)
    ws.connect(lab_url).result(10)
    ws.send("/badutf8").result(10)
    rec.wait("close")
    assert rec.names()[-2:] == ["error", "close"]
    assert rec.values("close")[0].code == 1007


@pytest.mark.parametrize("whole", [False, True])
def test_five_mib_binary_echo_is_intact(lab_url, whole):
    data = os.urandom(MAX_SEND_SIZE)
    ws = createWebSocket()
    rec = Recorder(ws)
    ws.connect(lab_url, {"wholeMessages": whole}).result(10)
    assert ws.send(data).result(30) is True
    rec.wait("dataEnd", timeout=60)
    pieces = rec.values("message")
    assert all(type(p) is bytes for p in pieces)
    if not whole:
        assert len(pieces) == -(-len(data) // PIECE_SIZE)
        assert all(len(p) == PIECE_SIZE for p in pieces[:-1])
    received = b"".join(pieces)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(data).hexdigest()
    assert ws.stats.bytesIn == len(data) and ws.stats.messagesIn == 1
    assert ws.close().result(10) is True
