"""Shared fixtures: real loopback servers on their own threads, and event recorders."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.server import serve

from ohws_jupyter import WebSocket, createWebSocket


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="also run the long soak variants")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak variant: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


class ThreadServer:
    """A plain ``websockets`` server on 127.0.0.1, port 0, on its own thread and loop.

    It is independent of the package's runtime, so it behaves as a foreign peer.
    """

    def __init__(self, handler: Callable[..., Any], **kwargs: Any) -> None:
        self.handler = handler
        self.kwargs = kwargs
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="test-server")
        self.port = 0
        self.connections: list[Any] = []
        self._stop: asyncio.Future[None] | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = self.loop.create_future()

        async def handler(conn: Any) -> None:
            self.connections.append(conn)
            await self.handler(conn)

        async with serve(handler, "127.0.0.1", 0, **self.kwargs) as server:
            self.server = server
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self._stop

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> ThreadServer:
        self.thread.start()
        assert self.ready.wait(10), "test server did not start"
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set_result, None)
        self.thread.join(10)

    def run(self, coro: Any, timeout: float = 10) -> Any:
        """Run a coroutine on the server's loop (e.g. to make it close a client)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


async def echo_handler(conn: Any) -> None:
    """Echo every message with its type; a few commands make the server act."""
    async for message in conn:
        if message == "kick":
            await conn.close(4001, "kicked")
            return
        if message == "drop":
            conn.transport.abort()  # TCP drop, no close frame
            return
        if message == "headers":
            import json

            await conn.send(json.dumps(dict(conn.request.headers.raw_items())))
            continue
        await conn.send(message)


@contextlib.contextmanager
def running_server(
    handler: Callable[..., Any] = echo_handler, **kwargs: Any
) -> Iterator[ThreadServer]:
    server = ThreadServer(handler, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def echo_server() -> Iterator[ThreadServer]:
    with running_server(echo_handler) as server:
        yield server


@pytest.fixture(scope="module")
def shared_echo_server() -> Iterator[ThreadServer]:
    with running_server(echo_handler) as server:
        yield server


class Recorder:
    """Subscribes to every event of a WebSocket (or a server) and lets a test wait for them."""

    EVENTS: tuple[str, ...] = ("headerReceive", "open", "message", "dataEnd", "close", "error")

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[tuple[str, tuple]] = []
        self.cond = threading.Condition()
        for name in self.EVENTS:
            ws.on(name, self._make(name))

    def _make(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            with self.cond:
                self.events.append((name, args))
                self.cond.notify_all()

        return record

    def names(self) -> list[str]:
        with self.cond:
            return [n for n, _ in self.events]

    def of(self, name: str) -> list[tuple]:
        with self.cond:
            return [a for n, a in self.events if n == name]

    def values(self, name: str) -> list[Any]:
        """The last argument of each event ``name`` (the value)."""
        return [a[-1] if a else None for a in self.of(name)]

    def wait(self, name: str, count: int = 1, timeout: float = 10) -> list[tuple]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len([1 for n, _ in self.events if n == name]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out waiting for {count} {name!r} events; got {self.names()}"
                    )
                self.cond.wait(left)
        return self.of(name)


@pytest.fixture
def ws() -> Iterator[WebSocket]:
    sock = createWebSocket()
    yield sock
    if sock.readyState in (0, 1):
        with contextlib.suppress(Exception):
            sock.close().result(10)


def wait_until(predicate: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    """Poll ``predicate`` until true; a bounded wait, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Keep each test's outcome on its item (the browser tests' failure screenshots)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


def without_portability_warnings(text: str) -> str:
    """Stderr text less the PortabilityWarnings: the seed profile's intended advice."""
    lines, keep, skip_source = text.splitlines(keepends=True), [], False
    for line in lines:
        if "PortabilityWarning:" in line:
            skip_source = True  # the warning line, then its indented source line
            continue
        if skip_source and line.startswith(" "):
            skip_source = False
            continue
        skip_source = False
        keep.append(line)
    return "".join(keep)
