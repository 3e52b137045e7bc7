"""Faults of the opening handshake: silence, HTTP errors, redirects, subprotocols.

A failed attempt fires one ``'error'`` (code 200, ``.data`` the HTTP status or
``'0'``), no ``'open'`` and no ``'close'``, rejects the connect promise with the
same error, and leaves the object ready to connect again.
"""

from __future__ import annotations

import threading
import time

import pytest

from ohws_jupyter import BusinessError, ReadyState
from tests.helpers import Recorder, echo_handler, running_server

from .peers import Peer, RawPeer
from .test_faults_transport import assert_connects_again


def failed_attempt(ws, url: str, options: dict | None = None, timeout: float = 15):
    """Connect, expecting failure; check the events and return the error."""
    rec = Recorder(ws)
    with pytest.raises(BusinessError) as info:
        ws.connect(url, options).result(timeout)
    err = info.value
    assert err.code == 200, err
    rec.wait("error")
    assert rec.values("error") == [err]
    assert "open" not in rec.names() and "close" not in rec.names()
    assert ws.state is ReadyState.CLOSED
    for name in ("error", "message", "headerReceive", "open", "dataEnd", "close"):
        ws.off(name)
    return err


def test_handshake_never_answered_hits_open_timeout(ws, shared_echo_server):
    done = threading.Event()

    def behaviour(peer: Peer) -> None:
        peer.read_request()
        done.wait(60)  # reads the request, never answers

    with RawPeer(behaviour) as server:
        start = time.monotonic()
        err = failed_attempt(ws, server.url, {"openTimeout": 0.5})
        elapsed = time.monotonic() - start
        done.set()
    assert elapsed >= 0.45, elapsed  # not sooner; the message says which timeout ended it
    assert err.data == "0"
    assert "did not finish within 0.5 s" in err.message and "openTimeout" in err.message
    assert_connects_again(ws, shared_echo_server.url)


def test_tcp_accepted_but_nothing_read_hits_open_timeout(ws, shared_echo_server):
    done = threading.Event()
    with RawPeer(lambda peer: done.wait(15)) as server:
        err = failed_attempt(ws, server.url, {"openTimeout": 0.3})
        done.set()
    assert "openTimeout" in err.message
    assert_connects_again(ws, shared_echo_server.url)


@pytest.mark.parametrize(
    "status,reason", [(403, "Forbidden"), (404, "Not Found"), (500, "Internal Server Error")]
)
def test_http_status_instead_of_101(ws, shared_echo_server, status, reason):
    with RawPeer(lambda peer: peer.answer_http(status, reason)) as server:
        err = failed_attempt(ws, server.url + "/chat")
    assert err.data == str(status)
    assert f"HTTP {status} {reason}" in err.message
    assert err.to_dict() == {"code": 200, "message": err.message, "data": str(status)}
    assert_connects_again(ws, shared_echo_server.url)


def test_redirect_is_followed_to_the_new_location(ws, shared_echo_server):
    target = shared_echo_server.url + "/moved"

    def behaviour(peer: Peer) -> None:
        peer.answer_http(302, "Found", {"Location": target})

    with RawPeer(behaviour) as server:
        rec = Recorder(ws)
        assert ws.connect(server.url).result(10) is True
        rec.wait("open")
        assert rec.names() == ["headerReceive", "open"]
        ws.send("after redirect").result(10)
        rec.wait("dataEnd")
    assert rec.values("message") == ["after redirect"]
    assert ws.close().result(10) is True


def test_redirect_loop_fails_instead_of_hanging(ws, shared_echo_server):
    holder: dict[str, str] = {}

    def behaviour(peer: Peer) -> None:
        peer.answer_http(301, "Moved Permanently", {"Location": holder["url"]})

    with RawPeer(behaviour) as server:
        holder["url"] = server.url + "/again"
        err = failed_attempt(ws, server.url)
    assert "redirect" in err.message.lower()
    assert_connects_again(ws, shared_echo_server.url)


def test_redirect_to_http_is_refused(ws, shared_echo_server):
    def behaviour(peer: Peer) -> None:
        peer.answer_http(302, "Found", {"Location": "http://127.0.0.1:9/page"})

    with RawPeer(behaviour) as server:
        err = failed_attempt(ws, server.url)
    assert err.code == 200 and err.data == "302"
    assert "http://127.0.0.1:9/page" in err.message
    assert_connects_again(ws, shared_echo_server.url)


@pytest.mark.parametrize("offered", [["chat"], None])
def test_server_picks_a_subprotocol_not_offered(ws, shared_echo_server, offered):
    with RawPeer(lambda peer: peer.accept(subprotocol="evil")) as server:
        options = {"protocol": offered} if offered else None
        err = failed_attempt(ws, server.url, options)
    assert "subprotocol" in err.message
    if offered:
        assert "evil" in err.message
    assert err.data == "0"
    assert_connects_again(ws, shared_echo_server.url)


def test_server_without_the_offered_subprotocol_is_accepted_as_none(ws):
    # RFC 6455 4.1: a server may ignore the offer; the connection has no subprotocol.
    with running_server(echo_handler) as server:
        assert ws.connect(server.url, {"protocol": "chat"}).result(10) is True
        assert ws.protocol == ""
        assert ws.close().result(10) is True


@pytest.mark.parametrize("hang_up", [True, False])
def test_garbage_instead_of_http(ws, shared_echo_server, hang_up):
    done = threading.Event()

    def behaviour(peer: Peer) -> None:
        peer.read_request()
        peer.sock.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        if hang_up:
            peer.sock.close()
        else:
            done.wait(15)  # keeps the TCP connection open: only openTimeout ends it

    with RawPeer(behaviour) as server:
        err = failed_attempt(ws, server.url, {"openTimeout": 1})
        done.set()
    assert err.data == "0"
    if hang_up:
        assert "valid HTTP response" in err.message
    assert_connects_again(ws, shared_echo_server.url)


def test_connection_refused(ws, shared_echo_server):
    with RawPeer(lambda peer: None) as server:
        url = server.url
    err = failed_attempt(ws, url)
    assert "refused" in err.message
    assert_connects_again(ws, shared_echo_server.url)
