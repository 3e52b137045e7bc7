"""Plain ``websockets`` servers and an HTTP CONNECT proxy on 127.0.0.1, each on its own
thread: foreign peers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from websockets.asyncio.server import serve

__all__ = ["ConnectProxy", "ThreadServer", "echo_handler", "running_server"]


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
            await conn.send(json.dumps(dict(conn.request.headers.raw_items())))
            continue
        await conn.send(message)


@contextlib.contextmanager
def running_server(
    handler: Callable[..., Any] = echo_handler, **kwargs: Any
) -> Iterator[ThreadServer]:
    """A started :class:`ThreadServer`, stopped on exit."""
    server = ThreadServer(handler, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


class ConnectProxy:
    """A minimal HTTP CONNECT proxy that records the targets it tunnels to."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            writer.close()
            return
        self.targets.append(target)
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def start(self) -> ConnectProxy:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
