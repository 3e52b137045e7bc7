"""The OHOS ``WebSocketServer`` (API 19) over ``websockets.asyncio.server``.

:func:`createWebSocketServer` returns a :class:`WebSocketServer`; its ``start``,
``stop``, ``send`` and ``close`` return a :class:`~ohws_jupyter.promise.Promise`,
or take a trailing ``callback(err, value)`` instead, exactly like the client.
Every failure, bad arguments included, arrives through the promise or the
callback as a :class:`~ohws_jupyter.errors.BusinessError`; only ``on``/``off``
raise.

Threads: the caller's thread validates arguments and hands work to the
runtime's I/O loop, where the listening socket and one handler per client live;
events go to the callback thread, in order. The ready-made behaviours (echo,
broadcast, lab) are in :mod:`ohws_jupyter.server_modes` and run on the I/O loop,
so they answer even while user callbacks are busy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import errno
import logging
import ssl
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import PONG, Frame
from websockets.server import ServerProtocol

from .client import _bad_callback, _finish, _split_args
from .errors import (
    CONNECTION_ERROR,
    CONNECTION_NOT_FOUND,
    PARAMETER_ERROR,
    PORT_IN_USE,
    SERVER_ADDRESS_ERROR,
    SERVER_PORT_ERROR,
    UNKNOWN_ERROR,
    BusinessError,
)
from .events import EventEmitter
from .options import check_close_options, check_data
from .promise import Promise
from .runtime import create_task, get_runtime
from .server_modes import run_mode
from .server_options import (
    ServerCert,
    WebSocketConnection,
    WebSocketMessage,
    WebSocketServerConfig,
    check_connection,
    check_server_config,
)
from .session import close_result_of

__all__ = [
    "SERVER_EVENTS",
    "ServerCert",
    "ServerState",
    "WebSocketConnection",
    "WebSocketMessage",
    "WebSocketServer",
    "WebSocketServerConfig",
    "createWebSocketServer",
    "create_websocket_server",
]

logger = logging.getLogger("ohws_jupyter.server")

#: Event name -> length of the OHOS argument list.
SERVER_EVENTS = {"connect": 1, "messageReceive": 1, "close": 2, "error": 1}
#: Close code for a client refused by a limit (RFC 6455: 1013 Try Again Later).
LIMIT_CLOSE_CODE = 1013
#: Close code and reason sent to every client when the server stops.
STOP_CLOSE = (1001, "server stopping")


class ServerState(enum.Enum):
    """Where a server is in its life; it can start again once stopped."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


def _tls_context(cert: ServerCert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert.certPath, cert.keyPath)
    except (ssl.SSLError, OSError) as exc:
        raise BusinessError(
            PARAMETER_ERROR, f"cannot load serverCert: {exc}; give a PEM certificate and its key"
        ) from exc
    return ctx


class _Protocol(ServerProtocol):
    """``ServerProtocol`` that can stop answering pings, for the lab's ``/noping``."""

    answer_pings = True

    def send_frame(self, frame: Frame) -> None:
        if frame.opcode is PONG and not self.answer_pings:
            return
        super().send_frame(frame)


class _Connection(ServerConnection):
    """The ``websockets`` connection, with :class:`_Protocol` installed."""

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        # serve() builds the protocol itself and offers no factory for it; the
        # subclass only overrides send_frame, so switching the class is safe.
        protocol.__class__ = _Protocol
        super().__init__(protocol, *args, **kwargs)


class _Client:
    """One accepted connection and its pending work; lives on the I/O loop."""

    def __init__(self, conn: ServerConnection, info: WebSocketConnection) -> None:
        self.conn = conn
        self.info = info
        self.sendq: deque[tuple[Any, Any, Promise[bool]]] = deque()
        self.writer: asyncio.Future[None] | None = None
        self.close_waiters: list[Promise[bool]] = []
        self.closing = False
        self.dropped = False  # the server cut TCP on purpose (lab /drop): not an error
        self.tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, coro: Any) -> None:
        """Start work that dies with the connection (e.g. a delayed lab reply)."""
        task = create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class WebSocketServer:
    """A WebSocket server with the OHOS ``@ohos.net.webSocket`` API (API 19).

    Create it with :func:`createWebSocketServer`. One object listens on at most
    one address at a time and can start again once stopped.
    """

    def __init__(self) -> None:
        self._events = EventEmitter(SERVER_EVENTS, "WebSocketServer")
        self._lock = threading.Lock()
        self._state = ServerState.STOPPED
        self._clients: dict[WebSocketConnection, _Client] = {}
        self._server: Server | None = None
        self._start_task: asyncio.Future[Any] | None = None
        self.config: WebSocketServerConfig | None = None
        self.port: int | None = None

    # -- read-only state -----------------------------------------------------
    @property
    def state(self) -> ServerState:
        """``STOPPED``, ``STARTING``, ``RUNNING`` or ``STOPPING``."""
        return self._state

    @property
    def url(self) -> str | None:
        """The ``ws://`` (or ``wss://``) URL clients connect to, while running."""
        if self.config is None or self.port is None or self._state is not ServerState.RUNNING:
            return None
        scheme = "wss" if self.config.serverCert is not None else "ws"
        host = self.config.serverIP
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    def __repr__(self) -> str:
        where = f" {self.url}" if self.url else ""
        return f"<WebSocketServer {self._state.name}{where} clients={len(self._clients)}>"

    # -- events --------------------------------------------------------------
    def on(self, type: str, callback: Callable[..., Any]) -> None:
        """Subscribe to ``'connect'``, ``'messageReceive'``, ``'close'`` or ``'error'``.

        Raises:
            BusinessError: 401 for an unknown event or a non-callable callback.
        """
        self._events.on(type, callback)

    def off(self, type: str, callback: Callable[..., Any] | None = None) -> None:
        """Unsubscribe ``callback`` from ``type``, or every callback if omitted."""
        self._events.off(type, callback)

    def _emit(self, event: str, args: tuple) -> None:
        if self._events.has(event):
            get_runtime().deliver(self._events.emit, event, args)

    # -- operations ---------------------------------------------------------
    def start(self, *args: Any) -> Promise[bool] | None:
        """Listen for clients: ``start([config][, callback])``.

        Returns:
            Without a callback, a promise of ``True`` once listening; with one, ``None``.
        """
        config, callback, promise = _split_args("start", args)
        if promise is None:
            promise = Promise("start")
            try:
                cfg = check_server_config(config)
                tls = _tls_context(cfg.serverCert) if cfg.serverCert is not None else None
            except BusinessError as err:
                promise.reject(err)
            else:
                with self._lock:
                    state = self._state
                    if state is ServerState.STOPPED:
                        self._state = ServerState.STARTING
                if state is not ServerState.STOPPED:
                    promise.reject(
                        BusinessError(
                            UNKNOWN_ERROR,
                            f"this server is {state.name}; stop() it first, or create "
                            "another with createWebSocketServer()",
                        )
                    )
                else:
                    get_runtime().call_soon(self._begin, cfg, tls, promise)
        return _finish(promise, callback)

    def stop(self, callback: Any = None) -> Promise[bool] | None:
        """Close every client with 1001 and stop listening; ``True`` once all is closed.

        The promise settles after the ``'close'`` callbacks of those clients ran.
        """
        if callback is not None and not callable(callback):
            return _finish(_bad_callback("stop", callback), None)
        promise: Promise[bool] = Promise("stop")
        promise._needs_callback_thread = True
        with self._lock:
            state = self._state
            if state in (ServerState.RUNNING, ServerState.STARTING):
                self._state = ServerState.STOPPING
        if state in (ServerState.RUNNING, ServerState.STARTING):
            get_runtime().spawn(self._stop(promise))
        else:
            promise.reject(BusinessError(UNKNOWN_ERROR, f"cannot stop: the server is {state.name}"))
        return _finish(promise, callback)

    def listAllConnections(self, callback: Any = None) -> ConnectionList | None:
        """The connected clients, oldest first.

        Returns:
            A list (as OHOS returns an array), which may also be awaited; with a
            callback, ``None`` and ``callback(None, list)`` later.
        """
        with self._lock:
            found = ConnectionList(self._clients)
        if callback is None:
            return found
        if not callable(callback):
            _finish(_bad_callback("listAllConnections", callback), None)
            return None
        _finish(Promise.resolved(found, "listAllConnections"), callback)
        return None

    def send(self, data: Any, connection: Any, callback: Any = None) -> Promise[bool] | None:
        """Send a text (``str``) or binary (bytes-like) message to one client.

        Returns:
            Without a callback, a promise of ``True`` once the frame was handed to
            the transport; with one, ``None``.
        """
        if callback is not None and not callable(callback):
            return _finish(_bad_callback("send", callback), None)
        promise: Promise[bool] = Promise("send")
        try:
            payload, is_text = check_data(data)
            info = check_connection(connection, "send")
        except BusinessError as err:
            promise.reject(err)
        else:
            get_runtime().call_soon(self._enqueue, info, (payload, is_text, promise))
        return _finish(promise, callback)

    def close(self, connection: Any, *args: Any) -> Promise[bool] | None:
        """Close one client: ``close(connection[, options][, callback])``.

        Messages already passed to ``send`` are sent first. Resolves with ``True``
        once the closing handshake finished and the ``'close'`` callbacks ran.
        """
        options, callback, promise = _split_args("close", args)
        if promise is None:
            promise = Promise("close")
            promise._needs_callback_thread = True
            try:
                info = check_connection(connection, "close")
                opts = check_close_options(options)
            except BusinessError as err:
                promise.reject(err)
            else:
                get_runtime().call_soon(self._request_close, info, opts.code, opts.reason, promise)
        return _finish(promise, callback)

    # -- the life of the server (I/O thread) ------------------------------------
    def _begin(
        self, cfg: WebSocketServerConfig, tls: ssl.SSLContext | None, promise: Promise
    ) -> None:
        self._start_task = create_task(self._listen(cfg, tls, promise))

    async def _listen(
        self, cfg: WebSocketServerConfig, tls: ssl.SSLContext | None, promise: Promise[bool]
    ) -> None:
        kwargs: dict[str, Any] = {
            "subprotocols": cfg.protocols or None,
            "max_size": cfg.maxMessageSize,
            "create_connection": _Connection,
        }
        if tls is not None:
            kwargs["ssl"] = tls
        try:
            server = await serve(self._handle, cfg.serverIP, cfg.serverPort, **kwargs)
        except OSError as exc:
            self._set_state(ServerState.STOPPED)
            promise.reject(_bind_error(exc, cfg))
            return
        except Exception as exc:  # never leave the promise pending
            self._set_state(ServerState.STOPPED)
            err = BusinessError(UNKNOWN_ERROR, f"cannot start the server: {exc!r}")
            err.__cause__ = exc
            promise.reject(err)
            return
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self.config = dataclasses.replace(cfg, serverPort=self.port)
        with self._lock:
            if self._state is ServerState.STARTING:
                self._state = ServerState.RUNNING
        logger.info("= listening on %s (mode %s)", self.url, cfg.mode)
        promise.resolve(True)

    async def _stop(self, promise: Promise[bool]) -> None:
        if self._start_task is not None and not self._start_task.done():
            await asyncio.wait([self._start_task])  # stop() right after start()
        server = self._server
        if server is not None:
            server.close(close_connections=True, code=STOP_CLOSE[0], reason=STOP_CLOSE[1])
            await server.wait_closed()
        self._server = self._start_task = None
        self._set_state(ServerState.STOPPED)
        logger.info("= stopped")
        # On the callback thread: every 'close' callback has run when stop() resolves.
        get_runtime().deliver(promise.resolve, True)

    def _set_state(self, state: ServerState) -> None:
        with self._lock:
            self._state = state

    # -- one client (I/O thread) -------------------------------------------------
    def _refusal(self, info: WebSocketConnection) -> str | None:
        """Why a new client may not stay, or None."""
        cfg = self.config
        assert cfg is not None
        if self._state is not ServerState.RUNNING:
            return "server stopping"
        if len(self._clients) >= cfg.maxConcurrentClientsNumber:
            limit = cfg.maxConcurrentClientsNumber
            return f"server full: {limit} clients (maxConcurrentClientsNumber)"
        same = sum(1 for c in self._clients if c.clientIP == info.clientIP)
        if same >= cfg.maxConnectionsForOneClient:
            return (
                f"too many connections from {info.clientIP}: "
                f"{cfg.maxConnectionsForOneClient} (maxConnectionsForOneClient)"
            )
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        address = conn.remote_address
        info = WebSocketConnection(str(address[0]), int(address[1]))
        refusal = self._refusal(info)
        if refusal is not None:
            # Accepted, then closed with a reason: a browser or OHOS client can
            # show why, which a refused TCP connection or HTTP 503 would not.
            logger.info("= refused %s:%s: %s", info.clientIP, info.clientPort, refusal)
            await conn.close(LIMIT_CLOSE_CODE, refusal)
            return
        client = _Client(conn, info)
        with self._lock:
            self._clients[info] = client
        logger.info("= connect %s:%s", info.clientIP, info.clientPort)
        self._emit("connect", (info,))
        mode = self.config.mode if self.config is not None else None
        try:
            async for message in conn:
                self._emit("messageReceive", (WebSocketMessage(message, info),))
                if mode is not None:
                    await run_mode(mode, self, client, message)
        except ConnectionClosed:
            pass
        finally:
            await self._finish(client)

    async def _finish(self, client: _Client) -> None:
        conn = client.conn
        await conn.wait_closed()
        for task in list(client.tasks):
            task.cancel()
        if client.tasks:
            await asyncio.wait(list(client.tasks))
        if client.writer is not None and not client.writer.done():
            client.writer.cancel()
            await asyncio.wait([client.writer])
        # The server started the closing handshake (close(), stop(), a lab
        # command, a keepalive timeout): it reports what it asked for, as the
        # client does, even if the answer differs or never came.
        result = close_result_of(conn.protocol)
        while client.sendq:
            client.sendq.popleft()[2].reject(
                BusinessError(
                    UNKNOWN_ERROR, f"the connection closed ({result.code}) before this was sent"
                )
            )
        with self._lock:
            self._clients.pop(client.info, None)
        info = client.info
        err = None if client.dropped else _failure_error(conn, info)
        logger.info(
            "= close %s:%s %s %s", info.clientIP, info.clientPort, result.code, result.reason
        )
        if err is not None:
            logger.info("= error %s:%s %s", info.clientIP, info.clientPort, err.message)
            self._emit("error", (err,))
        self._emit("close", (info, result))
        for p in client.close_waiters:
            get_runtime().deliver(p.resolve, True)
        client.close_waiters = []

    def _client(self, info: WebSocketConnection, op: str, promise: Promise[Any]) -> _Client | None:
        client = self._clients.get(info)
        if client is not None and client.closing and op == "send":
            promise.reject(BusinessError(UNKNOWN_ERROR, "cannot send: the connection is closing"))
            return None
        if client is None:
            promise.reject(
                BusinessError(
                    CONNECTION_NOT_FOUND,
                    f"cannot {op}: no client {info.clientIP}:{info.clientPort} is connected; "
                    "see listAllConnections()",
                )
            )
            return None
        return client

    def _enqueue(self, info: WebSocketConnection, item: tuple[Any, Any, Promise[bool]]) -> None:
        client = self._client(info, "send", item[2])
        if client is not None:
            client.sendq.append(item)
            self._kick(client)

    def _request_close(
        self, info: WebSocketConnection, code: int, reason: str, promise: Promise[bool]
    ) -> None:
        client = self._client(info, "close", promise)
        if client is None:
            return
        client.close_waiters.append(promise)
        if not client.closing:
            client.closing = True
            client.sendq.append((code, reason, promise))
            self._kick(client)

    def _kick(self, client: _Client) -> None:
        if client.writer is None or client.writer.done():
            client.writer = asyncio.ensure_future(self._write(client))

    async def _write(self, client: _Client) -> None:
        conn, queue = client.conn, client.sendq
        while queue:
            first, second, promise = queue.popleft()
            if isinstance(first, int):  # a close request, queued behind the sends
                await conn.close(first, second)
                continue
            try:
                await conn.send(first, text=second)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else 1006
                promise.reject(
                    BusinessError(
                        UNKNOWN_ERROR, f"the connection closed ({code}) before this was sent"
                    )
                )
                continue
            promise.resolve(True)


class ConnectionList(list):
    """The list ``listAllConnections()`` returns; ``await`` on it gives itself.

    OHOS returns the array at once; awaiting it too keeps code written for the
    promise style of the other methods working.
    """

    def __await__(self) -> Any:
        if False:  # pragma: no cover - makes this a generator
            yield
        return self

    def result(self, timeout: float | None = None) -> ConnectionList:
        """Itself, like ``Promise.result``."""
        return self


def _bind_error(exc: OSError, cfg: WebSocketServerConfig) -> BusinessError:
    where = f"{cfg.serverIP}:{cfg.serverPort}"
    if exc.errno == errno.EADDRINUSE:
        err = BusinessError(
            PORT_IN_USE,
            f"{where} is already in use; stop the other server or use serverPort 0 for a free port",
        )
    elif exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        err = BusinessError(
            SERVER_ADDRESS_ERROR,
            f"{cfg.serverIP} is not an address of this machine; use '127.0.0.1' or '0.0.0.0'",
        )
    elif exc.errno == errno.EACCES:
        err = BusinessError(
            SERVER_PORT_ERROR,
            f"no permission to listen on port {cfg.serverPort}; use a port above 1023 or 0",
        )
    else:
        err = BusinessError(UNKNOWN_ERROR, f"cannot listen on {where}: {exc.strerror or exc}")
    err.__cause__ = exc
    return err


def _failure_error(conn: ServerConnection, info: WebSocketConnection) -> BusinessError | None:
    """The code-200 error of a client connection that ended badly, or None."""
    proto = conn.protocol
    cause = proto.parser_exc or conn.connection_exc
    who = f"client {info.clientIP}:{info.clientPort}"
    if isinstance(proto.parser_exc, EOFError) or (
        proto.close_rcvd is None and proto.close_sent is None
    ):
        detail = f"{who} was lost without a close frame (1006)"
    elif proto.parser_exc is not None:
        detail = f"{who} broke the WebSocket protocol: {cause}"
    elif (
        proto.close_sent is not None and proto.close_sent.code == 1011 and proto.close_rcvd is None
    ):
        detail = f"{who} did not answer the keepalive ping in time"
    else:
        return None
    err = BusinessError(CONNECTION_ERROR, detail, data=info)
    err.__cause__ = cause
    return err


def createWebSocketServer() -> WebSocketServer:
    """Create a WebSocket server object (OHOS ``webSocket.createWebSocketServer()``)."""
    return WebSocketServer()


create_websocket_server = createWebSocketServer
