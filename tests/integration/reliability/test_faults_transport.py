"""Faults of the transport: a killed server, a TCP reset, a half-open connection.

Each test checks the three promises of a fault: the events fire in order with
the right codes; nothing already received is lost; the object connects again.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from ohws_jupyter import BusinessError, ReadyState
from tests.helpers import Recorder, wait_until

from .peers import Peer, RawPeer


def assert_lost_connection(rec: Recorder) -> BusinessError:
    """'error' (200, data '0') then one 'close' 1006, and nothing after it."""
    rec.wait("close")
    names = rec.names()
    assert names.count("close") == 1 and names[-1] == "close", names
    assert names.count("error") == 1 and names[-2] == "error", names
    assert names.index("open") < names.index("error")
    err = rec.values("error")[0]
    assert isinstance(err, BusinessError) and err.code == 200 and err.data == "0"
    assert rec.values("close")[0].code == 1006
    return err


def assert_connects_again(ws, url: str) -> None:
    """The same object opens a new connection and echoes on it."""
    wait_until(lambda: ws.state is ReadyState.CLOSED, 10, "CLOSED")
    again = Recorder(ws)
    assert ws.connect(url).result(10) is True
    assert ws.send("again").result(10) is True
    again.wait("dataEnd")
    assert again.values("message") == ["again"]
    assert ws.close().result(10) is True


def _start_serve(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ohws_jupyter", "serve", "-q", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    if not ready:
        proc.kill()
        raise AssertionError("the serve process printed no URL within 30 s")
    return proc, proc.stdout.readline().strip()


def test_server_process_killed_mid_stream(ws, shared_echo_server):
    proc, url = _start_serve("--mode", "echo")
    try:
        rec = Recorder(ws)
        received: list[str] = []
        rejected: list[BaseException] = []

        def ping_pong(value: str) -> None:
            # Each echo triggers the next send: a stream that never pauses.
            received.append(value)
            ws.send(str(int(value) + 1)).catch(rejected.append)

        ws.on("message", ping_pong)
        assert ws.connect(url).result(10) is True
        ws.send("0")
        wait_until(lambda: len(received) >= 200, 20, "200 echoes")
        os.kill(proc.pid, signal.SIGKILL)
        err = assert_lost_connection(rec)
    finally:
        proc.kill()
        proc.wait(10)
    assert "without a close frame" in err.message
    # Everything received before the kill reached the callbacks, in order, once.
    assert received == [str(i) for i in range(len(received))]
    assert ws.stats.messagesIn == len(received)
    assert all(isinstance(e, BusinessError) and e.code == 2302999 for e in rejected)
    assert_connects_again(ws, shared_echo_server.url)


def test_tcp_reset_after_messages(ws, shared_echo_server):
    delivered = threading.Event()

    def behaviour(peer: Peer) -> None:
        peer.accept()
        for i in range(50):
            peer.send(f"m{i}")
        peer.send(b"\x00" * 10_000)
        delivered.wait(10)
        peer.reset()

    with RawPeer(behaviour) as server:
        rec = Recorder(ws)
        ws.connect(server.url).result(10)
        rec.wait("dataEnd", 51)
        delivered.set()
        err = assert_lost_connection(rec)
    assert not server.errors
    assert "reset" in err.message.lower() or "without a close frame" in err.message
    values = rec.values("message")
    assert values[:50] == [f"m{i}" for i in range(50)]
    assert b"".join(values[50:]) == b"\x00" * 10_000
    assert_connects_again(ws, shared_echo_server.url)


def test_tcp_reset_while_the_client_sends(ws, shared_echo_server):
    def behaviour(peer: Peer) -> None:
        peer.accept()
        peer.pump(10, until=lambda: len(peer.received) >= 10)
        peer.reset()

    with RawPeer(behaviour) as server:
        rec = Recorder(ws)
        ws.connect(server.url).result(10)
        promises = [ws.send(f"s{i}") for i in range(10)]
        assert [p.result(10) for p in promises] == [True] * 10
        assert_lost_connection(rec)
        late = ws.send("after the reset")
        with pytest.raises(BusinessError) as info:
            late.result(10)
    assert info.value.code == 2302999
    assert_connects_again(ws, shared_echo_server.url)


@pytest.mark.parametrize("interval,timeout", [(0.3, 0.3), (0.2, 0.8)])
def test_half_open_detected_by_keepalive(ws, shared_echo_server, interval, timeout):
    gone = threading.Event()

    def behaviour(peer: Peer) -> None:
        peer.accept()
        peer.send("last words")
        gone.wait(60)  # silent: reads nothing, answers nothing, sends no FIN

    with RawPeer(behaviour) as server:
        rec = Recorder(ws)
        ws.connect(server.url, {"pingInterval": interval, "pongTimeout": timeout}).result(10)
        opened = time.monotonic()
        rec.wait("close", timeout=30)  # the peer stays silent for 60 s
        elapsed = time.monotonic() - opened
        gone.set()
    err = assert_lost_connection(rec)
    assert "keepalive" in err.message and "pongTimeout" in err.message
    assert elapsed >= interval + timeout - 0.05, elapsed  # not sooner
    assert rec.values("message") == ["last words"]
    assert_connects_again(ws, shared_echo_server.url)


def test_keepalive_waits_for_a_peer_reading_its_way_to_the_ping(ws):
    # Our ping goes out behind 8 MiB that the peer reads slowly but steadily
    # (about 0.5 MiB/s): it answers long after pongTimeout, once it gets there.
    # That peer is slow, not gone; the connection stays open.
    size = 8 * 1024 * 1024
    pinged = threading.Event()

    def behaviour(peer: Peer) -> None:
        peer.accept()
        peer.flush()
        peer.sock.settimeout(60)
        while len(peer.received) < 1 or not pinged.is_set():
            data = peer.sock.recv(16 * 1024)
            if not data:
                return
            peer.protocol.receive_data(data)
            for frame in peer.protocol.events_received():
                if frame.opcode.name == "BINARY":
                    peer.received.append(bytes(frame.data))
                elif frame.opcode.name == "PING":
                    pinged.set()
            peer.flush()  # the pong, as soon as the ping is read
            time.sleep(0.03)  # the peer's reading pace (what is under test), not a wait
        peer.send(f"got {len(peer.received[0])}")
        peer.pump(60)

    with RawPeer(behaviour, rcvbuf=256 * 1024) as server:
        rec = Recorder(ws)
        # pongTimeout 5 s: a busy machine's pauses fit in it; the ping is still
        # several of them away.
        options = {"pingInterval": 0.5, "pongTimeout": 5, "maxSendSize": 16 * 1024 * 1024}
        ws.connect(server.url, options).result(10)
        ws.send(os.urandom(size))
        rec.wait("message", timeout=110)
        assert rec.values("message") == [f"got {size}"]
        assert rec.of("error") == [] and ws.state is ReadyState.OPEN
        ws.close({"code": 1000, "reason": "done"}).result(30)
    assert rec.of("error") == []


def test_peer_closing_tcp_without_close_frame(ws, shared_echo_server):
    def behaviour(peer: Peer) -> None:
        peer.accept()
        peer.send("bye")
        peer.sock.shutdown(2)  # FIN, but no close frame
        peer.sock.close()

    with RawPeer(behaviour) as server:
        rec = Recorder(ws)
        ws.connect(server.url).result(10)
        assert_lost_connection(rec)
    assert rec.values("message") == ["bye"]
    assert_connects_again(ws, shared_echo_server.url)
