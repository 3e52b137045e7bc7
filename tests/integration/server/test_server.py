"""The OHOS WebSocketServer on real 127.0.0.1 sockets, with our client and a `websockets` one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect

from ohws_jupyter import (
    BusinessError,
    CloseResult,
    ServerState,
    WebSocketConnection,
    WebSocketMessage,
    WebSocketServer,
    createWebSocket,
    createWebSocketServer,
    webSocket,
)
from ohws_jupyter.engine.runtime import get_runtime, live_tasks
from ohws_jupyter.server.modes import LAB_HELP
from tests.helpers import Recorder, wait_until

TIMEOUT = 10


class ServerRecorder(Recorder):
    """Subscribes to every server event and lets a test wait for them."""

    EVENTS = ("connect", "messageReceive", "close", "error")


@contextlib.contextmanager
def running(
    config: dict[str, Any] | None = None,
) -> Iterator[tuple[WebSocketServer, ServerRecorder]]:
    server = createWebSocketServer()
    rec = ServerRecorder(server)
    assert server.start({"serverPort": 0, **(config or {})}).result(TIMEOUT) is True
    try:
        yield server, rec
    finally:
        if server.state is ServerState.RUNNING:
            server.stop().result(TIMEOUT)


def fail(promise: Any) -> BusinessError:
    with pytest.raises(BusinessError) as info:
        promise.result(TIMEOUT)
    return info.value


def ours(url: str, **options: Any) -> tuple[Any, Recorder]:
    ws = createWebSocket()
    rec = Recorder(ws)
    assert ws.connect(url, {"wholeMessages": True, **options}).result(TIMEOUT) is True
    return ws, rec


def theirs(url: str, **kwargs: Any) -> ClientConnection:
    return sync_connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, **kwargs)


def closed_with(conn: ClientConnection) -> tuple[int, str]:
    """Read until the server closes; the code and reason it sent."""
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(100):
            conn.recv(TIMEOUT)
    assert info.value.rcvd is not None
    return info.value.rcvd.code, info.value.rcvd.reason


def on_loop_tasks() -> int:
    async def count() -> int:
        return len(asyncio.all_tasks()) - 1  # not this one

    return get_runtime().submit(count()).result(TIMEOUT)


# -- start, stop, addresses ---------------------------------------------------------
def test_start_picks_a_free_port_and_stop_resolves() -> None:
    server = webSocket.createWebSocketServer()
    assert server.state is ServerState.STOPPED and server.url is None
    assert server.start({"serverPort": 0}).result(TIMEOUT) is True
    assert server.state is ServerState.RUNNING
    assert 0 < server.port < 65536
    assert server.config.serverPort == server.port
    assert server.config.serverIP == "127.0.0.1"
    assert server.url == f"ws://127.0.0.1:{server.port}"
    assert server.stop().result(TIMEOUT) is True
    assert server.state is ServerState.STOPPED
    # The same object can listen again.
    assert server.start().result(TIMEOUT) is True
    assert server.stop().result(TIMEOUT) is True


def test_two_servers_on_port_0_never_collide() -> None:
    with running({"mode": "echo"}) as (a, _), running({"mode": "echo"}) as (b, _):
        assert a.port != b.port
        for server in (a, b):
            with theirs(server.url) as conn:
                conn.send(f"to {server.port}")
                assert conn.recv(TIMEOUT) == f"to {server.port}"


def test_await_forms_on_any_loop() -> None:
    async def scenario() -> None:
        server = createWebSocketServer()
        assert await server.start({"serverPort": 0, "mode": "echo"}) is True
        with theirs(server.url):
            await asyncio.to_thread(lambda: None)
            wait_until(lambda: len(server.listAllConnections()) == 1, what="a connection")
            listed = await server.listAllConnections()
            assert len(listed) == 1 and isinstance(listed[0], WebSocketConnection)
            assert await server.send("x", listed[0]) is True
        assert await server.stop() is True

    asyncio.run(scenario())


def test_callback_forms() -> None:
    server = createWebSocketServer()
    rec = ServerRecorder(server)
    results: list[tuple[str, Any, Any]] = []
    done = threading.Event()

    def cb(name: str) -> Callable[[Any, Any], None]:
        def call(err: Any, value: Any) -> None:
            results.append((name, err, value))
            done.set()

        return call

    def step(fn: Callable[[], Any], name: str) -> tuple[Any, Any]:
        done.clear()
        assert fn() is None
        assert done.wait(TIMEOUT), name
        return next((e, v) for n, e, v in reversed(results) if n == name)

    assert step(lambda: server.start({"serverPort": 0}, cb("start")), "start") == (None, True)
    with theirs(server.url) as conn:
        (who,) = rec.wait("connect")[0]
        err, listed = step(lambda: server.listAllConnections(cb("list")), "list")
        assert err is None and listed == [who]
        assert step(lambda: server.send("hi", who, cb("send")), "send") == (None, True)
        assert conn.recv(TIMEOUT) == "hi"
        assert step(lambda: server.close(who, {"code": 4000}, cb("close")), "close") == (None, True)
        assert closed_with(conn) == (4000, "")
        err, _ = step(lambda: server.send("late", who, cb("send2")), "send2")
        assert err.code == 2302006
    assert step(lambda: server.stop(cb("stop")), "stop") == (None, True)
    err, value = step(lambda: server.stop(cb("stop2")), "stop2")
    assert err.code == 2302999 and value is None


# -- error codes --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "code", "words"),
    [
        ({"serverIP": "not-an-ip"}, 2302004, "not an IP address"),
        ({"serverIP": "192.0.2.1"}, 2302004, "not an address of this machine"),
        ({"serverPort": 70000}, 2302005, "out of range"),
        ({"serverPort": -1}, 2302005, "out of range"),
        ({"serverPort": "8080"}, 401, "serverPort must be a whole number"),
        ({"serverPort": True}, 401, "serverPort must be a whole number"),
        ({"serverIP": 127}, 401, "serverIP must be a string"),
        ({"serverPort": 0, "colour": 1}, 401, "unknown config field 'colour'"),
        ({"maxConcurrentClientsNumber": 0}, 401, "maxConcurrentClientsNumber"),
        ({"maxConnectionsForOneClient": 1.5}, 401, "maxConnectionsForOneClient"),
        ({"mode": "chaos"}, 401, "mode must be one of"),
        ({"protocol": 5}, 401, "protocol must be a string"),
        ({"protocol": "bad name"}, 401, "not a valid subprotocol"),
        ({"serverCert": {"certPath": "/nonexistent.pem", "keyPath": "/x"}}, 2302002, "exist"),
        ({"serverCert": "cert.pem"}, 401, "serverCert must be a dict"),
    ],
)
def test_start_errors(config: dict[str, Any], code: int, words: str) -> None:
    server = createWebSocketServer()
    err = fail(server.start(config))
    assert err.code == code
    assert words in err.message
    assert server.state is ServerState.STOPPED


def test_start_error_in_callback_form() -> None:
    got: list[Any] = []
    done = threading.Event()
    createWebSocketServer().start({"serverPort": -5}, lambda e, v: (got.append((e, v)), done.set()))
    assert done.wait(TIMEOUT)
    assert got[0][0].code == 2302005 and got[0][1] is None
    assert fail(createWebSocketServer().start("port 80")).code == 401
    assert fail(createWebSocketServer().start({}, "not callable")).code == 401


def test_port_in_use_is_2302007() -> None:
    with running() as (first, _):
        second = createWebSocketServer()
        err = fail(second.start({"serverPort": first.port}))
        assert err.code == 2302007
        assert str(first.port) in err.message
        assert second.state is ServerState.STOPPED


def test_state_errors() -> None:
    server = createWebSocketServer()
    assert fail(server.stop()).code == 2302999
    with running() as (server, _):
        err = fail(server.start({"serverPort": 0}))
        assert err.code == 2302999 and "RUNNING" in err.message


def test_operation_argument_errors() -> None:
    with running() as (server, _):
        nobody = WebSocketConnection("127.0.0.1", 1)
        assert fail(server.send("x", nobody)).code == 2302006
        assert fail(server.close(nobody)).code == 2302006
        assert fail(server.send(42, nobody)).code == 401
        assert fail(server.send("x", "127.0.0.1:1")).code == 401
        assert fail(server.send("x", nobody, "cb")).code == 401
        assert fail(server.close(None)).code == 401
        assert fail(server.close(nobody, {"code": 999})).code == 401
        assert fail(server.close(nobody, {"code": 1000}, None, None)).code == 401
        assert fail(server.send(b"x" * (5 * 1024 * 1024), nobody)).code == 401
        for bad in (lambda: server.on("message", print), lambda: server.on("connect", 3)):
            with pytest.raises(BusinessError) as info:
                bad()
            assert info.value.code == 401


# -- events and operations with both kinds of client ------------------------------------
def test_events_with_a_websockets_client() -> None:
    with running() as (server, rec):
        with theirs(server.url) as conn:
            (who,) = rec.wait("connect")[0]
            assert who == WebSocketConnection("127.0.0.1", conn.local_address[1])
            conn.send("text")
            conn.send(b"\x00\x01binary")
            messages = [m for (m,) in rec.wait("messageReceive", 2)]
            assert messages == [
                WebSocketMessage("text", who),
                WebSocketMessage(b"\x00\x01binary", who),
            ]
            assert type(messages[1].data) is bytes
            assert server.listAllConnections() == [who]
            conn.close(4002, "client leaves")
        ((closed, result),) = rec.wait("close")
        assert closed == who and result == CloseResult(4002, "client leaves")
        assert rec.of("error") == []
        assert server.listAllConnections() == []


def test_user_callback_echo_with_our_client() -> None:
    # The OHOS way: no mode, the 'messageReceive' callback answers.
    with running() as (server, rec):
        server.on("messageReceive", lambda msg: server.send(msg.data, msg.clientConnection))
        ws, crec = ours(server.url)
        ws.send("hello")
        ws.send(b"\xff\x00")
        crec.wait("message", 2)
        assert crec.values("message") == ["hello", b"\xff\x00"]
        assert ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT) is True
        ((_, result),) = rec.wait("close")
        assert result == CloseResult(1000, "done")


def test_server_send_and_close_reach_the_client_in_order() -> None:
    with running() as (server, rec):
        _, crec = ours(server.url)
        (who,) = rec.wait("connect")[0]
        as_dict = {"clientIP": who.clientIP, "clientPort": who.clientPort}
        sends = [server.send(f"m{i}", as_dict if i % 2 else who) for i in range(50)]
        closing = server.close(who, {"code": 4000, "reason": "kicked"})
        assert all(p.result(TIMEOUT) is True for p in sends)
        assert closing.result(TIMEOUT) is True
        # close() resolves when the connection ended; 'close' follows on the lane.
        assert rec.wait("close") == [(who, CloseResult(4000, "kicked"))]
        crec.wait("close")
        assert crec.values("message") == [f"m{i}" for i in range(50)]
        assert crec.values("close") == [CloseResult(4000, "kicked")]


def test_client_lost_without_close_frame_is_an_error() -> None:
    with running() as (server, rec):
        conn = theirs(server.url)
        (who,) = rec.wait("connect")[0]
        conn.socket.close()  # TCP gone, no close frame
        ((err,),) = rec.wait("error")
        assert err.code == 200 and err.data == who and "without a close frame" in err.message
        assert rec.wait("close")[0] == (who, CloseResult(1006, ""))


def test_off_and_raising_callbacks() -> None:
    with running({"mode": "echo"}) as (server, rec):
        seen: list[Any] = []

        def boom(msg: WebSocketMessage) -> None:
            raise RuntimeError("user bug")

        server.on("messageReceive", seen.append)
        server.on("messageReceive", boom)
        server.off("messageReceive", seen.append)
        with theirs(server.url) as conn:
            conn.send("one")
            assert conn.recv(TIMEOUT) == "one"  # the server keeps serving
            rec.wait("messageReceive")
        server.off("messageReceive")
        assert seen == []


def test_subprotocol() -> None:
    with running({"protocol": "chat", "mode": "echo"}) as (server, _):
        with theirs(server.url, subprotocols=["chat"]) as conn:
            assert conn.subprotocol == "chat"
        ws, _ = ours(server.url, protocol="chat")
        assert ws.protocol == "chat"
        ws.close().result(TIMEOUT)
        bad = createWebSocket()
        err = fail(bad.connect(server.url, {"protocol": "other"}))
        assert err.code == 200 and err.data == "400"


def test_wss_with_server_cert(tmp_path: Any) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path, ca_path = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    config = {"serverCert": {"certPath": str(cert_path), "keyPath": str(key_path)}, "mode": "echo"}
    with running(config) as (server, _):
        assert server.url.startswith("wss://127.0.0.1:")
        ws, crec = ours(server.url, caPath=str(ca_path))
        ws.send("secret")
        crec.wait("message")
        assert crec.values("message") == ["secret"]
        ws.close().result(TIMEOUT)
    bad = {"serverCert": {"certPath": str(ca_path), "keyPath": str(ca_path)}}
    assert fail(createWebSocketServer().start(bad)).code == 401


# -- limits ---------------------------------------------------------------------------
def test_max_concurrent_clients() -> None:
    with running({"maxConcurrentClientsNumber": 2, "mode": "echo"}) as (server, rec):
        stack = contextlib.ExitStack()
        first, second = (stack.enter_context(theirs(server.url)) for _ in range(2))
        rec.wait("connect", 2)
        with theirs(server.url) as third:
            code, reason = closed_with(third)
        assert code == 1013 and "maxConcurrentClientsNumber" in reason and "2" in reason
        for conn in (first, second):  # the others are still served
            conn.send("still here")
            assert conn.recv(TIMEOUT) == "still here"
        assert len(rec.of("connect")) == 2
        first.close()
        rec.wait("close")
        with theirs(server.url) as fourth:  # room again
            fourth.send("in")
            assert fourth.recv(TIMEOUT) == "in"
        stack.close()


def test_max_connections_for_one_client() -> None:
    with running({"maxConnectionsForOneClient": 1, "mode": "echo"}) as (server, rec):
        with theirs(server.url) as first:
            rec.wait("connect")
            with theirs(server.url) as again:
                code, reason = closed_with(again)
            assert code == 1013 and "maxConnectionsForOneClient" in reason
            assert "127.0.0.1" in reason
            # Another address of the loopback network is another client.
            with theirs(server.url, source_address=("127.0.0.2", 0)) as other:
                other.send("other")
                assert other.recv(TIMEOUT) == "other"
            first.send("first")
            assert first.recv(TIMEOUT) == "first"
        ips = sorted(c.clientIP for (c,) in rec.wait("connect", 2))
        assert ips == ["127.0.0.1", "127.0.0.2"]


def test_max_message_size() -> None:
    with running({"maxMessageSize": 1000, "mode": "echo"}) as (server, _), theirs(server.url) as c:
        c.send(b"x" * 1001)
        assert closed_with(c)[0] == 1009


# -- behaviours ---------------------------------------------------------------------
def test_broadcast_mode() -> None:
    with (
        running({"mode": "broadcast"}) as (server, rec),
        theirs(server.url) as a,
        theirs(server.url) as b,
    ):
        rec.wait("connect", 2)
        a.send("hello room")
        assert a.recv(TIMEOUT) == "hello room"
        assert b.recv(TIMEOUT) == "hello room"
        b.send(b"\x01")
        assert a.recv(TIMEOUT) == b"\x01" and b.recv(TIMEOUT) == b"\x01"


@pytest.fixture(scope="module")
def lab() -> Iterator[WebSocketServer]:
    with running({"mode": "lab"}) as (server, _):
        yield server


def test_lab_echoes_and_helps(lab: WebSocketServer) -> None:
    with theirs(lab.url) as conn:
        conn.send("plain")
        assert conn.recv(TIMEOUT) == "plain"
        conn.send(b"/help")  # binary is never a command
        assert conn.recv(TIMEOUT) == b"/help"
        conn.send("/help")
        assert conn.recv(TIMEOUT) == LAB_HELP
        for command, answer in [
            ("/nope", "error: unknown command /nope; send /help for the list"),
            ("/bytes x", "error: N must be a whole number, not 'x'"),
            ("/bytes", "error: usage: /bytes N"),
            (
                "/close 1005",
                "error: close code 1005 may not be sent; use 1000–1003, 1007–1014 or 3000–4999",
            ),
            ("/fragments 9 abc", "error: TEXT has 3 characters; it cannot fill 9 fragments"),
            ("/delay soon hi", "error: SECONDS must be a number, not 'soon'"),
        ]:
            conn.send(command)
            assert conn.recv(TIMEOUT) == answer


def test_lab_close_with_code_and_reason(lab: WebSocketServer) -> None:
    ws, crec = ours(lab.url)
    ws.send("/close 4001 kicked out")
    crec.wait("close")
    assert crec.values("close") == [CloseResult(4001, "kicked out")]
    assert crec.of("error") == []


def test_lab_sizes(lab: WebSocketServer) -> None:
    with theirs(lab.url) as conn:
        conn.send("/bytes 5000")
        data = conn.recv(TIMEOUT)
        assert type(data) is bytes and len(data) == 5000 and data[:3] == b"\x00\x01\x02"
        conn.send("/text 10000")
        text = conn.recv(TIMEOUT)
        assert type(text) is str and len(text) == 10000
        conn.send("/bytes 0")
        assert conn.recv(TIMEOUT) == b""
    # Our client shows the seed's 4K pieces of the same message.
    ws = createWebSocket()
    crec = Recorder(ws)
    ws.connect(lab.url).result(TIMEOUT)
    ws.send("/bytes 9000")
    crec.wait("dataEnd")
    assert [len(p) for p in crec.values("message")] == [4096, 4096, 808]
    ws.close().result(TIMEOUT)


def test_lab_fragments(lab: WebSocketServer) -> None:
    with theirs(lab.url) as conn:
        conn.send("/fragments 3 abcdefgh")
        assert list(conn.recv_streaming()) == ["abc", "def", "gh"]
    ws, crec = ours(lab.url)
    ws.send("/fragments 4 whole again")
    crec.wait("message")
    assert crec.values("message") == ["whole again"]
    ws.close().result(TIMEOUT)


def test_lab_invalid_utf8() -> None:
    with running({"mode": "lab"}) as (server, rec):
        ws = createWebSocket()
        crec = Recorder(ws)
        ws.connect(server.url).result(TIMEOUT)
        ws.send("/badutf8")
        ((err,),) = crec.wait("error")
        assert err.code == 200 and "UTF-8" in err.message
        crec.wait("close")
        # The client failed the connection with 1007 and told the server so.
        assert rec.wait("close")[0][1].code == 1007


def test_lab_drop(lab: WebSocketServer) -> None:
    ws = createWebSocket()
    crec = Recorder(ws)
    ws.connect(lab.url).result(TIMEOUT)
    ws.send("/drop")
    crec.wait("close")
    assert crec.values("close") == [CloseResult(1006, "")]
    assert "without a close frame" in crec.of("error")[0][0].message


def test_lab_drop_is_no_server_error() -> None:
    with running({"mode": "lab"}) as (server, rec), theirs(server.url) as conn:
        conn.send("/drop")
        ((_, result),) = rec.wait("close")
        assert result.code == 1006
        assert rec.of("error") == []


def test_lab_noping(lab: WebSocketServer) -> None:
    ws = createWebSocket()
    crec = Recorder(ws)
    ws.connect(lab.url, {"pingInterval": 0.2, "pongTimeout": 0.3}).result(TIMEOUT)
    ws.send("/noping")
    crec.wait("message")
    assert crec.values("message") == ["ok: pings are no longer answered"]
    ((err,),) = crec.wait("error")
    assert err.code == 200 and "ping" in err.message
    crec.wait("close")


def test_lab_delay_does_not_hold_up_other_replies(lab: WebSocketServer) -> None:
    with theirs(lab.url) as conn:
        start = time.monotonic()
        conn.send("/delay 0.3 later")
        conn.send("now")
        assert conn.recv(TIMEOUT) == "now"
        assert conn.recv(TIMEOUT) == "later"
        assert time.monotonic() - start >= 0.3


def test_lab_pending_delay_dies_with_the_connection(lab: WebSocketServer) -> None:
    with theirs(lab.url) as conn:
        conn.send("/delay 100 never")
        conn.send("sync")
        assert conn.recv(TIMEOUT) == "sync"
        (client,) = lab.clients()
        assert len(client.timers) == 1  # the delayed reply waits
    wait_until(lambda: not client.timers, what="the delayed reply to be cancelled")


# -- stopping with clients attached ----------------------------------------------------------
def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_stop_closes_clients_with_1001_and_leaks_nothing() -> None:
    get_runtime().submit(asyncio.sleep(0)).result(TIMEOUT)  # the runtime is up
    tasks_before, loop_tasks_before, fds_before = live_tasks(), on_loop_tasks(), _fds()

    server = createWebSocketServer()
    rec = ServerRecorder(server)
    server.start({"serverPort": 0, "mode": "lab"}).result(TIMEOUT)
    with theirs(server.url) as conn:
        _, crec = ours(server.url)
        conn.send("/delay 100 never")  # pending work must end with the server too
        rec.wait("connect", 2)
        assert server.stop().result(TIMEOUT) is True
        # stop() resolves once every client connection ended; 'close' follows.
        assert sorted(r.code for _, r in rec.wait("close", 2)) == [1001, 1001]
        assert closed_with(conn) == (1001, "server stopping")
    crec.wait("close")
    assert crec.values("close") == [CloseResult(1001, "server stopping")]
    assert crec.of("error") == []
    assert server.listAllConnections() == []
    wait_until(lambda: live_tasks() <= tasks_before, what="runtime tasks to end")
    wait_until(lambda: on_loop_tasks() <= loop_tasks_before, what="loop tasks to end")
    wait_until(lambda: _fds() <= fds_before, what="sockets to be closed")
    # The port is free again.
    again = createWebSocketServer()
    assert again.start({"serverPort": server.port}).result(TIMEOUT) is True
    again.stop().result(TIMEOUT)


def test_stop_right_after_start() -> None:
    server = createWebSocketServer()
    started = server.start()
    stopped = server.stop()
    assert started.result(TIMEOUT) is True
    assert stopped.result(TIMEOUT) is True
    assert server.state is ServerState.STOPPED
