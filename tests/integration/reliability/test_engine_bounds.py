"""The engine's bounds against hostile peers: closing deadlines, state, memory, fairness.

Each test names the failure it guards against. Peers are real sockets on
127.0.0.1: RawPeer (a blocking-socket server driven by websockets' sans-I/O
protocol, which can write any bytes) or our embedded server with a client
written on a raw socket. Waits are on events with timeouts; the only bounds
on time are the deadlines under test, with slack.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from ohws_jupyter import ReadyState, createWebSocket, createWebSocketServer
from tests.helpers import Recorder, wait_until

from .peers import Peer, RawPeer

CLOSE_TIMEOUT = 1.0
# Generous scheduling slack on top of a deadline: the peers under test hold the
# connection for HOLD s, so only the deadline can end it sooner.
SLACK = 20.0
HOLD = 60.0
MiB = 1024 * 1024


class ServerRecorder(Recorder):
    # Not 'messageReceive': keeping every message would be the test's own leak.
    EVENTS = ("connect", "close", "error")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _hold(peer: Peer) -> None:
    """Keep the TCP connection open and read nothing, until the test ends."""
    peer.owner.stop.wait(HOLD)


def _ended_within(ws, rec: Recorder, seconds: float) -> float:
    start = time.monotonic()
    rec.wait("close", timeout=seconds)
    wait_until(lambda: ws.state is ReadyState.CLOSED, 1, "the CLOSED state")
    return time.monotonic() - start


# -- every way into CLOSING has a deadline -------------------------------------------------


def test_peer_close_then_tcp_held_open_ends_within_close_timeout(ws):
    def behaviour(peer: Peer) -> None:
        peer.accept()
        peer.close_frame(1000, "bye")
        _hold(peer)  # never closes TCP, never reads our echo

    with RawPeer(behaviour) as server:
        rec = Recorder(ws)
        ws.connect(server.url, {"closeTimeout": CLOSE_TIMEOUT}).result(10)
        _ended_within(ws, rec, CLOSE_TIMEOUT + SLACK)
    assert rec.values("close")[-1].code == 1000
    assert "error" not in rec.names()  # both close frames crossed: a clean end


def test_frame_of_2_to_the_63_bytes_fails_with_1009_within_close_timeout(ws):
    def behaviour(peer: Peer) -> None:
        peer.accept()
        # FIN + binary, 127 = 64-bit length follows: 2**63 - 1 bytes announced.
        peer.sock.sendall(b"\x82\x7f" + struct.pack("!Q", 2**63 - 1))
        _hold(peer)

    with RawPeer(behaviour) as server:
        rec = Recorder(ws)
        ws.connect(server.url, {"closeTimeout": CLOSE_TIMEOUT}).result(10)
        _ended_within(ws, rec, CLOSE_TIMEOUT + SLACK)
    assert rec.values("close")[-1].code == 1009
    (err,) = rec.values("error")
    assert err.code == 200 and "1009" in err.message


@pytest.mark.parametrize("payload", [b"\x03", struct.pack("!H", 999), struct.pack("!H", 1005)])
def test_invalid_close_frame_fails_with_1002_within_close_timeout(ws, payload):
    def behaviour(peer: Peer) -> None:
        peer.accept()
        peer.sock.sendall(b"\x88" + bytes([len(payload)]) + payload)
        _hold(peer)

    with RawPeer(behaviour) as server:
        rec = Recorder(ws)
        ws.connect(server.url, {"closeTimeout": CLOSE_TIMEOUT}).result(10)
        _ended_within(ws, rec, CLOSE_TIMEOUT + SLACK)
    assert rec.values("close")[-1].code == 1002
    assert "1002" in rec.values("error")[0].message


def test_endless_fragmented_message_fails_with_1009_within_close_timeout(ws):
    def behaviour(peer: Peer) -> None:
        peer.accept()
        peer.sock.sendall(b"\x01\x7e" + struct.pack("!H", 1000) + b"a" * 1000)  # text, no FIN
        deadline = time.monotonic() + HOLD
        while not peer.owner.stop.is_set() and time.monotonic() < deadline:
            try:  # continuation frames, never FIN, until the socket stops taking them
                peer.sock.sendall(b"\x00\x7e" + struct.pack("!H", 1000) + b"a" * 1000)
            except OSError:
                return

    with RawPeer(behaviour) as server:
        rec = Recorder(ws)
        options = {"closeTimeout": CLOSE_TIMEOUT, "maxMessageSize": 64 * 1024}
        ws.connect(server.url, options).result(10)
        _ended_within(ws, rec, CLOSE_TIMEOUT + SLACK)
    assert rec.values("close")[-1].code == 1009
    assert rec.values("message") == []  # the unfinished message is never delivered


def test_our_close_to_a_silent_peer_ends_within_close_timeout(ws):
    with RawPeer(lambda peer: (peer.accept(), _hold(peer))) as server:
        rec = Recorder(ws)
        ws.connect(server.url, {"closeTimeout": CLOSE_TIMEOUT}).result(10)
        assert ws.close({"code": 1000, "reason": "done"}).result(CLOSE_TIMEOUT + SLACK) is True
        assert ws.state is ReadyState.CLOSED
        rec.wait("close")
    # We asked for 1000; the peer never answered: the error says so.
    assert rec.values("close")[-1].code == 1000
    assert "closeTimeout" in rec.values("error")[0].message


def test_server_stop_with_a_client_that_never_answers_ends_within_close_timeout():
    server = createWebSocketServer()
    server.start({"serverPort": 0, "closeTimeout": CLOSE_TIMEOUT}).result(10)
    sock = _raw_client(server.url)  # completes the handshake, then reads nothing
    try:
        wait_until(lambda: len(server.listAllConnections()) == 1, 10, "the client")
        assert server.stop().result(CLOSE_TIMEOUT + SLACK) is True
    finally:
        sock.close()


# -- the state follows the wire, callbacks keep their order --------------------------------


def test_state_and_close_promise_do_not_wait_for_a_callback_backlog(ws):
    server = createWebSocketServer()
    server.start({"serverPort": 0, "mode": "lab"}).result(10)
    seen: list[str] = []

    def slow(value: str) -> None:
        seen.append(value)
        time.sleep(1.0)  # ten of them: a backlog of 10 s

    try:
        rec = Recorder(ws)
        ws.on("message", slow)
        ws.connect(server.url, {"wholeMessages": True}).result(10)
        for i in range(10):
            ws.send(f"m{i}")
        # Every echo has arrived (counted on the I/O thread) while the callbacks
        # lag behind. Closing earlier could race the echoes: a server that reads
        # our close with the last messages has already answered the close.
        wait_until(lambda: ws.stats.messagesIn == 10, 10, "the ten echoes to arrive")
        assert ws.close().result(30) is True
        assert ws.state is ReadyState.CLOSED
        assert len(seen) < 10  # settled while callbacks were still queued, not after them
        rec.wait("close", timeout=60)
        # 'close' still comes after every message, in order.
        assert seen == [f"m{i}" for i in range(10)]
        assert rec.names()[-1] == "close"
    finally:
        server.stop().result(10)


def test_a_callback_raising_systemexit_does_not_stop_delivery(ws, shared_echo_server):
    rec = Recorder(ws)

    def explode(value: str) -> None:
        if value == "first":
            raise SystemExit(3)

    ws.on("message", explode)
    ws.connect(shared_echo_server.url).result(10)
    for text in ("first", "second", "third"):
        ws.send(text)
    rec.wait("dataEnd", 3)
    assert rec.values("message") == ["first", "second", "third"]
    assert ws.state is ReadyState.OPEN


def test_a_slow_callback_on_one_object_never_delays_another(shared_echo_server):
    slow_ws, fast_ws = createWebSocket(), createWebSocket()
    release, blocking = threading.Event(), threading.Event()
    slow_ws.on("message", lambda value: (blocking.set(), release.wait(120)))
    fast = Recorder(fast_ws)
    try:
        slow_ws.connect(shared_echo_server.url).result(10)
        fast_ws.connect(shared_echo_server.url).result(10)
        slow_ws.send("block")
        assert blocking.wait(30)  # slow's callback now blocks until the test ends
        fast_ws.send("hi")
        fast.wait("dataEnd", timeout=60)  # sharing slow's lane, it would wait 120 s
        assert not release.is_set()
        assert fast_ws.close().result(30) is True
    finally:
        release.set()
        slow_ws.close().result(10)


# -- memory --------------------------------------------------------------------------------


def test_deflate_with_a_slow_consumer_stays_within_the_queue_bounds(ws):
    size, count = 15 * MiB, 12

    server = createWebSocketServer()
    server.start({"serverPort": 0, "maxSendSize": 32 * MiB}).result(10)

    def flood(conn) -> None:
        body = b"\x00" * size  # compresses ~1000:1: tiny on the wire, 15 MiB inflated
        for _ in range(count):
            server.send(body, conn)

    server.on("connect", flood)
    peak = {"rss": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], _rss())
            stop.wait(0.02)

    got: list[int] = []
    ws.on("message", lambda data: (got.append(len(data)), time.sleep(0.05)))
    limits = {"maxQueuedBytes": 16 * MiB, "maxMessageSize": 16 * MiB, "wholeMessages": True}
    base = _rss()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        ws.connect(server.url, limits).result(10)
        assert "permessage-deflate" in ws.extensions
        wait_until(lambda: len(got) == count, 60, f"{count} messages")
    finally:
        stop.set()
        sampler.join(5)
        server.stop().result(10)
    assert got == [size] * count
    # maxQueuedBytes + 2 x maxMessageSize, plus the server's own copy and a constant.
    bound = 16 * MiB + 2 * 16 * MiB + 2 * size + 40 * MiB
    assert peak["rss"] - base < bound, (peak["rss"] - base) / MiB


# -- the server: fairness and slow readers -------------------------------------------------


def test_server_flood_into_a_slow_callback_does_not_delay_another_close():
    server = createWebSocketServer()
    server.start({"serverPort": 0}).result(10)
    handled = [0]

    def slow(message: object) -> None:
        time.sleep(0.001)  # 20,000 of them: a backlog of over 20 s
        handled[0] += 1

    server.on("messageReceive", slow)
    flooder, other = createWebSocket(), createWebSocket()
    try:
        flooder.connect(server.url).result(10)
        other.connect(server.url).result(10)
        for i in range(20_000):
            flooder.send(f"{i}")
        wait_until(lambda: flooder.stats.messagesOut == 20_000, 10, "the flood to be queued")
        assert other.close().result(30) is True
        assert handled[0] < 20_000  # closed while the flood's callbacks (20 s) were queued
    finally:
        flooder.close().result(30)
        server.stop().result(30)


def _raw_client(url: str) -> socket.socket:
    """A client that completes the opening handshake and then never reads."""
    uri = parse_uri(url)
    sock = socket.create_connection((uri.host, uri.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    protocol = ClientProtocol(uri)
    protocol.send_request(protocol.connect())
    for data in protocol.data_to_send():
        sock.sendall(data)
    while not protocol.events_received():
        data = sock.recv(4096)
        if not data:
            raise EOFError("no handshake answer")
        protocol.receive_data(data)
    return sock


def test_broadcast_to_a_member_that_never_reads_cuts_it_off_with_1008():
    server = createWebSocketServer()
    server.start({"serverPort": 0, "mode": "broadcast"}).result(10)
    srec = ServerRecorder(server)
    reader = createWebSocket()
    deaf = _raw_client(server.url)
    try:
        reader.connect(server.url, {"wholeMessages": True}).result(10)
        wait_until(lambda: len(server.listAllConnections()) == 2, 10, "both members")
        got: list[int] = []
        reader.on("message", lambda data: got.append(len(data)))
        chunk = b"\x5a" * MiB
        half = 48  # MiB: each half is well past the deaf member's limit
        for _ in range(half):
            reader.send(chunk).result(10)  # paced by our own send buffer
        wait_until(lambda: len(got) == half, 30, "the first half back to the reader")
        # Its close frame waits behind what it never reads: closeTimeout (10 s) ends it.
        ((err,),) = srec.wait("error", timeout=60)
        assert "1008" in err.message and "fell behind" in err.message
        closes = srec.wait("close", timeout=60)
        assert [result.code for _, result in closes] == [1008]
        assert len(server.listAllConnections()) == 1  # the reader stays
        # Memory is bounded, not growing with what is sent: once the allocator
        # has warmed up (one more round), two more rounds leave it where it was.
        for round_ in (2, 3, 4):
            if round_ == 3:
                middle = _rss()
            for _ in range(half):
                reader.send(chunk).result(10)
            wait_until(lambda r=round_: len(got) == r * half, 30, f"round {round_} back")
        grown = _rss() - middle
        assert grown < 16 * MiB, grown / MiB
    finally:
        deaf.close()
        reader.close().result(10)
        server.stop().result(10)


def test_pipelining_100_mib_through_an_echo_server_is_paced_not_refused(ws):
    # 100 x 1 MiB sent without waiting: past the client's hard limit the sending
    # thread waits for room, and the echo server reads no more from a client
    # that does not read its replies, instead of cutting it off.
    server = createWebSocketServer()
    server.start({"serverPort": 0, "mode": "echo"}).result(10)
    got: list[int] = []
    errors: list = []
    try:
        ws.on("message", lambda data: got.append(len(data)))
        ws.connect(server.url, {"compression": False, "wholeMessages": True}).result(10)
        chunk = b"\x01" * MiB
        for _ in range(100):
            ws.send(chunk, lambda err: errors.append(err) if err else None)
        wait_until(lambda: len(got) == 100, 60, "100 echoes")
        assert errors == [] and got == [MiB] * 100
        assert ws.close().result(10) is True
    finally:
        server.stop().result(10)
