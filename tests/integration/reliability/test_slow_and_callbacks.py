"""Slow consumers, slow networks, and callbacks that misbehave.

A slow consumer must not grow memory without bound (reading pauses, the peer
blocks in TCP) and loses nothing. A slow network send resolves its promises in
order; ``close()`` during pending sends flushes or rejects every one of them.
Callbacks that raise, block, or re-enter the API never break the connection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

import pytest

from ohws_jupyter import BusinessError, ReadyState, createWebSocket
from ohws_jupyter.engine.runtime import get_runtime
from tests.helpers import Recorder, running_server, wait_until

from .peers import Peer, RawPeer, snapshot

MiB = 1024 * 1024

# -- slow consumer ---------------------------------------------------------------------


def _flood_server(count: int, size: int, server_send_seconds: list[float]):
    async def handler(conn):
        await conn.recv()  # "go"
        start = time.monotonic()
        for i in range(count):
            await conn.send(i.to_bytes(4, "big") + b"\x00" * (size - 4))
        server_send_seconds.append(time.monotonic() - start)
        await conn.wait_closed()

    return running_server(handler, max_size=None)


@pytest.mark.parametrize(
    "limits",
    [
        {"maxQueuedMessages": 4, "compression": False},
        {"maxQueuedBytes": 2 * MiB, "compression": False},
        {"maxQueuedMessages": 4},
    ],
    ids=["by-messages", "by-bytes", "by-messages-deflate"],
)
def test_slow_consumer_has_bounded_memory_and_loses_nothing(ws, limits):
    count, size = 120, 512 * 1024  # 60 MiB in all, far more than the limit
    seconds: list[float] = []
    got: list[int] = []
    peak = {"queued": 0, "rss": 0}
    stop = threading.Event()

    def consumer(value: bytes) -> None:
        got.append(int.from_bytes(value[:4], "big"))
        time.sleep(0.04)  # far slower than loopback delivers

    def sampler() -> None:
        while not stop.is_set():
            peak["queued"] = max(peak["queued"], get_runtime().pending_callbacks())
            peak["rss"] = max(peak["rss"], snapshot()["rss"])
            stop.wait(0.05)

    with _flood_server(count, size, seconds) as server:
        ws.on("message", consumer)
        ws.connect(server.url, {**limits, "wholeMessages": True}).result(10)
        base = snapshot()["rss"]
        watcher = threading.Thread(target=sampler, daemon=True)
        watcher.start()
        ws.send("go").result(10)
        try:
            wait_until(lambda: len(got) == count, 60, "every message")
        finally:
            stop.set()
            watcher.join(5)
    assert got == list(range(count))  # in order, none dropped
    assert ws.stats.messagesIn == count
    # Queued deliveries stay near the limit, not near `count`.
    limit = limits.get("maxQueuedMessages", (2 * MiB) // size)
    assert peak["queued"] <= limit + 2, peak
    assert peak["rss"] - base < 24 * MiB, (peak["rss"] - base) / MiB
    # The server was held back by TCP: its sends took about as long as our callbacks.
    # Compressed, the whole stream (zeros) fits in the socket buffers, so only the
    # memory bound above applies there.
    if limits.get("compression") is False:
        assert seconds and seconds[0] > 0.5 * count * 0.04, seconds


# -- slow network send ------------------------------------------------------------------


def _stalled_peer(gate: threading.Event):
    def behaviour(peer: Peer) -> None:
        peer.accept()
        gate.wait(30)  # the network is stuck: nothing is read
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MiB)  # and now it flows
        peer.pump(30, until=lambda: peer.close_received is not None)
        peer.sock.close()  # after the closing handshake the server closes TCP first

    return RawPeer(behaviour, rcvbuf=4096)


def _backed_up(promises: list) -> bool:
    """Some sends went out and the last one waits: the socket buffers are full."""
    return promises[0].state == "fulfilled" and promises[-1].state == "pending"


def _connect_and_send(ws, url: str, options: dict, payloads) -> list:
    """Connect, then send every payload from a callback; the sends' promises.

    A callback is never held in ``send`` (a plain thread would wait there while
    more than 4 MiB is unwritten), so the promises stay pending while the
    network is stuck.
    """
    return ws.connect(url, options).then(lambda _: [ws.send(p) for p in payloads]).result(10)


def _settled_order(promises: list) -> list[int]:
    order: list[int] = []
    lock = threading.Lock()
    for i, p in enumerate(promises):

        def record(_value, i=i):
            with lock:
                order.append(i)

        p.then(record, lambda _e: None)
    return order


def test_slow_network_send_resolves_in_order(ws):
    gate = threading.Event()
    chunk = b"\x01" * (128 * 1024)
    with _stalled_peer(gate) as server:
        promises = _connect_and_send(
            ws,
            server.url,
            {"compression": False},
            [i.to_bytes(4, "big") + chunk for i in range(100)],
        )
        order = _settled_order(promises)
        wait_until(lambda: _backed_up(promises), 10, "sends to back up")
        gate.set()
        assert [p.result(30) for p in promises] == [True] * 100
        wait_until(lambda: len(order) == 100, 10, "every then() to run")
        assert order == list(range(100))
        assert ws.close().result(15) is True
        peer = server.peers[0]
        wait_until(lambda: len(peer.received) == 100, 10, "the peer to read all")
    assert [int.from_bytes(m[:4], "big") for m in peer.received] == list(range(100))


def test_close_during_pending_sends_flushes_them(ws):
    gate = threading.Event()
    chunk = b"\x02" * (128 * 1024)
    with _stalled_peer(gate) as server:
        rec = Recorder(ws)
        promises = _connect_and_send(
            ws,
            server.url,
            {"compression": False},
            [i.to_bytes(4, "big") + chunk for i in range(100)],
        )
        wait_until(lambda: _backed_up(promises), 10, "sends to back up")
        closing = ws.close({"code": 1000, "reason": "done"})
        with pytest.raises(BusinessError) as late:
            ws.send(b"too late").result(5)
        assert late.value.code == 2302999
        gate.set()
        assert closing.result(30) is True
        outcomes = [p.state for p in promises]
        peer = server.peers[0]
    # Flushed: each one resolved and reached the peer, in order, before the close frame.
    assert outcomes == ["fulfilled"] * 100
    assert [int.from_bytes(m[:4], "big") for m in peer.received] == list(range(100))
    assert peer.close_received is not None and peer.close_received.code == 1000
    assert rec.values("close")[-1].code == 1000


def test_close_during_sends_to_a_dead_network_rejects_within_close_timeout(ws):
    gate = threading.Event()  # never set: the peer never reads again
    chunk = b"\x03" * (128 * 1024)
    with _stalled_peer(gate) as server:
        rec = Recorder(ws)
        promises = _connect_and_send(
            ws, server.url, {"compression": False, "closeTimeout": 1}, [chunk] * 100
        )
        wait_until(lambda: _backed_up(promises), 10, "sends to back up")
        closing = ws.close()
        try:
            # The peer never reads until the test ends: only closeTimeout (1 s) can
            # settle them, well within this generous wait.
            wait_until(
                lambda: closing.done() and all(p.done() for p in promises),
                30,
                "close() and every send to settle",
            )
            rec.wait("close", timeout=10)
            states = [p.state for p in promises]
            fulfilled = states.count("fulfilled")
            # A prefix was handed to the transport; every other one was rejected with a reason.
            assert states == ["fulfilled"] * fulfilled + ["rejected"] * (100 - fulfilled)
            for p in promises[fulfilled:]:
                assert isinstance(p.exception(), BusinessError)
        finally:
            gate.set()
            server.peers[0].sock.close()


# -- callbacks that misbehave ------------------------------------------------------------


def test_raising_callbacks_are_reported_and_harmless(ws, shared_echo_server, caplog):
    seen: list[str] = []

    def bad(value):
        raise ValueError(f"boom on {value}")

    ws.on("open", lambda: 1 / 0)
    ws.on("message", bad)
    ws.on("message", seen.append)
    ws.on("dataEnd", lambda: [].pop())
    with caplog.at_level(logging.ERROR):
        ws.connect(shared_echo_server.url).result(10)
        for i in range(20):
            ws.send(f"n{i}")
        wait_until(lambda: len(seen) == 20, 10, "20 messages")
    assert seen == [f"n{i}" for i in range(20)]
    assert ws.state is ReadyState.OPEN
    text = caplog.text
    assert "boom on n0" in text and "ZeroDivisionError" in text and "IndexError" in text
    assert ws.close().result(10) is True


def test_callback_blocking_for_seconds_keeps_the_connection_alive(ws):
    async def handler(conn):
        for i in range(30):
            await conn.send(f"t{i}")
            await asyncio.sleep(0.05)
        await conn.wait_closed()

    seen: list[str] = []

    def slow(value: str) -> None:
        seen.append(value)
        if value == "t0":
            time.sleep(2.0)  # longer than pingInterval + pongTimeout

    with running_server(handler) as server:
        rec = Recorder(ws)
        ws.on("message", slow)
        ws.connect(server.url, {"pingInterval": 0.2, "pongTimeout": 0.3}).result(10)
        wait_until(lambda: len(seen) == 30, 15, "30 messages")
        assert seen == [f"t{i}" for i in range(30)]
        assert "error" not in rec.names() and "close" not in rec.names()
        assert ws.state is ReadyState.OPEN
        assert ws.close().result(10) is True


def test_close_from_inside_a_message_callback(ws, shared_echo_server):
    rec = Recorder(ws)
    results: list = []

    def on_message(value: str) -> None:
        if value == "stop":
            ws.close(
                {"code": 4000, "reason": "from a callback"}, lambda e, v: results.append((e, v))
            )

    ws.on("message", on_message)
    ws.connect(shared_echo_server.url).result(10)
    ws.send("first")
    ws.send("stop")
    rec.wait("close")
    wait_until(lambda: results, 10, "the close callback")
    assert results == [(None, True)]
    assert rec.values("close") == [rec.values("close")[0]]
    assert (rec.values("close")[0].code, rec.values("close")[0].reason) == (4000, "from a callback")
    assert rec.values("message")[:2] == ["first", "stop"]


def test_blocking_on_close_inside_a_callback_returns_once_closed(ws, shared_echo_server):
    # close() settles on the I/O thread, not behind this callback: no deadlock.
    results: list[object] = []

    def on_message(value: str) -> None:
        try:
            results.append(ws.close().result(60))
        except BaseException as exc:
            results.append(exc)

    ws.on("message", on_message)
    ws.connect(shared_echo_server.url).result(10)
    ws.send("x")
    # A deadlock would end only with result()'s own timeout: an error, not True.
    wait_until(lambda: results, 90, "close() inside the callback to return")
    assert results == [True]
    assert ws.state is ReadyState.CLOSED


def test_blocking_on_once_inside_its_own_callback_fails_fast(ws, shared_echo_server):
    # once() settles on this object's lane: waiting for it there would deadlock.
    errors: list[BaseException] = []

    def on_message(value: str) -> None:
        try:
            ws.once("message").result(600)
        except BaseException as exc:
            errors.append(exc)

    ws.on("message", on_message)
    ws.connect(shared_echo_server.url).result(10)
    ws.send("x")
    # Refused at once: a deadlock would wait for result()'s 600 s timeout.
    wait_until(lambda: errors, 60, "the error")
    assert isinstance(errors[0], BusinessError) and "callback" in errors[0].message


def test_reconnect_from_inside_the_close_callback(shared_echo_server):
    ws = createWebSocket()
    rec = Recorder(ws)
    rounds: list[int] = []

    def on_close(_err, result) -> None:
        if len(rounds) < 3:
            rounds.append(result.code)
            ws.connect(shared_echo_server.url)

    def on_open() -> None:
        ws.send("kick")  # the echo server closes with 4001

    ws.on("close", on_close)
    ws.on("open", on_open)
    ws.connect(shared_echo_server.url)
    rec.wait("close", 4, timeout=20)
    assert rounds == [4001, 4001, 4001]
    assert rec.names().count("open") == 4
    assert "error" not in rec.names()
    wait_until(lambda: ws.state is ReadyState.CLOSED, 10, "CLOSED")


def test_connect_again_from_inside_open_is_2302003(ws, shared_echo_server):
    errors: list = []
    ws.on("open", lambda: ws.connect(shared_echo_server.url, lambda e, v: errors.append(e)))
    ws.connect(shared_echo_server.url).result(10)
    wait_until(lambda: errors, 10, "the second connect's callback")
    assert errors[0].code == 2302003
    assert ws.state is ReadyState.OPEN
    assert ws.close().result(10) is True
