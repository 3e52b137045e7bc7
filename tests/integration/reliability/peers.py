"""Misbehaving peers and resource counters for the reliability tests.

:class:`RawPeer` is a WebSocket server on a blocking socket, driven by the
sans-I/O ``websockets.server.ServerProtocol``: each accepted connection runs a
*behaviour* on its own thread, which can do what a well-behaved server never
does: keep silent, answer with an HTTP error, pick a subprotocol nobody asked
for, stop reading, or reset the TCP connection.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.frames import Close
from websockets.http11 import Request
from websockets.server import ServerProtocol

from ohws_jupyter.engine.runtime import get_runtime, live_tasks

__all__ = ["Peer", "RawPeer", "Resources", "snapshot"]


class Peer:
    """One accepted connection of a :class:`RawPeer`, seen from the server side."""

    def __init__(self, sock: socket.socket, owner: RawPeer) -> None:
        self.sock = sock
        self.owner = owner
        self.protocol = ServerProtocol(max_size=None)
        self.request: Request | None = None
        self.received: list[str | bytes] = []

    def read_request(self, timeout: float = 10) -> Request:
        """Read bytes until the opening handshake request is complete."""
        self.sock.settimeout(timeout)
        while self.request is None:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the client went away during the handshake")
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Request):
                    self.request = event
        return self.request

    def accept(self, *, subprotocol: str | None = None) -> None:
        """Answer 101; ``subprotocol`` is put in the answer whatever was offered."""
        request = self.read_request()
        response = self.protocol.accept(request)
        if subprotocol is not None:
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
        self.protocol.send_response(response)
        self.flush()

    def answer_http(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        """Answer the handshake with a plain HTTP response instead of 101."""
        self.read_request()
        body = f"{status} {reason}\n".encode()
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        lines += ["Connection: close", "", ""]
        self.sock.sendall("\r\n".join(lines).encode() + body)

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def send(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self.protocol.send_text(message.encode())
        else:
            self.protocol.send_binary(message)
        self.flush()

    def pump(self, timeout: float = 10, until: Callable[[], bool] | None = None) -> None:
        """Read and answer frames (pings, close) until EOF, ``until()`` or ``timeout``."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        while time.monotonic() < deadline and not (until and until()):
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                self.protocol.receive_eof()
                self.flush()
                return
            self.protocol.receive_data(data)
            for frame in self.protocol.events_received():
                if frame.opcode.name in ("TEXT", "BINARY"):
                    payload = bytes(frame.data)
                    text = frame.opcode.name == "TEXT"
                    self.received.append(payload.decode() if text else payload)
            try:
                self.flush()
            except OSError:
                return

    def reset(self) -> None:
        """Close with SO_LINGER 0: the kernel sends RST, not FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close_frame(self, code: int, reason: str = "") -> None:
        self.protocol.send_close(code, reason)
        self.flush()

    @property
    def close_received(self) -> Close | None:
        return self.protocol.close_rcvd


class RawPeer:
    """Listen on 127.0.0.1 and run ``behaviour(peer)`` on a thread per connection.

    Args:
        behaviour: What to do with each connection; it returns when done.
        rcvbuf: If set, the accepted sockets' receive buffer in bytes (small
            values make a client's sends back up quickly when the peer stops reading).
    """

    def __init__(self, behaviour: Callable[[Peer], None], rcvbuf: int | None = None) -> None:
        self.behaviour = behaviour
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf is not None:
            # Set before listen() so accepted sockets inherit it (and the window it implies).
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []
        self.accepted = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept, daemon=True, name="raw-peer")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> RawPeer:
        # Before the thread starts: a peer closed at once must not race the thread.
        self.listener.settimeout(0.1)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.listener.close()
        self._thread.join(5)
        for thread in self._threads:
            thread.join(5)
        for peer in self.peers:
            peer.sock.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            peer = Peer(sock, self)
            self.peers.append(peer)
            thread = threading.Thread(target=self._run, args=(peer,), daemon=True)
            self._threads.append(thread)
            thread.start()
            self.accepted.release()

    def _run(self, peer: Peer) -> None:
        try:
            self.behaviour(peer)
        except BaseException as exc:
            if not self.stop.is_set():
                self.errors.append(exc)


# -- resources -------------------------------------------------------------------


class Resources(dict):
    """Counts of what a process holds: threads, tasks, fds, sockets, objects, RSS."""

    def leaks_since(self, before: Resources, rss_slack: int) -> dict[str, tuple[int, int]]:
        out = {}
        for key in ("threads", "tasks", "loop_tasks", "fds", "sockets", "objects"):
            if self[key] > before[key]:
                out[key] = (before[key], self[key])
        if self["rss"] > before["rss"] + rss_slack:
            out["rss"] = (before["rss"], self["rss"])
        return out


def _loop_tasks() -> int:
    runtime = get_runtime()
    if not runtime.started:
        return 0

    async def count() -> int:
        return len(asyncio.all_tasks()) - 1  # not this one

    return runtime.submit(count()).result(10)


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _fds() -> tuple[int, int]:
    fds = sockets = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listdir's own fd, gone already
        fds += 1
        sockets += target.startswith("socket:")
    return fds, sockets


def _objects() -> int:
    """Live objects of this package's and of websockets' own classes: a precise leak count."""
    count = 0
    for obj in gc.get_objects():
        module = type(obj).__module__
        # Some extension types expose __module__ as a descriptor, not a string.
        if isinstance(module, str) and module.startswith(("ohws_jupyter", "websockets")):
            count += 1
    return count


def snapshot() -> Resources:
    """What this process holds now, after a garbage collection."""
    gc.collect()
    fds, sockets = _fds()
    return Resources(
        threads=threading.active_count(),
        tasks=live_tasks(),
        loop_tasks=_loop_tasks(),
        fds=fds,
        sockets=sockets,
        rss=_rss(),
        objects=_objects(),
    )


def settle(before: Resources, rss_slack: int, timeout: float = 15) -> dict[str, tuple[int, int]]:
    """Wait (bounded) until nothing exceeds ``before``; return what still does."""
    deadline = time.monotonic() + timeout
    while True:
        leaks = snapshot().leaks_since(before, rss_slack)
        if not leaks or time.monotonic() > deadline:
            return leaks
        time.sleep(0.1)
