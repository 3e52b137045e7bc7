"""The client against a plain ``websockets`` server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import threading
import time
import weakref

import pytest

from ohws_jupyter import (
    BusinessError,
    CloseResult,
    Promise,
    ReadyState,
    WebSocketCloseOptions,
    WebSocketRequestOptions,
    createWebSocket,
    split_message,
    webSocket,
)
from ohws_jupyter.engine.runtime import get_runtime, live_tasks
from tests.helpers import Recorder, running_server, wait_until


def rejection(promise: Promise, timeout: float = 10) -> BusinessError:
    with pytest.raises(BusinessError) as info:
        promise.result(timeout)
    return info.value


# -- the happy path and event order ----------------------------------------------------


def test_event_order_of_one_connection(ws, echo_server):
    rec = Recorder(ws)
    assert ws.connect(echo_server.url).result(10) is True
    assert ws.state is ReadyState.OPEN
    assert ws.send("hello").result(10) is True
    rec.wait("dataEnd")
    assert ws.close({"code": 1000, "reason": "bye"}).result(10) is True
    assert ws.state is ReadyState.CLOSED  # the promise follows the wire...
    rec.wait("close")  # ...and 'close' comes after every earlier event
    assert rec.names() == ["headerReceive", "open", "message", "dataEnd", "close"]
    assert rec.values("open") == [{"status": 101, "message": "Switching Protocols"}]
    assert rec.values("message") == ["hello"]
    assert rec.values("close") == [CloseResult(1000, "bye")]
    headers = rec.values("headerReceive")[0]
    assert any(k.lower() == "sec-websocket-accept" for k in headers)
    assert ws.state is ReadyState.CLOSED


def test_open_value_reads_like_the_ohos_object(ws, echo_server):
    seen = []
    ws.on("open", lambda err, value: seen.append((err, value.status, value.message)))
    ws.connect(echo_server.url).result(10)
    wait_until(lambda: seen, what="open")
    assert seen == [(None, 101, "Switching Protocols")]


def test_namespace_matches_the_arkts_import():
    sock = webSocket.createWebSocket()
    assert isinstance(sock, webSocket.WebSocket)
    assert sock.state is ReadyState.CLOSED


def test_await_form_in_a_coroutine(echo_server):
    async def main() -> list:
        sock = createWebSocket()
        got = []
        sock.on("message", lambda value: got.append(value))
        assert await sock.connect(echo_server.url) is True
        assert await sock.send(b"\x00\x01") is True
        assert await sock.send("text") is True
        for _ in range(500):
            if len(got) == 2:
                break
            await asyncio.sleep(0.01)
        assert await sock.close() is True
        return got

    assert asyncio.run(main()) == [b"\x00\x01", "text"]


def test_callback_form_of_every_operation(ws, echo_server):
    done = threading.Event()
    calls = []

    def closed(err, value):
        calls.append(("close", err, value))
        done.set()

    def sent(err, value):
        calls.append(("send", err, value))
        ws.close(WebSocketCloseOptions(3000, "done"), closed)

    def connected(err, value):
        calls.append(("connect", err, value))
        ws.send("x", sent)

    assert ws.connect(echo_server.url, {"header": {"X-A": "1"}}, connected) is None
    assert done.wait(10)
    assert calls == [("connect", None, True), ("send", None, True), ("close", None, True)]


def test_connect_with_url_and_callback_only(ws, echo_server):
    results = []
    ws.connect(echo_server.url, lambda err, ok: results.append((err, ok)))
    wait_until(lambda: results, what="connect callback")
    assert results == [(None, True)]


def test_one_parameter_operation_callback_gets_the_error(ws, echo_server):
    errors = []
    ws.close(lambda err: errors.append(err))
    wait_until(lambda: errors, what="close callback")
    assert isinstance(errors[0], BusinessError) and errors[0].code == 2302999


def test_promise_then_and_catch_chain_like_js(ws, echo_server):
    out = []
    p = (
        ws.connect(echo_server.url)
        .then(lambda ok: ws.send("chained"))
        .then(lambda ok: out.append(("sent", ok)) or 42)
        .then(lambda v: v + 1)
    )
    assert p.result(10) == 43
    assert out == [("sent", True)]
    caught = ws.send(123).catch(lambda err: err.code).result(10)
    assert caught == 401
    passed_on = ws.send(123).then(lambda v: "never")
    assert rejection(passed_on).code == 401  # no handler: the rejection travels down the chain


def test_promise_repr_is_readable(ws, echo_server):
    p = ws.connect(echo_server.url)
    p.result(10)
    assert repr(p) == "<Promise connect: fulfilled True>"
    bad = ws.send(1)
    rejection(bad)
    assert repr(bad).startswith("<Promise send: rejected [401] Parameter error")


def test_reconnect_after_close(ws, echo_server):
    rec = Recorder(ws)
    for i in range(3):
        ws.connect(echo_server.url).result(10)
        ws.send(f"round {i}").result(10)
        rec.wait("dataEnd", i + 1)
        ws.close().result(10)
        rec.wait("close", i + 1)
    assert rec.values("message") == ["round 0", "round 1", "round 2"]
    assert len(rec.of("open")) == 3 and len(rec.of("close")) == 3


# -- the 4K rule -----------------------------------------------------------------------


def test_ten_kib_text_arrives_in_three_valid_pieces(ws, echo_server):
    rec = Recorder(ws)
    ws.connect(echo_server.url).result(10)
    text = ("a" * 4095 + "é") * 2 + "€" * 700  # multi-byte characters on the 4096 boundaries
    assert len(text.encode()) > 10 * 1024
    ws.send(text).result(10)
    rec.wait("dataEnd")
    pieces = rec.values("message")
    assert len(pieces) == 3
    assert all(isinstance(p, str) and len(p.encode()) <= 4096 for p in pieces)
    assert "".join(pieces) == text
    names = rec.names()
    assert names[-4:] == ["message", "message", "message", "dataEnd"]


def test_binary_pieces_and_whole_message_option(echo_server):
    data = os.urandom(10 * 1024)
    pieced, whole = createWebSocket(), createWebSocket()
    rp, rw = Recorder(pieced), Recorder(whole)
    pieced.connect(echo_server.url).result(10)
    whole.connect(echo_server.url, {"wholeMessages": True}).result(10)
    pieced.send(data).result(10)
    whole.send(data).result(10)
    rp.wait("dataEnd")
    rw.wait("dataEnd")
    assert [len(p) for p in rp.values("message")] == [4096, 4096, 2048]
    assert b"".join(rp.values("message")) == data
    assert rw.values("message") == [data]
    pieced.close().result(10)
    whole.close().result(10)


def test_split_message_never_cuts_a_character():
    text = "😀" * 3000
    pieces = split_message(text)
    assert "".join(pieces) == text
    assert all(len(p.encode()) <= 4096 for p in pieces)
    assert split_message("small") == ["small"]
    assert split_message(b"") == [b""]


# -- closing -------------------------------------------------------------------------------


def test_server_initiated_close_code_and_reason(ws, echo_server):
    rec = Recorder(ws)
    ws.connect(echo_server.url).result(10)
    ws.send("kick").result(10)
    rec.wait("close")
    assert rec.values("close") == [CloseResult(4001, "kicked")]
    assert rec.of("error") == []
    assert ws.state is ReadyState.CLOSED


def test_client_close_code_reaches_the_server(ws):
    seen = []

    async def handler(conn):
        try:
            async for _ in conn:
                pass
        finally:
            seen.append((conn.close_code, conn.close_reason))

    with running_server(handler) as server:
        ws.connect(server.url).result(10)
        ws.close({"code": 4321, "reason": "client says bye"}).result(10)
        wait_until(lambda: seen, what="server saw the close")
    assert seen == [(4321, "client says bye")]


def test_tcp_drop_gives_error_then_close_1006(ws, echo_server):
    rec = Recorder(ws)
    ws.connect(echo_server.url).result(10)
    ws.send("drop").result(10)
    rec.wait("close")
    assert rec.names()[-2:] == ["error", "close"]
    err = rec.values("error")[0]
    assert err.code == 200 and err.data == "0"
    assert rec.values("close")[0].code == 1006


def test_close_flushes_pending_sends_first(ws):
    got = []

    async def handler(conn):
        async for message in conn:
            got.append(message)

    with running_server(handler) as server:
        ws.connect(server.url).result(10)
        promises = [ws.send(f"m{i}") for i in range(200)]
        ws.close().result(10)
        assert [p.result(10) for p in promises] == [True] * 200
        wait_until(lambda: len(got) == 200, what="all messages")
    assert got == [f"m{i}" for i in range(200)]


def test_close_while_connecting_cancels_the_attempt(ws):
    async def never_answer(reader, writer):
        await reader.read(65536)
        await asyncio.sleep(30)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(never_answer, "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        port = server.sockets[0].getsockname()[1]
        rec = Recorder(ws)
        connecting = ws.connect(f"ws://127.0.0.1:{port}")
        assert ws.state is ReadyState.CONNECTING
        assert ws.close().result(10) is True
        err = rejection(connecting)
        assert err.code == 2302999
        assert ws.state is ReadyState.CLOSED
        rec.wait("close")
        assert rec.names() == ["close"]
    finally:

        def shut() -> None:
            # Cancel the silent handler first: a task left pending warns at exit.
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.call_soon(loop.stop)

        loop.call_soon_threadsafe(shut)
        thread.join(5)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (123, 401),
        (None, 401),
        ("http://x", 2302001),
        ("ws//x", 2302001),
        ("ws://", 2302001),
        ("ws://" + "a" * 8191, 2302001),
        ("ftp://127.0.0.1/", 2302001),
    ],
)
def test_bad_urls(ws, url, code):
    err = rejection(ws.connect(url))
    assert err.code == code
    assert ws.state is ReadyState.CLOSED


def test_url_of_8196_characters_is_refused(ws):
    url = "ws://127.0.0.1/" + "a" * (8196 - len("ws://127.0.0.1/"))
    assert len(url) == 8196
    assert rejection(ws.connect(url)).code == 2302001


@pytest.mark.parametrize(
    "options",
    [
        5,
        "header",
        {"header": "Authorization: x"},
        {"header": {"X": object()}},
        {"header": {"X": "a\r\nInjected: 1"}},
        {"header": {"Bad Name": "1"}},
        {"pingInterval": -1},
        {"pingInterval": "30"},
        {"protocol": 5},
        {"proxy": "sometimes"},
        {"skipServerCertVerification": "yes"},
        {"unknownOption": 1},
    ],
)
def test_bad_connect_options_are_401(ws, options):
    err = rejection(ws.connect("ws://127.0.0.1:9", options))
    assert err.code == 401, err
    assert err.message.startswith("Parameter error: ")


def test_missing_cert_files_are_2302002(ws):
    assert rejection(ws.connect("wss://127.0.0.1:9", {"caPath": "/no/such/ca.pem"})).code == 2302002
    cert = {"certPath": "/no/cert.pem", "keyPath": "/no/key.pem"}
    assert rejection(ws.connect("wss://127.0.0.1:9", {"clientCert": cert})).code == 2302002


def test_second_connect_is_2302003(ws, echo_server):
    first = ws.connect(echo_server.url)
    err = rejection(ws.connect(echo_server.url))
    assert err.code == 2302003
    assert first.result(10) is True
    assert rejection(ws.connect(echo_server.url)).code == 2302003


@pytest.mark.parametrize(
    ("data", "code"),
    [(12, 401), (None, 401), ({"a": 1}, 401), (b"x" * (5 * 1024 * 1024 - 15), 401)],
)
def test_bad_send_data(ws, echo_server, data, code):
    ws.connect(echo_server.url).result(10)
    assert rejection(ws.send(data)).code == code
    assert ws.send("still fine").result(10) is True


def test_largest_send_is_accepted(ws, echo_server):
    ws.connect(echo_server.url).result(10)
    assert ws.send(b"x" * (5 * 1024 * 1024 - 16)).result(20) is True


def test_send_and_close_without_connection_are_2302999(ws):
    assert rejection(ws.send("x")).code == 2302999
    assert rejection(ws.close()).code == 2302999


@pytest.mark.parametrize(
    "options",
    [
        {"code": 999},
        {"code": 1005},
        {"code": 1006},
        {"code": 1015},
        {"code": 5000},
        {"code": "1000"},
        {"reason": "x" * 124},
        {"reason": "é" * 62},
        {"reason": 5},
        7,
    ],
)
def test_bad_close_options_are_401(ws, echo_server, options):
    ws.connect(echo_server.url).result(10)
    err = rejection(ws.close(options))
    assert err.code == 401
    assert ws.state is ReadyState.OPEN  # nothing happened to the connection


def test_close_code_message_names_the_fix(ws):
    err = rejection(ws.close({"code": 999}))
    assert err.message == (
        "Parameter error: close code 999 is not allowed; use 1000–1003, 1007–1014 or 3000–4999"
    )


def test_non_callable_callbacks_reject_instead_of_raising(ws):
    assert rejection(ws.connect("ws://127.0.0.1:9", {}, "nope")).code == 401
    assert rejection(ws.send("x", 5)).code == 401
    assert rejection(ws.close({}, 5)).code == 401


def test_on_and_off_raise_401_at_once(ws):
    for bad in [(5, print), ("nosuchevent", print), ("message", 5), (None, print)]:
        with pytest.raises(BusinessError) as info:
            ws.on(*bad)
        assert info.value.code == 401
    with pytest.raises(BusinessError):
        ws.off(5)
    with pytest.raises(BusinessError):
        ws.off("message", "not callable")


def test_connect_failure_fires_error_and_rejects(ws):
    rec = Recorder(ws)
    with running_server(lambda conn: None) as server:
        url = server.url
    err = rejection(ws.connect(url))  # the server is gone: refused
    rec.wait("error")
    assert err.code == 200 and err.data == "0"
    assert rec.values("error")[0] is err
    assert "open" not in rec.names() and "close" not in rec.names()


def test_http_status_is_the_error_data(ws):
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    def forbid(conn, request):
        return Response(403, "Forbidden", Headers(), b"no")

    with running_server(lambda conn: None, process_request=forbid) as server:
        rec = Recorder(ws)
        err = rejection(ws.connect(server.url))
    assert err.code == 200 and err.data == "403"
    assert "403" in err.message
    assert rec.wait("error")[0][0].data == "403"


# -- callbacks -------------------------------------------------------------------------------


def test_callbacks_run_in_order_and_survive_exceptions(ws, echo_server, caplog):
    seen = []

    def broken(value):
        raise ValueError("boom")

    ws.on("message", broken)
    ws.on("message", lambda err, value: seen.append(value))
    ws.connect(echo_server.url).result(10)
    for i in range(50):
        ws.send(str(i))
    wait_until(lambda: len(seen) == 50, what="50 messages")
    assert seen == [str(i) for i in range(50)]
    assert ws.send("after").result(10) is True
    assert any("boom" in r.getMessage() and r.exc_info for r in caplog.records)


def test_off_removes_one_or_all(ws, echo_server):
    a, b = [], []

    def fa(v):
        a.append(v)

    def fb(v):
        b.append(v)

    ws.on("message", fa)
    ws.on("message", fb)
    ws.off("message", fa)
    ws.connect(echo_server.url).result(10)
    ws.send("1").result(10)
    wait_until(lambda: b == ["1"], what="b")
    ws.off("message")
    rec = Recorder(ws)
    ws.send("2").result(10)
    rec.wait("dataEnd")
    assert a == [] and b == ["1"]


def test_arity_adaptation():
    from ohws_jupyter.core.events import adapt

    assert adapt(lambda: "none", 2)((1, 2)) == "none"
    assert adapt(lambda v: v, 2)((None, "value")) == "value"
    assert adapt(lambda e, v: (e, v), 2)((None, "value")) == (None, "value")
    assert adapt(lambda *a: a, 2)((None, "value")) == (None, "value")
    assert adapt(lambda err: err, 0)(()) is None  # the seed's on('dataEnd', (err) => ...)
    assert adapt(lambda err: err, 2, trailing=False)(("E", True)) == "E"


def test_callback_that_blocks_does_not_stall_the_network(ws):
    got = []

    async def handler(conn):
        await conn.send("first")
        await asyncio.sleep(0.2)
        await conn.send("second")
        async for m in conn:
            await conn.send(m)

    with running_server(handler) as server:
        release = threading.Event()
        ws.on("message", lambda v: (got.append(v), release.wait(5) if v == "first" else None))
        ws.connect(server.url).result(10)
        wait_until(lambda: got == ["first"], what="first")
        # The callback thread is blocked, yet sending and keepalive go on.
        assert ws.send("ping").result(5) is True
        release.set()
        wait_until(lambda: got == ["first", "second", "ping"], what="all")


def test_result_on_the_io_thread_fails_fast(ws, echo_server):
    from ohws_jupyter.core.errors import LoopThreadError

    outcome = []

    def on_loop():
        try:
            ws.connect(echo_server.url).result(5)
        except LoopThreadError as exc:
            outcome.append(exc)

    get_runtime().call_soon(on_loop)
    wait_until(lambda: outcome, what="loop call")
    assert isinstance(outcome[0], RuntimeError) and outcome[0].code == 2302999


# -- options ------------------------------------------------------------------------------------


def test_headers_reach_the_server(ws, echo_server):
    rec = Recorder(ws)
    opts = WebSocketRequestOptions(header={"Authorization": "Bearer x", "X-Num": 7})
    ws.connect(echo_server.url, opts).result(10)
    ws.send("headers").result(10)
    rec.wait("dataEnd")
    headers = json.loads(rec.values("message")[0])
    assert headers["Authorization"] == "Bearer x"
    assert headers["X-Num"] == "7"
    assert "Bearer" not in repr(ws.options)


def test_subprotocol_is_negotiated_and_readable(ws):
    with running_server(lambda conn: conn.wait_closed(), subprotocols=["chat", "v2"]) as server:
        ws.connect(server.url, {"protocol": "v2"}).result(10)
        assert ws.protocol == "v2"
        ws.close().result(10)
        other = createWebSocket()
        other.connect(server.url, {"protocol": ["nope", "chat"]}).result(10)
        assert other.protocol == "chat"
        other.close().result(10)


def test_keepalive_detects_a_silent_peer(ws):
    detected = threading.Event()

    async def handler(conn):
        conn.transport.pause_reading()  # half-open: the peer stops answering, no FIN
        await asyncio.get_running_loop().run_in_executor(None, detected.wait, 60)
        conn.transport.abort()

    with running_server(handler) as server:
        rec = Recorder(ws)
        ws.connect(server.url, {"pingInterval": 0.2, "pongTimeout": 0.3}).result(10)
        rec.wait("close", timeout=30)  # the server stays half-open for 60 s
        detected.set()
    assert rec.names()[-2:] == ["error", "close"]
    assert "keepalive" in rec.values("error")[0].message
    assert rec.values("close")[0].code == 1006


def test_keepalive_keeps_a_healthy_connection(ws, echo_server):
    rec = Recorder(ws)
    ws.connect(echo_server.url, {"pingInterval": 0.05, "pongTimeout": 0.5}).result(10)
    deadline = time.monotonic() + 1.0  # twenty ping rounds
    sent = 0
    while time.monotonic() < deadline:
        assert ws.send("tick").result(5) is True
        sent += 1
        rec.wait("dataEnd", sent)
    assert "close" not in rec.names()
    assert ws.state is ReadyState.OPEN


# -- many objects, no leaks -------------------------------------------------------------------


def _open_many(url: str, count: int) -> list:
    socks = [createWebSocket() for _ in range(count)]
    for sock in socks:
        sock.connect(url)
    wait_until(lambda: all(x.state is ReadyState.OPEN for x in socks), 30, "all open")
    return socks


def _close_all(socks: list) -> None:
    for sock in socks:
        sock.close()
    wait_until(lambda: all(x.state is ReadyState.CLOSED for x in socks), 30, "all closed")


def test_hundreds_of_objects_leak_nothing(echo_server):
    _close_all(_open_many(echo_server.url, 1))  # warm the runtime up
    gc.collect()
    threads_before = threading.active_count()
    fds_before = len(os.listdir("/proc/self/fd"))
    socks = _open_many(echo_server.url, 200)
    _close_all(socks[:100])
    # The other hundred are dropped while open: collection closes them (1001).
    del socks
    gc.collect()
    wait_until(lambda: len(os.listdir("/proc/self/fd")) <= fds_before + 2, 30, "sockets closed")
    wait_until(lambda: live_tasks() == 0, 30, "tasks finished")
    assert threading.active_count() == threads_before


def test_garbage_collected_socket_closes_with_1001():
    seen = []

    async def handler(conn):
        await conn.wait_closed()
        seen.append(conn.close_code)

    with running_server(handler) as server:
        sock = createWebSocket()
        sock.connect(server.url).result(10)
        del sock
        gc.collect()
        wait_until(lambda: seen, what="server saw the close")
    assert seen == [1001]


def test_a_socket_whose_callbacks_refer_to_it_is_still_collected_and_closed():
    # on('message', lambda v: ws.send(v)) is the usual echo: the live connection
    # must not keep such an object alive once the notebook drops it.
    seen = []

    async def handler(conn):
        await conn.send("hello")
        await conn.wait_closed()
        seen.append(conn.close_code)

    def connected(url: str, got: threading.Event) -> weakref.ref:
        sock = createWebSocket()  # only the callbacks' closures refer to it after return
        sock.on("message", lambda value: (sock.stats, got.set()))
        sock.on("close", lambda: sock.url)
        sock.connect(url).result(10)
        return weakref.ref(sock)

    with running_server(handler) as server:
        got = threading.Event()
        ref = connected(server.url, got)
        assert got.wait(10)
        wait_until(lambda: gc.collect() >= 0 and ref() is None, 10, "the object to be collected")
        wait_until(lambda: seen, what="server saw the close")
    assert seen == [1001]


def test_a_device_socket_dropped_while_closing_leaves_no_unhandled_rejection(caplog):
    # A device's close() settles once the close frame is queued, so an object may be
    # dropped while CLOSING; its collection must not ask for a second close, which a
    # device refuses, in a promise nobody can handle.
    server = webSocket.createWebSocketServer()
    server.start({"serverPort": 0, "mode": "lab"}).result(10)
    try:
        sock = createWebSocket(profile="device")
        sock.connect(server.url).result(10)
        paused = sock.once("message")
        sock.send("/pause 2").result(5)  # the lab stops reading: our close frame waits
        paused.result(5)
        assert sock.close({"code": 1000, "reason": "bye"}).result(5) is True
        assert sock.readyState == ReadyState.CLOSING
        with caplog.at_level("WARNING", logger="ohws_jupyter"):
            del sock, paused
            gc.collect()
            # Runs on the I/O thread after what the collection scheduled there.
            later = createWebSocket()
            later.connect(server.url).result(10)
            later.close({"code": 1000, "reason": "done"}).result(10)
            gc.collect()
        assert [r.getMessage() for r in caplog.records if "unhandled" in r.getMessage()] == []
    finally:
        server.stop().result(10)


def test_no_thread_until_first_use(echo_server):
    """In a fresh interpreter: importing, creating objects and subscribing start no thread;
    the first connect starts the I/O thread (and, with a callback, a callback worker)."""
    import subprocess
    import sys

    code = (
        "import threading\n"
        "import ohws_jupyter\n"
        "from ohws_jupyter.engine.runtime import get_runtime\n"
        "ws = ohws_jupyter.createWebSocket()\n"
        "ws.on('message', print)\n"
        "ws.off('message')\n"
        "server = ohws_jupyter.createWebSocketServer()\n"
        "server.on('connect', print)\n"
        "print(threading.active_count(), get_runtime().started)\n"
        "opened = threading.Event()\n"
        f"ws.connect({echo_server.url!r}, lambda err: opened.set())\n"
        "assert opened.wait(10)\n"
        "names = {t.name for t in threading.enumerate()} - {'MainThread'}\n"
        "print(get_runtime().started, sorted({n.rstrip('0123456789') for n in names}))\n"
        "ws.close({'reason': 'done'}).result(10)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.splitlines()
    assert before == "1 False", out.stderr
    started, names = after.split(" ", 1)
    assert started == "True" and "'ohws-io'" in names, after
    assert all(name.startswith("'ohws-") for name in names.strip("[]").split(", ")), after


def test_runtime_threads_are_daemons():
    rt = get_runtime()
    rt.call_soon(lambda: None)
    assert all(t.daemon for t in rt.threads())
    names = {t.name for t in rt.threads()}
    assert "ohws-io" in names
    assert all(n.startswith("ohws-callbacks-") for n in names - {"ohws-io"})


def test_import_patches_nothing_globally():
    import subprocess
    import sys

    code = (
        "import asyncio, sys; before = asyncio.run.__module__;"
        "import ohws_jupyter;"
        "assert 'nest_asyncio' not in sys.modules and 'nest_asyncio2' not in sys.modules;"
        "assert asyncio.run.__module__ == before;"
        "assert 'IPython' not in sys.modules and 'ipywidgets' not in sys.modules;"
        "import threading; assert threading.active_count() == 1; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_plain_script_with_result(tmp_path, echo_server):
    import subprocess
    import sys

    script = tmp_path / "client.py"
    script.write_text(
        "from ohws_jupyter import webSocket\n"
        "import threading\n"
        "ws = webSocket.createWebSocket()\n"
        "got = threading.Event()\n"
        "ws.on('message', lambda err, v: (print('got', v), got.set()))\n"
        f"ws.connect({echo_server.url!r}).result(10)\n"
        "ws.send('hi').result(10)\n"
        "assert got.wait(10)\n"
        "print('close', ws.close().result(10))\n"
    )
    # It exits (the daemon threads do not hold it): a hang ends in TimeoutExpired.
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90)
    assert out.stdout.split("\n")[:2] == ["got hi", "close True"], out.stderr
    assert out.returncode == 0


def test_once_as_promise_and_callback(ws, echo_server):
    calls = []
    ws.once("message", lambda value: calls.append(value))
    ws.connect(echo_server.url).result(10)
    first = ws.once("message")
    ws.send("one").result(10)
    assert first.result(10) == "one"
    second = ws.once("message")  # before sending: the echo may come back at once
    ws.send("two").result(10)
    assert second.result(10) == "two"
    assert calls == ["one"]
    closing = ws.once("close")
    ws.send("kick")
    assert closing.result(10) == CloseResult(4001, "kicked")
    with pytest.raises(BusinessError):
        ws.once("nope")


def test_invalid_utf8_from_the_server_closes_1007(ws):
    async def handler(conn):
        await conn.recv()
        # A text frame whose payload is not UTF-8, bypassing the server's encoder.
        from websockets.frames import Frame, Opcode

        conn.protocol.send_frame(Frame(Opcode.TEXT, b"\xff\xfe"))
        conn.send_data()
        await conn.wait_closed()

    with running_server(handler) as server:
        rec = Recorder(ws)
        ws.connect(server.url).result(10)
        ws.send("go").result(10)
        rec.wait("close")
    assert rec.names()[-2:] == ["error", "close"]
    assert "UTF-8" in rec.values("error")[0].message
    assert rec.values("close")[0].code == 1007


def test_missing_or_extra_arguments_reject_with_401(ws):
    for promise in (ws.connect(), ws.send(), ws.send("a", None, 3), ws.close({}, None, 3)):
        assert rejection(promise).code == 401


def test_unforeseen_option_values_reject_instead_of_raising(ws):
    for options in (
        {"sensitiveHeaders": 5},
        {"proxy": {"host": "h", "port": 1, "exclusionList": 3}},
    ):
        assert rejection(ws.connect("ws://127.0.0.1:9", options)).code == 401


def test_repr_and_errors_mask_the_url_password(ws):
    url = "ws://user:hunter2@127.0.0.1:9/?token=abc"
    err = rejection(ws.connect(url))
    assert "hunter2" not in err.message and "abc" not in err.message
    assert "hunter2" not in repr(ws) and "abc" not in repr(ws)


def test_an_unreferenced_object_completes_its_connect(echo_server):
    # No variable holds the WebSocket: the attempt itself keeps it alive.
    assert createWebSocket().connect(echo_server.url).result(10) is True


def test_panel_is_importable_from_the_package_lazily():
    import subprocess
    import sys

    code = (
        "import sys, ohws_jupyter; assert 'ipywidgets' not in sys.modules;"
        "from ohws_jupyter import WebSocketPanel; assert 'ipywidgets' in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_pieces_keep_event_order_across_subscribers(ws, echo_server):
    order = []
    ws.on("message", lambda v: order.append(("a", len(v))))
    ws.on("message", lambda v: order.append(("b", len(v))))
    end = ws.once("dataEnd")
    ws.connect(echo_server.url).result(10)
    ws.send(b"x" * 9000).result(10)
    end.result(10)
    assert order == [("a", 4096), ("b", 4096), ("a", 4096), ("b", 4096), ("a", 808), ("b", 808)]


def test_off_inside_a_piece_callback_stops_the_rest(ws, echo_server):
    got = []

    def first_piece_only(value):
        got.append(len(value))
        ws.off("message", first_piece_only)

    ws.on("message", first_piece_only)
    end = ws.once("dataEnd")
    ws.connect(echo_server.url).result(10)
    ws.send(b"x" * 9000).result(10)
    end.result(10)
    assert got == [4096]
