"""Load and churn: many cycles, many connections, a busy broadcast room.

Afterwards nothing may be left behind: threads, runtime tasks, tasks on the
I/O loop, file descriptors, sockets; and memory comes back near the start.
The peer is a separate ``serve`` process, so every descriptor counted here is
the client's own.
"""

from __future__ import annotations

import threading
import time

import pytest

from ohws_jupyter import ReadyState, createWebSocket, createWebSocketServer
from tests.helpers import wait_until

from .peers import settle, snapshot
from .test_faults_transport import _start_serve

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def serve_url():
    proc, url = _start_serve("--mode", "echo", "--max-clients", "600", "--max-per-client", "600")
    yield url
    proc.terminate()
    proc.wait(20)


def _round_trip(ws, text: str) -> None:
    got = threading.Event()
    ws.on("message", lambda value: got.set() if value == text else None)
    assert ws.send(text).result(10) is True
    assert got.wait(10), f"no echo of {text!r}"
    ws.off("message")


def _cycles(url: str, count: int) -> None:
    ws = createWebSocket()
    for i in range(count):
        assert ws.connect(url).result(10) is True
        if i % 50 == 0:
            _round_trip(ws, f"cycle {i}")
        assert ws.close().result(10) is True
        assert ws.state is ReadyState.CLOSED
    assert ws.stats.connects == count


def test_one_thousand_connect_close_cycles_leak_nothing(serve_url):
    _cycles(serve_url, 50)  # warm up: runtime threads, imports, allocator pools
    before = snapshot()
    start = time.monotonic()
    _cycles(serve_url, 1000)
    elapsed = time.monotonic() - start
    leaks = settle(before, rss_slack=10 * MiB)
    after = snapshot()
    print(f"\n1000 cycles in {elapsed:.1f} s; before {dict(before)}; after {dict(after)}")
    assert leaks == {}


def _hold(url: str, count: int) -> list:
    socks = [createWebSocket() for _ in range(count)]
    promises = [s.connect(url, {"pingInterval": 0}) for s in socks]
    assert all(p.result(60) is True for p in promises)
    for i, sock in enumerate(socks):
        if i % 25 == 0:
            _round_trip(sock, f"held {i}")
    return socks


def _release(socks: list) -> None:
    closing = [s.close() for s in socks]
    assert all(p.result(60) is True for p in closing)


def test_five_hundred_concurrent_connections_leak_nothing(serve_url):
    # A first round warms up: the allocator keeps its high-water pools, which is
    # not a leak; a second round must then end where the first one did.
    _release(_hold(serve_url, 500))
    before = snapshot()
    socks = _hold(serve_url, 500)
    during = snapshot()
    assert during["sockets"] - before["sockets"] >= 500
    assert sum(s.state is ReadyState.OPEN for s in socks) == 500
    _release(socks)
    del socks
    # RSS is the allocator's view and moves by a few MiB with the load on the machine;
    # the object count above is the exact measure, RSS only catches gross growth.
    leaks = settle(before, rss_slack=16 * MiB)
    after = snapshot()
    print(f"\n500 held: before {dict(before)}; during {dict(during)}; after {dict(after)}")
    assert leaks == {}


# -- broadcast room ---------------------------------------------------------------------


def _broadcast_room(clients: int, senders: int, seconds: float, rate: float) -> None:
    """``clients`` in one broadcast room; ``senders`` of them send numbered messages."""
    server = createWebSocketServer()
    server.start(
        {
            "mode": "broadcast",
            "maxConcurrentClientsNumber": clients + 10,
            "maxConnectionsForOneClient": clients + 10,
        }
    ).result(10)
    received: list[list[str]] = [[] for _ in range(clients)]
    socks = [createWebSocket() for _ in range(clients)]
    try:
        for sock, box in zip(socks, received, strict=True):
            sock.on("message", box.append)
        assert all(p.result(60) for p in [s.connect(server.url) for s in socks])
        wait_until(lambda: len(server.listAllConnections()) == clients, 30, "all in the room")
        per_sender = int(seconds * rate)
        start = time.monotonic()
        for i in range(per_sender):
            for k in range(senders):
                socks[k].send(f"{k}:{i}")
            # Pacing of the load, not synchronisation: the next batch is due then.
            delay = start + (i + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        total = per_sender * senders
        wait_until(
            lambda: all(len(box) >= total for box in received), 60 + seconds, "every message"
        )
        expected = [[f"{k}:{i}" for i in range(per_sender)] for k in range(senders)]
        for box in received:
            assert len(box) == total
            for k in range(senders):
                assert [m for m in box if m.startswith(f"{k}:")] == expected[k]
        assert all(s.state is ReadyState.OPEN for s in socks)
        print(f"\nbroadcast: {clients} clients x {total} messages = {clients * total} delivered")
    finally:
        for p in [s.close() for s in socks if s.state is ReadyState.OPEN]:
            p.result(60)
        server.stop().result(30)


def _room_leaks_nothing(**room: float) -> None:
    _broadcast_room(5, 1, 0.3, 10)  # warm up: objects some modules make once, lazily
    before = snapshot()
    _broadcast_room(**room)
    assert settle(before, rss_slack=32 * MiB) == {}


def test_broadcast_room_of_200_clients_short():
    _room_leaks_nothing(clients=200, senders=2, seconds=3, rate=10)


@pytest.mark.soak
def test_broadcast_room_of_200_clients_for_30_seconds():
    _room_leaks_nothing(clients=200, senders=4, seconds=30, rate=10)


@pytest.mark.soak
def test_ten_thousand_connect_close_cycles(serve_url):
    _cycles(serve_url, 50)
    before = snapshot()
    _cycles(serve_url, 10_000)
    assert settle(before, rss_slack=16 * MiB) == {}
