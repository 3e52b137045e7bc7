"""Peers shared by the profile tests: a plain ``websockets`` server that records what
arrives, raw clients from other loopback addresses, a recorder of a server's events,
and profile switching.

Their fixtures are in ``tests/conftest.py`` (``fresh_profile``, ``peer``) and
``tests/integration/profile/conftest.py`` (``make_server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from websockets.asyncio.client import connect

from ohws_jupyter.core import profile

from .servers import ThreadServer

__all__ = ["TIMEOUT", "RawClient", "Recording", "ServerEvents", "raw_open", "using"]

TIMEOUT = 10


@contextlib.contextmanager
def using(name: str) -> Iterator[None]:
    before = profile.set_profile(name)
    try:
        yield
    finally:
        profile.set_profile(before)


class Recording:
    """A plain ``websockets`` server on 127.0.0.1 that records what each client does.

    Text commands make it act: ``drop`` (cut TCP), ``close CODE [REASON]``,
    ``close-empty`` (a close frame with no code), ``badframe`` (a reserved
    opcode), ``hold`` (stop reading: a close from the client stays unanswered),
    ``text N`` (send N bytes of text). Anything else is echoed.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.headers: list[list[tuple[str, str]]] = []
        self.received: list[Any] = []
        self.closes: list[tuple[int | None, str | None]] = []
        self.cond = threading.Condition()
        self.release = threading.Event()  # a held handshake goes on once set
        self.hold_handshake = False
        self.server = ThreadServer(self._handle, process_request=self._process, **kwargs)

    async def _process(self, conn: Any, request: Any) -> None:
        if self.hold_handshake:
            await asyncio.to_thread(self.release.wait, TIMEOUT)

    def _note(self, what: list[Any], value: Any) -> None:
        with self.cond:
            what.append(value)
            self.cond.notify_all()

    async def _handle(self, conn: Any) -> None:
        self._note(self.headers, list(conn.request.headers.raw_items()))
        try:
            async for message in conn:
                self._note(self.received, message)
                if message == "drop":
                    conn.transport.abort()
                    return
                if isinstance(message, str) and message.startswith("close "):
                    code, _, reason = message[6:].partition(" ")
                    await conn.close(int(code), reason)
                    return
                if message == "close-empty":
                    async with conn.send_context():
                        conn.protocol.send_close()
                    return
                if message == "badframe":
                    conn.transport.write(b"\x83\x00")  # opcode 3 is reserved
                    continue
                if message == "hold":
                    conn.transport.pause_reading()
                    continue
                if isinstance(message, str) and message.startswith("text "):
                    await conn.send("x" * int(message[5:]))
                    continue
                await conn.send(message)
        finally:
            self._note(self.closes, (conn.close_code, conn.close_reason))

    def wait(self, what: str, count: int = 1, timeout: float = TIMEOUT) -> list[Any]:
        items = getattr(self, what)
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(items) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the peer saw {len(items)} {what}, not {count}")
                self.cond.wait(left)
            return list(items)

    @property
    def url(self) -> str:
        return self.server.url

    def header(self, name: str, index: int = 0) -> list[str]:
        """Every value of header ``name`` (any case) in request ``index`` (waited for)."""
        return [v for k, v in self.wait("headers", index + 1)[index] if k.lower() == name.lower()]

    def names(self, index: int = 0) -> list[str]:
        return [k for k, _ in self.wait("headers", index + 1)[index]]


def raw_open(url: str, source: str = "127.0.0.1", **kwargs: Any) -> Any:
    """Open and close at once a plain ``websockets`` client from ``source``; the error or None."""

    async def run() -> Any:
        try:
            async with connect(url, local_addr=(source, 0), open_timeout=5, proxy=None, **kwargs):
                return None
        except Exception as exc:
            return exc

    return asyncio.run(run())


class RawClient:
    """A plain ``websockets`` client on its own thread, kept open until ``stop``."""

    def __init__(self, url: str, source: str = "127.0.0.1", **kwargs: Any) -> None:
        self.url, self.source, self.kwargs = url, source, kwargs
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.conn: Any = None

    def run(self, coro: Any, timeout: float = TIMEOUT) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def open(self) -> Any:
        async def go() -> Any:
            self.conn = await connect(
                self.url, local_addr=(self.source, 0), open_timeout=5, proxy=None, **self.kwargs
            )
            return self.conn

        return self.run(go())

    def stop(self) -> None:
        async def end() -> None:
            if self.conn is not None:
                self.conn.transport.abort()

        with contextlib.suppress(Exception):
            self.run(end(), 5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class ServerEvents:
    """One callback per server event (a device keeps one), recorded for the test to wait on."""

    def __init__(self, server: Any) -> None:
        self.items: list[tuple[str, tuple]] = []
        self.cond = threading.Condition()
        for name in ("connect", "messageReceive", "close", "error"):
            server.on(name, self._make(name))

    def _make(self, name: str) -> Any:
        def record(*args: Any) -> None:
            with self.cond:
                self.items.append((name, args))
                self.cond.notify_all()

        return record

    def of(self, name: str) -> list[tuple]:
        with self.cond:
            return [a for n, a in self.items if n == name]

    def names(self) -> list[str]:
        with self.cond:
            return [n for n, _ in self.items]

    def wait(self, name: str, count: int = 1, timeout: float = TIMEOUT) -> list[tuple]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.of(name)) >= count, timeout)
        assert ok, f"waited for {count} {name!r}; got {self.names()}"
        return self.of(name)
