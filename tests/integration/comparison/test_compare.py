"""``compare`` against real peers on 127.0.0.1: the differences that exist between the
profiles show up as differing rows, and the runs are bounded and clean.

Each test asserts that particular rows differ (or not), never how many rows
differ in all: the ``device`` profile keeps gaining behaviours of its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from typing import Any

import pytest

import ohws_jupyter
from ohws_jupyter import (
    BusinessError,
    Comparison,
    compare,
    createWebSocket,
    get_profile,
    set_profile,
)
from ohws_jupyter.comparison import Difference, Run, RunNamespace
from tests.helpers import ThreadServer, echo_handler, running_server

TIMEOUT = 10


def steps(run: Run, what: str) -> list[str]:
    """The values of the steps called ``what`` in ``run``."""
    return [step.value for step in run.steps if step.what == what]


def difference(result: Comparison, what: str) -> Difference:
    found = [d for d in result.differences if d.what == what]
    assert found, f"no differing row {what!r} in:\n{result}"
    return found[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- differences that exist today ----------------------------------------------------------------
def test_a_large_text_arrives_in_4k_pieces_on_the_seed_and_whole_on_the_device() -> None:
    async def large(webSocket: Any, peer: str) -> None:
        ws = webSocket.createWebSocket()
        ws.on("message", lambda data: None)
        await ws.connect(peer)
        end = ws.once("dataEnd")
        await ws.send("/text 10000")
        await end

    result = compare(large)
    seed_sizes = [v.rsplit("(", 1)[1] for v in steps(result.seed, "ws event 'message'")]
    device_sizes = [v.rsplit("(", 1)[1] for v in steps(result.device, "ws event 'message'")]
    assert seed_sizes == ["4,096 chars)", "4,096 chars)", "1,808 chars)"]
    assert device_sizes == ["10,000 chars)"]
    first = difference(result, "ws event 'message'")
    assert "4,096 chars" in str(first.seed) and "10,000 chars" in str(first.device)
    wire = difference(result, "ws: message <")
    assert str(wire.seed).endswith("in 3 pieces") and not str(wire.device).endswith("pieces")
    # The same 'dataEnd' after the whole message on both.
    assert steps(result.seed, "ws.once() →") == steps(result.device, "ws.once() →") == ["None"]


def test_a_close_frame_without_a_code() -> None:
    async def peer_closes(webSocket: Any, peer: str) -> None:
        ws = webSocket.createWebSocket()
        ws.on("close", lambda result: None)
        await ws.connect(peer)
        await ws.send("/close")  # the lab peer answers with an empty close frame

    result = compare(peer_closes)
    event = difference(result, "ws event 'close'")
    assert event.seed == "CloseResult(code=1005, reason='')"
    assert event.device is not None and "1005" not in event.device
    assert difference(result, "ws: close").seed == "1005 ''"


def test_an_invalid_utf8_text_frame() -> None:
    async def bad_text(webSocket: Any, peer: str) -> None:
        ws = webSocket.createWebSocket()
        ws.on("error", lambda err: None)
        ws.on("close", lambda result: None)
        await ws.connect(peer)
        await ws.send("/badutf8")

    result = compare(bad_text)
    close = difference(result, "ws event 'close'")
    assert str(close.seed).startswith("CloseResult(code=1007")
    assert close.device is not None and "1007" not in close.device
    # Both report the failure through 'error' with code 200.
    for run in (result.seed, result.device):
        assert steps(run, "ws event 'error'")[0].startswith("BusinessError 200")


def test_the_seeds_401_checks_against_what_a_device_does() -> None:
    async def odd_close(webSocket: Any, peer: str) -> None:
        ws = webSocket.createWebSocket()
        await ws.connect(peer)
        await ws.close({"code": 999, "reason": "odd"})

    result = compare(odd_close)
    outcome = difference(result, "ws.close() →")
    assert str(outcome.seed).startswith("BusinessError 401") and outcome.device == "True"
    raised = difference(result, "fn raised")
    assert str(raised.seed).startswith("BusinessError 401") and raised.device is None
    # The seed's connection stayed open: compare closed it at the end of the run.
    assert difference(result, "ws left open") == Difference("ws left open", "OPEN", None)
    assert steps(result.seed, "ws: close") == ["1000 'compare: end of run'"]
    assert steps(result.device, "ws: close") == ["1000 'odd'"]


def test_a_refused_connection_rejects_on_the_seed_and_resolves_on_a_device() -> None:
    port = closed_port()  # the same refused port in both runs

    def refused(webSocket: Any) -> Any:
        ws = webSocket.createWebSocket()
        ws.on("error", lambda err: None)
        ws.on("close", lambda result: None)
        return ws.connect(f"ws://127.0.0.1:{port}").result(TIMEOUT)

    result = compare(refused)
    outcome = difference(result, "ws.connect() →")
    assert str(outcome.seed).startswith("BusinessError 200") and outcome.device == "True"
    assert difference(result, "fn returned") == Difference("fn returned", None, "True")
    for run in (result.seed, result.device):
        assert steps(run, "ws event 'error'")[0].startswith("BusinessError 200")
    assert steps(result.device, "ws event 'close'") == []  # a device reports 'error' alone


def test_a_server_the_code_starts_and_its_clients() -> None:
    def serve(webSocket: Any) -> Any:
        server = webSocket.createWebSocketServer()
        server.on("messageReceive", lambda m: server.send(m.data, m.clientConnection))
        server.start({"serverPort": 0}).result(TIMEOUT)
        ws = webSocket.createWebSocket()
        ws.connect(server.url).result(TIMEOUT)  # a device server without limits refuses it
        reply = ws.once("message")  # listening before the send: the reply may come at once
        ws.send("hi").result(TIMEOUT)
        return reply.result(TIMEOUT)

    with pytest.warns(ohws_jupyter.PortabilityWarning, match="maxConcurrentClientsNumber"):
        result = compare(serve)
    # Its URL reads <server> in both runs, so the same call compares equal.
    assert steps(result.seed, "ws.connect()") == steps(result.device, "ws.connect()")
    assert steps(result.seed, "ws.connect()") == ["'<server>'"]
    assert steps(result.seed, "fn returned") == ["'hi'"]
    assert steps(result.seed, "server event 'messageReceive'") == ["'hi' from conn1"]
    # A device server without limits refuses the client: its server sees no connection.
    assert difference(result, "server: connect") == Difference(
        "server: connect", "conn1 path '/'", None
    )
    assert difference(result, "fn returned").device is None
    assert steps(result.device, "ws: error")[0].startswith("BusinessError 200")
    # What the code left running was stopped, in both runs.
    assert steps(result.seed, "server left running") == ["RUNNING"]
    assert steps(result.device, "server left running") == ["RUNNING"]


# -- how a run goes -----------------------------------------------------------------------------
def test_the_same_code_and_the_same_outcome_make_equal_rows() -> None:
    def callbacks(webSocket: Any, peer: str) -> None:
        ws = webSocket.createWebSocket()
        done = threading.Event()
        ws.connect(peer, lambda err, ok: done.set())
        assert done.wait(TIMEOUT)
        reply = ws.once("message")  # listening before the send: the reply may come at once
        ws.send(b"\x00\x01", lambda err, ok: None)
        reply.result(TIMEOUT)

    result = compare(callbacks)
    for what in ("ws.connect()", "ws.connect() →", "ws.send()", "ws.once() →"):
        assert steps(result.seed, what) == steps(result.device, what), what
        assert not any(d.what == what for d in result.differences)
    assert steps(result.seed, "ws.once() →") == ["b'\\x00\\x01'"]


def test_an_exception_in_fn_is_a_row_and_what_it_left_open_is_closed() -> None:
    def fails(webSocket: Any, peer: str) -> None:
        ws = webSocket.createWebSocket()
        ws.connect(peer).result(TIMEOUT)
        raise ValueError("the code under comparison failed")

    result = compare(fails)
    for run in (result.seed, result.device):
        assert steps(run, "fn raised") == ["ValueError: the code under comparison failed"]
        assert steps(run, "ws left open") == ["OPEN"]
        assert steps(run, "ws: close") == ["1000 'compare: end of run'"]
        ((_, ws),) = run.clients
        assert ws.readyState == 3
    assert not any(d.what == "fn raised" for d in result.differences)


def test_a_coroutine_that_does_not_finish_is_cut_at_the_timeout() -> None:
    async def waits(webSocket: Any, peer: str) -> None:
        ws = webSocket.createWebSocket()
        await ws.connect(peer)
        await ws.once("message")  # nothing comes

    result = compare(waits, timeout=0.5)
    for run in (result.seed, result.device):
        assert steps(run, "fn") == ["did not finish within 0.5 s; it was cancelled"]
        assert run.clients[0][1].readyState == 3


def test_a_plain_function_that_blocks_is_left_behind_at_the_timeout() -> None:
    release = threading.Event()

    def blocks(webSocket: Any, peer: str) -> None:
        ws = webSocket.createWebSocket()
        ws.connect(peer).result(TIMEOUT)
        release.wait(TIMEOUT)

    try:
        result = compare(blocks, timeout=0.3)
    finally:
        release.set()
    for run in (result.seed, result.device):
        assert steps(run, "fn") == ["did not finish within 0.3 s; it goes on in the background"]
        assert steps(run, "ws left open") == ["OPEN"]


def test_an_interrupt_stops_compare_and_still_closes_what_the_run_opened() -> None:
    opened: list[Any] = []
    release = threading.Event()

    def interrupted(webSocket: Any, peer: str) -> None:
        ws = webSocket.createWebSocket()
        ws.connect(peer).result(TIMEOUT)
        opened.append(ws)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while compare waits for this run
        release.wait(TIMEOUT)

    with running_server() as server:  # a peer compare does not stop: only it closes ws
        try:
            with pytest.raises(KeyboardInterrupt):
                compare(interrupted, peer=lambda: server.url)
        finally:
            release.set()
        ((ws,),) = [opened]
        assert ws.readyState == 3
        assert ws.profile == "seed"  # the first run; the second never started


def test_compare_inside_a_running_event_loop() -> None:
    # As in a Jupyter kernel: the caller's loop is running on this thread.
    async def echo(webSocket: Any, peer: str) -> str:
        ws = webSocket.createWebSocket()
        await ws.connect(peer)
        reply = ws.once("message")  # listening before the send: the reply may come at once
        await ws.send("ping me")
        return await reply

    async def main() -> Comparison:
        assert asyncio.get_running_loop().is_running()
        return compare(echo)

    result = asyncio.run(main())
    assert steps(result.seed, "fn returned") == steps(result.device, "fn returned")
    assert steps(result.seed, "fn returned") == ["'ping me'"]


def test_each_run_gets_a_fresh_peer_from_a_peer_function() -> None:
    servers: list[Any] = []

    def fresh() -> str:
        server = ThreadServer(echo_handler).start()
        servers.append(server)
        return server.url

    def echo(webSocket: Any, peer: str) -> str:
        ws = webSocket.createWebSocket()
        ws.connect(peer).result(TIMEOUT)
        reply = ws.once("message")  # listening before the send: the reply may come at once
        ws.send("hello").result(TIMEOUT)
        return reply.result(TIMEOUT)

    try:
        result = compare(echo, peer=fresh)
    finally:
        for server in servers:
            server.stop()
    assert len(servers) == 2 and servers[0].url != servers[1].url
    assert [result.seed.peer, result.device.peer] == [s.url for s in servers]
    for run in (result.seed, result.device):
        assert steps(run, "ws.connect()") == ["'<peer>'"]
    assert steps(result.device, "fn returned") == ["'hello'"]


def test_a_function_without_a_peer_gets_none_and_the_namespace_is_the_runs() -> None:
    port = closed_port()

    def refused(webSocket: Any) -> Any:
        assert isinstance(webSocket, RunNamespace)
        ws = webSocket.createWebSocket()
        assert isinstance(ws, webSocket.WebSocket)  # the wrapper passes for the real class
        return [webSocket.profile, ws.connect(f"ws://127.0.0.1:{port}")]

    result = compare(refused)
    assert result.seed.peer is None and result.device.peer is None
    assert difference(result, "fn returned") == Difference(
        "fn returned", "['seed', a promise]", "['device', a promise]"
    )
    # A refused connection: a row for the outcome of connect in each run.
    assert steps(result.seed, "ws.connect() →")[0].startswith("BusinessError 200")
    assert steps(result.device, "ws.connect() →")


@pytest.mark.usefixtures("fresh_profile")
def test_each_run_has_its_profile_and_leaves_the_default_and_other_objects_alone() -> None:
    set_profile("device")  # the default for objects created afterwards, not for the runs
    mine = createWebSocket()

    def profiles(webSocket: Any, peer: str) -> list[str]:
        server = webSocket.createWebSocketServer()
        return [webSocket.profile, webSocket.createWebSocket().profile, server.profile]

    result = compare(profiles)
    assert steps(result.seed, "fn returned") == ["['seed', 'seed', 'seed']"]
    assert steps(result.device, "fn returned") == ["['device', 'device', 'device']"]
    assert get_profile() == "device" and mine.profile == "device"


def test_bad_arguments_are_401() -> None:
    with pytest.raises(BusinessError) as not_callable:
        compare("print('hi')")  # type: ignore[arg-type]
    with pytest.raises(BusinessError) as bad_timeout:
        compare(lambda webSocket: None, timeout=0)
    with pytest.raises(BusinessError) as bad_peer:
        compare(lambda webSocket, peer: None, peer="http://127.0.0.1:1")
    assert not_callable.value.code == bad_timeout.value.code == bad_peer.value.code == 401
    assert "timeout must be a positive number of seconds" in str(bad_timeout.value)
    assert "'lab'" in str(bad_peer.value) and "ws:// URL" in str(bad_peer.value)
