"""The I/O side of a client connection: one ``_Session`` per ``connect``.

A session lives on the runtime's I/O loop. It opens the connection with the
``websockets`` library, reads messages and cuts them into the seed's 4 KiB
pieces, keeps the connection alive with pings, writes queued sends in order,
runs the closing handshake, and reports every event to the callback thread.
It talks back to its ``WebSocket`` through a weak reference, so a WebSocket
nobody holds can be collected (and its connection closed with 1001).

The public face is :mod:`ohws_jupyter.client`; this module is its engine room.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import functools
import logging
import re
import socket
import ssl
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.client import ClientProtocol
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidProxy,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ProxyError,
)
from websockets.frames import CLOSE, Frame

from .errors import (
    CONNECTION_ERROR,
    UNKNOWN_ERROR,
    BusinessError,
)
from .events import Record
from .options import (
    PIECE_SIZE,
    SENSITIVE_HEADERS,
    CloseResult,
    HttpProxy,
    OpenResult,
    WebSocketRequestOptions,
    mask_headers,
    mask_url,
)
from .promise import Promise
from .runtime import create_task, get_runtime

logger = logging.getLogger("ohws_jupyter")


if TYPE_CHECKING:
    from .client import WebSocket

__all__ = ["FEED_SIZE", "ReadyState", "Stats", "close_result_of", "split_message"]

logger = logging.getLogger("ohws_jupyter")


class ReadyState(enum.IntEnum):
    """Connection states, numbered like the browser's ``WebSocket.readyState``."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


def split_message(message: str | bytes, size: int = PIECE_SIZE) -> list[str] | list[bytes]:
    """Cut a message into pieces of at most ``size`` bytes (the seed's 4K rule).

    Text is cut only between UTF-8 characters, so every piece is a valid ``str``.
    """
    if isinstance(message, str):
        if len(message) * 4 <= size:  # cannot exceed size bytes: skip encoding
            return [message]
        data = message.encode("utf-8")
        if len(data) <= size:
            return [message]
        pieces: list[str] = []
        start, end_of_data = 0, len(data)
        while start < end_of_data:
            end = min(start + size, end_of_data)
            while end < end_of_data and (data[end] & 0xC0) == 0x80:
                end -= 1  # never cut inside a multi-byte character
            pieces.append(data[start:end].decode("utf-8"))
            start = end
        return pieces
    if len(message) <= size:
        return [message]
    view = memoryview(message)
    return [bytes(view[i : i + size]) for i in range(0, len(message), size)]


class _LenientProtocol(ClientProtocol):
    """``ClientProtocol`` that accepts a close frame inside a fragmented message.

    RFC 6455 section 5.4 lets control frames, close included, arrive between the
    fragments of a message; ``websockets`` fails such a connection with 1002.
    We drop the incomplete message and answer the close as usual (Autobahn 7.1.5).
    """

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is CLOSE and self.current_size is not None:
            self.current_size = None
        super().recv_frame(frame)


#: With permessage-deflate, bytes handed to the frame parser at a time (see _Connection).
FEED_SIZE = 16 * 1024


class _Connection(ClientConnection):
    """The ``websockets`` connection, with the lenient protocol and bounded inflation.

    Flow control in ``websockets`` pauses the socket once enough frames wait,
    but a single socket read (up to 256 KiB) is parsed whole first. Compressed,
    that read can hold hundreds of frames that each inflate to megabytes, so a
    slow consumer's memory would grow with the compression ratio, not with the
    queue limits. With compression negotiated, reads are therefore parsed
    FEED_SIZE bytes at a time, and the rest is held back while reading is
    paused; it is parsed first when reading resumes.
    """

    def __init__(self, protocol: ClientProtocol, *args: Any, **kwargs: Any) -> None:
        # connect() builds the protocol itself and offers no factory for it; the
        # subclass only overrides recv_frame, so switching the class is safe.
        protocol.__class__ = _LenientProtocol
        super().__init__(protocol, *args, **kwargs)
        self._held = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assembler = self.recv_messages
        resume_reading = assembler.resume

        def resume() -> None:
            held, self._held = self._held, b""
            if held:
                self._feed(held)  # may pause reading again
            if not assembler.paused:
                resume_reading()

        assembler.resume = resume

    def data_received(self, data: bytes) -> None:
        if self._held:  # cannot happen while reading is paused; keep the order anyway
            self._held += data
        elif len(data) <= FEED_SIZE or not self.protocol.extensions:
            super().data_received(data)
        else:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(data), FEED_SIZE):
            super().data_received(bytes(view[start : start + FEED_SIZE]))
            if self.recv_messages.paused and start + FEED_SIZE < len(data):
                self._held = bytes(view[start + FEED_SIZE :])
                return


@dataclasses.dataclass
class Stats:
    """Counters of one WebSocket object, across its connections."""

    messagesIn: int = 0
    bytesIn: int = 0
    piecesIn: int = 0
    messagesOut: int = 0
    bytesOut: int = 0
    connects: int = 0
    openedAt: float | None = None
    closedAt: float | None = None
    lastClose: CloseResult | None = None
    lastError: BusinessError | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["lastClose"] = self.lastClose
        out["lastError"] = self.lastError
        return out


def _not_open(op: str, state: ReadyState) -> BusinessError:
    if state is ReadyState.CONNECTING:
        hint = "the connection is not open yet; wait for 'open' (or await connect())"
    elif state is ReadyState.CLOSING:
        hint = "the connection is closing"
    else:
        hint = "there is no open connection; call connect() first"
    return BusinessError(UNKNOWN_ERROR, f"cannot {op}: {hint}")


def _connect_error(exc: BaseException, url: str, opts: WebSocketRequestOptions) -> BusinessError:
    """The code-200 error of a failed attempt; ``.data`` is the HTTP status or '0'."""
    url = mask_url(url)
    status = "0"
    if isinstance(exc, InvalidStatus):
        response = exc.response
        status = str(response.status_code)
        detail = (
            f"the server answered HTTP {response.status_code} {response.reason_phrase} "
            "instead of 101 Switching Protocols; check the URL path and the credentials"
        )
    elif isinstance(exc, NegotiationError):
        detail = f"the handshake failed: {exc}; check the protocol option"
    elif isinstance(exc, InvalidProxy | ProxyError):
        detail = f"the proxy failed: {exc}; check the proxy option"
    elif isinstance(exc, InvalidHandshake):
        detail = f"the opening handshake failed: {exc}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        detail = (
            f"TLS certificate verification failed ({exc.verify_message}); give the CA with "
            "caPath, or set skipServerCertVerification=True to accept it anyway (unsafe)"
        )
    elif isinstance(exc, ssl.SSLError):
        detail = f"the TLS handshake failed: {exc.reason or exc}"
    elif isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        detail = (
            f"the opening handshake did not finish within {opts.openTimeout} s; "
            "is the server answering WebSocket handshakes? (openTimeout sets the limit)"
        )
    elif isinstance(exc, socket.gaierror):
        detail = f"cannot resolve the host of {url}: {exc.strerror}"
    elif isinstance(exc, ConnectionRefusedError):
        detail = f"connection refused by {url}; is the server running?"
    elif isinstance(exc, ConnectionResetError) and url.lower().startswith("wss:"):
        detail = (
            f"the connection to {url} was reset during the TLS handshake; is the server "
            "serving wss:// (TLS) on that port, or plain ws://?"
        )
    elif isinstance(exc, ConnectionError):
        detail = f"the connection to {url} was {_how_lost(exc)} during the opening handshake"
    elif isinstance(exc, OSError):
        detail = f"cannot reach {url}: {exc.strerror or exc}"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    err = BusinessError(CONNECTION_ERROR, detail, data=status)
    err.__cause__ = exc
    return err


def close_result_of(proto: Any) -> CloseResult:
    """How a finished connection closed, as this side reports it in ``'close'``.

    The side that started the closing handshake, or failed the connection
    (1002, 1007, 1009, 1011), reports the code it sent: that says what went
    wrong, where the dropped socket would only say 1006. Otherwise the peer's
    close frame counts; with none, 1006.
    """
    if proto.close_sent is not None and proto.close_rcvd_then_sent is not True:
        return CloseResult(proto.close_sent.code, proto.close_sent.reason)
    if proto.close_rcvd is not None:
        return CloseResult(proto.close_rcvd.code, proto.close_rcvd.reason)
    return CloseResult(1006, "")


def _how_lost(exc: BaseException) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset by the server"
    if isinstance(exc, ConnectionAbortedError):
        return "aborted"
    return f"lost ({exc.strerror or type(exc).__name__})"


def _failure_error(conn: ClientConnection, keepalive_failed: bool) -> BusinessError | None:
    """The code-200 error of a connection that ended badly, or None for a clean close."""
    proto = conn.protocol
    cause = proto.parser_exc or conn.connection_exc
    if isinstance(cause, UnicodeDecodeError):
        detail = "the server sent text that is not valid UTF-8 (closed with 1007)"
    elif isinstance(cause, PayloadTooBig):
        detail = f"a received message is too big ({cause}); raise maxMessageSize (closed with 1009)"
    elif isinstance(cause, ProtocolError):
        detail = f"the server broke the WebSocket protocol: {cause} (closed with 1002)"
    elif keepalive_failed:
        detail = "the server did not answer the keepalive ping in time (pongTimeout)"
    elif proto.close_rcvd is None:
        detail = "the connection was lost without a close frame (1006)"
        if cause is not None:
            detail += f": {cause}"
    else:
        return None
    err = BusinessError(CONNECTION_ERROR, detail, data="0")
    err.__cause__ = cause
    return err


def _headers_dict(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.raw_items():
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


@functools.lru_cache(maxsize=64)
def _header_line_pattern(extra: frozenset[str]) -> re.Pattern[str]:
    """A logged header line (``> Name: value``) whose name is a credential."""
    names = sorted(SENSITIVE_HEADERS | extra)
    return re.compile(
        r"^([<>] )(" + "|".join(re.escape(n) for n in names) + r")(:\s*).*$", re.IGNORECASE
    )


class _MaskingLogger(logging.LoggerAdapter):
    """``websockets.client``'s logger, with credential header values masked.

    At DEBUG level websockets logs every handshake header line (``> Authorization:
    Bearer ...``); a user who turns on debug logging must not leak credentials.
    """

    def __init__(self, extra_sensitive: list[str]) -> None:
        super().__init__(logging.getLogger("websockets.client"), {})
        self._pattern = _header_line_pattern(frozenset(h.lower() for h in extra_sensitive))

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        if args:
            with contextlib.suppress(TypeError, ValueError):
                msg, args = str(msg) % args, ()
        if isinstance(msg, str):
            msg = self._pattern.sub(r"\1\2\3***", msg)
            if msg.startswith("> GET "):  # the request line: tokens in the query
                path, _, version = msg[6:].rpartition(" ")
                msg = f"> GET {mask_url(path)} {version}"
        self.logger.log(level, msg, *args, **kwargs)


class _Session:
    """One connection attempt and, if it opens, the connection; lives on the I/O loop."""

    def __init__(
        self,
        ws: WebSocket,
        url: str,
        opts: WebSocketRequestOptions,
        tls: ssl.SSLContext | None,
        connect_promise: Promise[bool],
    ) -> None:
        # A weak reference: a WebSocket nobody holds can be collected, and its
        # finalizer then closes this session (1001 going away).
        self._ws = weakref.ref(ws)
        self.events = ws._events
        self.stats = ws.stats
        self.url, self.opts, self.tls = url, opts, tls
        self.connect_promise = connect_promise
        self.conn: ClientConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.sendq: deque[tuple[bytes, bool, Promise[bool]] | tuple[int, str, Promise[bool]]]
        self.sendq = deque()
        self.writer: asyncio.Task[None] | None = None
        self.close_waiters: list[Promise[bool]] = []
        self.close_requested: tuple[int, str] | None = None
        self.closed = False
        # Backpressure: produced on the I/O thread, consumed on the callback
        # thread; each counter has a single writer, so no lock is needed.
        self.produced = self.consumed = 0
        self.produced_bytes = self.consumed_bytes = 0
        self.room = asyncio.Event()
        self.reader_waiting = False
        self.keepalive_failed = False
        self.keep_alive: WebSocket | None = None  # strong, while connecting only
        self.close_deadline: asyncio.TimerHandle | None = None

    def _ws_call(self, fn: Callable[[WebSocket], None]) -> None:
        ws = self._ws()
        if ws is not None:
            fn(ws)

    def _emit(self, event: str, args: tuple) -> None:
        if self.events.has(event):
            get_runtime().deliver(self.events.emit, event, args)

    def _observe(self, kind: str, direction: str, **fields: Any) -> None:
        ws = self._ws()
        if ws is not None and ws._observers:
            ws._record(Record(time.time(), kind, direction, **fields))

    def _set_state(self, state: ReadyState) -> None:
        self._ws_call(lambda ws: ws._set_state(state, self))

    # -- the life of the connection ------------------------------------------
    def begin(self) -> None:
        self.task = create_task(self.run())
        self.task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        # A task cancelled before its first step never runs run()'s handlers.
        if not self.closed:
            if task.cancelled():
                self._end_before_open(None)
            elif task.exception() is not None:
                exc = task.exception()
                logger.error("internal error in the connection to %s", self.url, exc_info=exc)
                err = BusinessError(UNKNOWN_ERROR, f"internal error: {exc!r}")
                self._end_before_open(err)

    async def run(self) -> None:
        opts = self.opts
        headers = dict(opts.header)
        user_agent = None
        for name in list(headers):
            if name.lower() == "user-agent":
                user_agent = headers.pop(name)
        protocols = opts.protocols
        for name in list(headers):
            if name.lower() == "sec-websocket-protocol":
                protocols = [p.strip() for p in headers.pop(name).split(",") if p.strip()]
        if opts.proxy == "system":
            proxy: str | bool | None = True
        elif opts.proxy == "no-proxy":
            proxy = None
        else:
            assert isinstance(opts.proxy, HttpProxy)
            host = (self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]).strip("[]")
            proxy = (
                None if opts.proxy.excludes(host) else f"http://{opts.proxy.host}:{opts.proxy.port}"
            )
        kwargs: dict[str, Any] = {
            "additional_headers": headers or None,
            "subprotocols": protocols or None,
            "compression": "deflate" if opts.compression else None,
            "proxy": proxy,
            "open_timeout": opts.openTimeout or None,
            # Keepalive is ours (see _keepalive): a missing pong must end the
            # connection within pingInterval + pongTimeout, not after a close timeout.
            "ping_interval": None,
            "ping_timeout": None,
            "close_timeout": opts.closeTimeout or None,
            "max_size": opts.maxMessageSize,
            "create_connection": _Connection,
            "logger": _MaskingLogger(opts.sensitiveHeaders),
        }
        if user_agent is not None:
            kwargs["user_agent_header"] = user_agent
        if self.tls is not None:
            kwargs["ssl"] = self.tls
        self._observe(
            "connect", "=", data=self.url, headers=mask_headers(opts.header, opts.sensitiveHeaders)
        )
        try:
            conn = await ws_connect(self.url, **kwargs)
        except asyncio.CancelledError:
            self._end_before_open(None)
            return
        except InvalidURI as exc:
            # Our own check passed, so the bad URL came from the server: a redirect.
            redirect = exc.__context__
            status = "0"
            if isinstance(redirect, InvalidStatus):
                status = str(redirect.response.status_code)
            err = BusinessError(
                CONNECTION_ERROR,
                f"the server redirected (HTTP {status}) to {mask_url(exc.uri)}, which is not "
                "a WebSocket URL; connect to the WebSocket endpoint itself",
                data=status,
            )
            err.__cause__ = exc
            self._end_before_open(err)
            return
        except Exception as exc:
            self._end_before_open(_connect_error(exc, self.url, opts))
            return
        self.conn = conn
        if self.close_requested is not None:
            # close() was called while the handshake was in flight.
            await conn.close(*self.close_requested)
            self._end_before_open(None)
            return
        await self._opened(conn)

    def _end_before_open(self, err: BusinessError | None, *, event: bool = True) -> None:
        self.closed = True
        self._cancel_deadline()
        self._set_state(ReadyState.CLOSED)
        if err is None:
            err = BusinessError(
                UNKNOWN_ERROR, "connect() was cancelled by close() before it opened"
            )
            result = CloseResult(1006, "closed before the connection opened")
            self.stats.lastClose = result
            self._observe("close", "=", code=result.code, reason=result.reason)
            self._emit("close", (None, result))
        elif event:
            self.stats.lastError = err
            self._observe("error", "=", error=err)
            self._emit("error", (err,))
        get_runtime().deliver(self.connect_promise.reject, err)
        self.keep_alive = None
        self._resolve_closers()

    async def _opened(self, conn: ClientConnection) -> None:
        response = conn.response
        self._ws_call(
            lambda ws: (
                setattr(ws, "_protocol", conn.subprotocol or ""),
                setattr(ws, "_extensions", response.headers.get("Sec-WebSocket-Extensions", "")),
                setattr(ws, "_response_headers", _headers_dict(response.headers)),
            )
        )
        self.stats.openedAt = time.time()
        self.stats.closedAt = None
        self._set_state(ReadyState.OPEN)
        opened = OpenResult(response.status_code, response.reason_phrase)
        self._observe(
            "open",
            "=",
            data=conn.subprotocol or "",
            headers=mask_headers(_headers_dict(response.headers), self.opts.sensitiveHeaders),
        )
        self._emit("headerReceive", (_headers_dict(response.headers),))
        self._emit("open", (None, opened))
        get_runtime().deliver(self.connect_promise.resolve, True)
        self.keep_alive = None
        keepalive = None
        if self.opts.pingInterval:
            keepalive = asyncio.ensure_future(self._keepalive(conn))
        try:
            await self._read(conn)
        finally:
            if keepalive is not None:
                keepalive.cancel()
            await self._finish(conn)

    async def _keepalive(self, conn: ClientConnection) -> None:
        interval, timeout = self.opts.pingInterval, self.opts.pongTimeout or None

        async def ping() -> None:
            pong = await conn.ping()
            await pong

        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.wait_for(ping(), timeout)
            except (asyncio.TimeoutError, TimeoutError):
                # A silent peer (half-open connection): fail now, with no
                # closing handshake the peer could not answer anyway.
                self.keepalive_failed = True
                conn.transport.abort()
                return
            except ConnectionClosed:
                return

    async def _read(self, conn: ClientConnection) -> None:
        whole = self.opts.wholeMessages
        max_msgs, max_bytes = self.opts.maxQueuedMessages, self.opts.maxQueuedBytes
        runtime = get_runtime()
        events = self.events
        stats = self.stats
        while True:
            # recv_streaming(), not recv(): recv()'s assembler refuses a message of
            # more than 4096 fragments, which a peer may legitimately send.
            chunks: list[Any] = []
            try:
                async for chunk in conn.recv_streaming():
                    chunks.append(chunk)
            except ConnectionClosed:
                return
            if len(chunks) == 1:
                message = chunks[0]
            elif chunks and isinstance(chunks[0], str):
                message = "".join(chunks)
            else:
                message = b"".join(chunks)
            size = (
                len(message)
                if type(message) is bytes or message.isascii()
                else len(message.encode("utf-8", "surrogatepass"))
            )
            pieces = [message] if whole else split_message(message)
            stats.messagesIn += 1
            stats.bytesIn += size
            stats.piecesIn += len(pieces)
            if self._ws_has_observers():
                self._observe("message", "<", data=message, pieces=len(pieces))
            self.produced += 1
            self.produced_bytes += size
            if events.has("message") or events.has("dataEnd"):
                runtime.deliver(self._deliver_message, pieces, size)
            else:
                self.consumed += 1
                self.consumed_bytes += size
            if self._over_limit(max_msgs, max_bytes):
                # Backpressure: stop reading until the callbacks catch up; the
                # peer's sends then block in TCP instead of filling our memory.
                self.room.clear()
                self.reader_waiting = True
                # Check again now that the flag is visible: the callback thread
                # may have caught up in between, and then no one would wake us.
                if self._over_limit(max_msgs, max_bytes):
                    await self.room.wait()
                self.reader_waiting = False

    def _over_limit(self, max_msgs: int, max_bytes: int) -> bool:
        return (
            self.produced - self.consumed > max_msgs
            or self.produced_bytes - self.consumed_bytes > max_bytes
        )

    def _ws_has_observers(self) -> bool:
        ws = self._ws()
        return ws is not None and bool(ws._observers)

    def _deliver_message(self, pieces: list[Any], size: int) -> None:
        # Runs on the callback thread.
        events = self.events
        if len(pieces) == 1:
            events.emit("message", (None, pieces[0]))
        else:
            events.emit_each("message", [(None, piece) for piece in pieces])
        events.emit("dataEnd", ())
        self.consumed += 1
        self.consumed_bytes += size
        if self.reader_waiting and (
            self.produced - self.consumed <= self.opts.maxQueuedMessages // 2
            and self.produced_bytes - self.consumed_bytes <= self.opts.maxQueuedBytes // 2
        ):
            self.reader_waiting = False
            get_runtime().call_soon(self.room.set)

    async def _finish(self, conn: ClientConnection) -> None:
        await conn.wait_closed()
        if self.writer is not None and not self.writer.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.writer), 1)
            except (asyncio.TimeoutError, TimeoutError):
                self.writer.cancel()
        proto = conn.protocol
        user_closed = self.close_requested is not None and proto.close_rcvd_then_sent is not True
        if user_closed and proto.parser_exc is None:
            # The user started the closing handshake: report what was asked for,
            # as OHOS does, even if the peer's answer differs or never came.
            result = CloseResult(*self.close_requested)
            err = None
        else:
            result = close_result_of(proto)
            err = _failure_error(conn, self.keepalive_failed)
        self.closed = True
        self._cancel_deadline()
        self._fail_pending(result)
        self.stats.closedAt = time.time()
        self.stats.lastClose = result
        self._set_state(ReadyState.CLOSED)
        if err is not None:
            self.stats.lastError = err
            self._observe("error", "=", error=err)
            self._emit("error", (err,))
        self._observe("close", "=", code=result.code, reason=result.reason)
        self._emit("close", (None, result))
        self._resolve_closers()

    def _cancel_deadline(self) -> None:
        if self.close_deadline is not None:
            self.close_deadline.cancel()
            self.close_deadline = None

    def _fail_pending(self, result: CloseResult) -> None:
        while self.sendq:
            item = self.sendq.popleft()
            item[2].reject(
                BusinessError(
                    UNKNOWN_ERROR,
                    f"the connection closed ({result.code}) before this message was sent",
                )
            )

    def _resolve_closers(self) -> None:
        # Settled on the callback thread, after the 'close' callbacks: once
        # `await ws.close()` returns, every 'close' callback has run.
        waiters, self.close_waiters = self.close_waiters, []
        for p in waiters:
            get_runtime().deliver(p.resolve, True)

    # -- sending (I/O thread) ------------------------------------------------------
    def enqueue(self, item: tuple[Any, Any, Promise[bool]]) -> None:
        if self.closed or self.conn is None:
            item[2].reject(_not_open("send", ReadyState.CLOSED))
            return
        self.sendq.append(item)
        if self.writer is None or self.writer.done():
            self._write_now()

    def _write_now(self) -> None:
        """Send what is queued without a task, as long as each send completes at once.

        ``conn.send`` normally finishes in its first step: the frame goes to the
        transport and there is no flow control to wait for. Running that step
        here saves a task per burst, which was most of the cost of a lone
        ``await ws.send(x)``. The first send that has to wait (the transport's
        buffer is full, or the connection is closing) and every close request
        are left to a writer task, which keeps the queue's order.
        """
        conn = self.conn
        assert conn is not None
        queue = self.sendq
        while queue:
            first, second, promise = queue[0]
            if isinstance(first, int):  # a close request: the writer task runs it
                break
            queue.popleft()
            coro = conn.send(first, text=second)
            try:
                waiting_on = coro.send(None)
            except StopIteration:
                self._sent(first, second, promise)
                continue
            except Exception as exc:
                _reject_send(promise, exc)
                continue
            self.writer = asyncio.ensure_future(
                self._write(_Suspended(coro, waiting_on), (first, second, promise))
            )
            return
        if queue:
            self.writer = asyncio.ensure_future(self._write())

    async def _write(
        self, started: _Suspended | None = None, item: tuple[Any, Any, Promise[bool]] | None = None
    ) -> None:
        conn = self.conn
        assert conn is not None
        queue = self.sendq
        if started is not None and item is not None:
            try:
                await started
            except asyncio.CancelledError as exc:
                _reject_send(item[2], exc)
                raise
            except Exception as exc:
                _reject_send(item[2], exc)
            else:
                self._sent(*item)
        while queue:
            first, second, promise = queue.popleft()
            if isinstance(first, int):  # a close request, queued behind the sends
                await self._close(conn, first, second)
                continue
            try:
                await conn.send(first, text=second)
            except asyncio.CancelledError as exc:
                _reject_send(promise, exc)  # the writer was given up on at close
                raise
            except Exception as exc:
                _reject_send(promise, exc)
                continue
            self._sent(first, second, promise)

    def _sent(self, data: bytes, text: bool, promise: Promise[bool]) -> None:
        stats = self.stats
        stats.messagesOut += 1
        stats.bytesOut += len(data)
        if self._ws_has_observers():
            self._observe("message", ">", data=data.decode("utf-8") if text else data, pieces=1)
        promise.resolve(True)

    def request_close(self, code: int, reason: str, promise: Promise[bool]) -> None:
        if self.closed:
            promise.resolve(True)
            return
        self.close_waiters.append(promise)
        if self.close_requested is not None:
            return  # a close is already under way; this promise waits for the same end
        self.close_requested = (code, reason)
        if self.opts.closeTimeout:
            # Sends queued ahead of the close frame can be stuck behind a peer that
            # stopped reading; past closeTimeout the transport is cut, so close()
            # settles and those sends reject instead of waiting forever.
            loop = asyncio.get_running_loop()
            self.close_deadline = loop.call_later(self.opts.closeTimeout + 1, self._close_overdue)
        if self.conn is None:
            if self.task is not None:
                self.task.cancel()  # still handshaking: abandon the attempt
            return
        self.sendq.append((code, reason, promise))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.ensure_future(self._write())

    def _close_overdue(self) -> None:
        if not self.closed and self.conn is not None:
            logger.debug("closing %s took over closeTimeout: cutting the transport", self.url)
            self.conn.transport.abort()

    async def _close(self, conn: ClientConnection, code: int, reason: str) -> None:
        self._observe("closing", ">", code=code, reason=reason)
        try:
            await conn.close(code, reason)
        except Exception:
            logger.debug("close(%s) failed", code, exc_info=True)

    def abandon(self) -> None:
        """The WebSocket object was garbage-collected: close with 1001, from any thread."""
        if get_runtime().started and not self.closed:
            get_runtime().call_soon(self.request_close, 1001, "going away", Promise("close"))


def _reject_send(promise: Promise[bool], exc: BaseException) -> None:
    if isinstance(exc, asyncio.CancelledError):
        err = BusinessError(UNKNOWN_ERROR, "the connection closed before this message was sent")
    elif isinstance(exc, ConnectionClosed):
        code = exc.rcvd.code if exc.rcvd else 1006
        err = BusinessError(
            UNKNOWN_ERROR, f"the connection closed ({code}) before this message was sent"
        )
    else:
        err = BusinessError(UNKNOWN_ERROR, f"send failed: {exc}")
        err.__cause__ = exc
    promise.reject(err)


class _Suspended:
    """Awaitable that finishes a coroutine whose first step already ran.

    ``_write_now`` steps ``conn.send`` by hand; when that step yields (it has to
    wait for the transport), the writer task awaits this object instead. It
    re-yields what the coroutine yielded and then forwards every resumption,
    value or exception, exactly as ``await coro`` would have.
    """

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Any, yielded: Any) -> None:
        self.coro, self.yielded = coro, yielded

    def __await__(self) -> Any:
        coro, yielded = self.coro, self.yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as stop:
                    return stop.value
