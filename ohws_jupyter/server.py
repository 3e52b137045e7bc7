"""The OHOS ``WebSocketServer`` (API 19) over the connection engine.

:func:`createWebSocketServer` returns a :class:`WebSocketServer`; its ``start``,
``stop``, ``send`` and ``close`` return a :class:`~ohws_jupyter.promise.Promise`,
or take a trailing ``callback(err, value)`` instead, exactly like the client.
Every failure, bad arguments included, arrives through the promise or the
callback as a :class:`~ohws_jupyter.errors.BusinessError`; only ``on``/``off``
raise.

Threads: the caller's thread validates arguments and builds the frames it
sends; the listening socket and every client's :class:`~ohws_jupyter.engine.Connection`
live on the runtime's I/O loop. Events run on the server's own lane, in order,
never held up by another object's callbacks. The ready-made behaviours (echo,
broadcast, lab) are in :mod:`ohws_jupyter.server_modes` and run on the I/O loop,
so they answer even while user callbacks are busy.

Each client obeys the same bounds as a client connection: received messages
waiting for ``'messageReceive'`` callbacks pause reading from that client
past 1024 messages or 64 MiB, and a client that does not read what the server
sends is cut off with 1008 once CLIENT_SEND_LIMIT bytes wait for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import errno
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.exceptions import PayloadTooBig
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request
from websockets.protocol import OPEN

from .calls import bad_callback, finish, split_args
from .engine import Connection, LenientServerProtocol, close_result_of
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
from .logs import MaskingLogger
from .options import MAX_SEND_SIZE, check_close_options, check_data
from .promise import Promise
from .runtime import create_task, get_runtime
from .server_modes import run_handshake, run_mode
from .server_options import (
    ServerCert,
    WebSocketConnection,
    WebSocketMessage,
    WebSocketServerConfig,
    check_connection,
    check_server_config,
)
from .server_request import HandshakeRequest, RequestHandler, answer_request

__all__ = [
    "CLIENT_SEND_LIMIT",
    "SERVER_EVENTS",
    "ServerCert",
    "ServerClient",
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
#: Bytes that may wait to be written to one client before it is cut off (1008).
CLIENT_SEND_LIMIT = 16 * 1024 * 1024
#: Seconds a client may take to send its opening handshake.
OPEN_TIMEOUT = 10.0
#: Keepalive: seconds between pings, and to wait for each pong (1011 past it).
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
#: Received messages / bytes waiting for callbacks before a client's reading pauses.
MAX_QUEUED_MESSAGES = 1024
MAX_QUEUED_BYTES = 64 * 1024 * 1024


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


class ServerClient:
    """One accepted connection of a server: the engine's owner on the server side.

    Lives on the I/O loop; :meth:`send` may be called from any thread.

    Attributes:
        info: The ``WebSocketConnection`` (address and port) users see.
        conn: The engine connection.
        connected_at: When the handshake completed, as ``time.time()``.
    """

    def __init__(self, server: WebSocketServer, cfg: WebSocketServerConfig) -> None:
        self.server = server
        self.cfg = cfg
        self.info: WebSocketConnection | None = None
        self.request: HandshakeRequest | None = None  # the opening handshake, once read
        self.connected_at: float | None = None
        self.messages_in = self.messages_out = 0
        self.ping_round_trip: float | None = None
        self.close_waiters: list[Promise[bool]] = []
        self.close_requested = False
        self.dropped = False  # the server cut TCP on purpose (lab /drop): not an error
        self.opened = False
        self.timers: set[asyncio.TimerHandle] = set()
        protocol = LenientServerProtocol(
            extensions=[ServerPerMessageDeflateFactory()],
            subprotocols=cfg.protocols or None,  # type: ignore[arg-type]
            max_size=cfg.maxMessageSize,
            logger=MaskingLogger("server"),
        )
        self.conn = Connection(
            protocol,
            self,
            close_timeout=cfg.closeTimeout,
            max_queued_messages=MAX_QUEUED_MESSAGES,
            max_queued_bytes=MAX_QUEUED_BYTES,
            cut_off_slow_peer=True,
            hard_limit=CLIENT_SEND_LIMIT,
        )
        self._open_timer = self.conn.loop.call_later(OPEN_TIMEOUT, self._handshake_overdue)

    def __repr__(self) -> str:
        who = f"{self.info.clientIP}:{self.info.clientPort}" if self.info else "handshaking"
        return f"<ServerClient {who} {self.conn.state.name}>"

    def later(self, delay: float, fn: Callable[[], Any]) -> None:
        """Run ``fn`` after ``delay`` s on the I/O loop, unless the connection ended."""

        def run() -> None:
            self.timers.discard(handle)
            if not self.conn.lost:
                fn()

        handle = self.conn.loop.call_later(delay, run)
        self.timers.add(handle)

    def send(self, message: str | bytes) -> bool:
        """Send one message; True if the caller should wait for the buffer to drain."""
        wait = self.conn.send_message(message)
        self.messages_out += 1
        if wait:
            self.conn.when_drained(_ignore)  # nobody waits here; keep the count even
        return wait

    def _handshake_overdue(self) -> None:
        if not self.opened:
            self.conn.abort()

    # -- the engine's reports (I/O thread) ---------------------------------------------
    def handshake_event(self, conn: Connection, request: Request | None) -> None:
        if request is None:  # not an HTTP request at all: the protocol hung up
            logger.info("= refused a connection: %s", conn.protocol.handshake_exc)
            return
        transport = conn.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        address = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        self.info = WebSocketConnection(*address)
        self.request = HandshakeRequest.of(request, address)
        # Extension: the server's request hook may refuse it; the lab may misbehave
        # or answer later (server_request, server_modes).
        if answer_request(self, request, self.server.request_handler) or run_handshake(
            self.cfg.mode, self, request
        ):
            return
        self.respond(request)

    def respond(self, request: Request) -> None:
        """Answer the opening handshake now: 101 and ``'connect'``, or websockets' refusal."""
        conn = self.conn
        proto = conn.protocol
        address = (self.info.clientIP, self.info.clientPort) if self.info else ("", 0)
        response_box: list[Any] = []

        def respond(protocol: Any) -> None:
            response = protocol.accept(request)
            response_box.append(response)
            protocol.send_response(response)

        conn.send_frames(respond)
        response = response_box[0]
        if response.status_code != 101:
            why = proto.handshake_exc
            logger.info(
                "= refused the handshake of %s:%s: HTTP %s (%s)",
                *address,
                response.status_code,
                why or response.reason_phrase,
            )
            return
        self._open_timer.cancel()
        self.opened = True
        self.connected_at = time.time()
        self.server._admit(self)

    def received(self, conn: Connection, messages: list[Any], size: int) -> None:
        self.messages_in += len(messages)
        self.server._received(self, messages, size)

    def pong(self, conn: Connection, rtt: float) -> None:
        self.ping_round_trip = rtt

    def closing(self, conn: Connection) -> None:
        pass

    def closed(self, conn: Connection, exc: BaseException | None) -> None:
        self._open_timer.cancel()
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        self.server._lost(self, exc)


class WebSocketServer:
    """A WebSocket server with the OHOS ``@ohos.net.webSocket`` API (API 19).

    Create it with :func:`createWebSocketServer`. One object listens on at most
    one address at a time and can start again once stopped.
    """

    def __init__(self) -> None:
        self._events = EventEmitter(SERVER_EVENTS, "WebSocketServer")
        self._lane = get_runtime().lane("WebSocketServer")
        self._lock = threading.Lock()
        self._state = ServerState.STOPPED
        self._clients: dict[WebSocketConnection, ServerClient] = {}
        self._handshaking: set[ServerClient] = set()
        self._server: asyncio.Server | None = None
        self.request_handler: RequestHandler | None = None
        self._start_task: asyncio.Future[Any] | None = None
        self._stopped: asyncio.Future[None] | None = None
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

    def clients(self) -> list[ServerClient]:
        """Extension: the connected clients with their counters, oldest first."""
        with self._lock:
            return list(self._clients.values())

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

    def setRequestHandler(self, handler: RequestHandler | None) -> None:
        """Extension: have ``handler(request)`` accept or refuse each opening handshake.

        It gets a :class:`~ohws_jupyter.server_request.HandshakeRequest` (path,
        query, headers, origin, offered protocols, client address) and returns
        ``None`` to accept, or an HTTP status (``403``) or ``(status, text)`` to
        refuse. It runs on the I/O thread: keep it quick. ``None`` removes it.

        Raises:
            BusinessError: 401 if ``handler`` is neither callable nor None.
        """
        if handler is not None and not callable(handler):
            raise BusinessError(
                PARAMETER_ERROR,
                f"setRequestHandler() needs a function or None, not {type(handler).__name__}",
            )
        self.request_handler = handler

    def _emit(self, event: str, args: tuple) -> None:
        if self._events.has(event):
            self._lane.call(self._events.emit, event, args)

    # -- operations ---------------------------------------------------------
    def start(self, *args: Any) -> Promise[bool] | None:
        """Listen for clients: ``start([config][, callback])``.

        Returns:
            Without a callback, a promise of ``True`` once listening; with one, ``None``.
        """
        config, callback, promise = split_args("start", args)
        if promise is None:
            promise = Promise("start", self._lane)
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
        return finish(promise, callback)

    def stop(self, callback: Any = None) -> Promise[bool] | None:
        """Close every client with 1001 and stop listening; ``True`` once all is closed.

        Each client's closing handshake is bounded by the config's ``closeTimeout``
        (10 s by default); then its transport is cut.
        """
        if callback is not None and not callable(callback):
            return finish(bad_callback("stop", callback), None)
        promise: Promise[bool] = Promise("stop", self._lane)
        with self._lock:
            state = self._state
            if state in (ServerState.RUNNING, ServerState.STARTING):
                self._state = ServerState.STOPPING
        if state in (ServerState.RUNNING, ServerState.STARTING):
            get_runtime().spawn(self._stop(promise))
        else:
            promise.reject(BusinessError(UNKNOWN_ERROR, f"cannot stop: the server is {state.name}"))
        return finish(promise, callback)

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
            finish(bad_callback("listAllConnections", callback), None)
            return None
        finish(Promise.resolved(found, "listAllConnections"), callback)
        return None

    def send(self, data: Any, connection: Any, callback: Any = None) -> Promise[bool] | None:
        """Send a text (``str``) or binary (bytes-like) message to one client.

        Returns:
            Without a callback, a promise of ``True`` once the message is queued in
            order (as the client's ``send``: while more than 4 MiB wait for that
            client, once they drain); with one, ``None``.
        """
        if callback is not None and not callable(callback):
            return finish(bad_callback("send", callback), None)
        promise: Promise[bool] = Promise("send", self._lane)
        try:
            payload, is_text = check_data(data, self._send_limit())
            info = check_connection(connection, "send")
        except BusinessError as err:
            promise.reject(err)
            return finish(promise, callback)
        client = self._client(info, "send", promise)
        if client is not None:
            _send_to(client, payload, is_text, promise)
        return finish(promise, callback)

    def broadcast(self, data: Any) -> int:
        """Extension: send one message to every connected client; returns how many.

        A client that does not keep up is cut off (1008) instead of slowing the others.

        Raises:
            BusinessError: 401 for data that is neither ``str`` nor bytes-like.
        """
        payload, is_text = check_data(data, self._send_limit())
        message: str | bytes = payload.decode() if is_text else payload
        count = 0
        for client in self.clients():
            try:
                client.send(message)
            except Exception:
                continue  # closing: it has its own end
            count += 1
        return count

    def _send_limit(self) -> int:
        return self.config.maxSendSize if self.config is not None else MAX_SEND_SIZE

    def close(self, connection: Any, *args: Any) -> Promise[bool] | None:
        """Close one client: ``close(connection[, options][, callback])``.

        Messages already passed to ``send`` are sent first. Resolves with ``True``
        once the connection has ended (closing handshake done, or cut after
        ``closeTimeout``).
        """
        options, callback, promise = split_args("close", args)
        if promise is None:
            promise = Promise("close", self._lane)
            try:
                info = check_connection(connection, "close")
                opts = check_close_options(options)
            except BusinessError as err:
                promise.reject(err)
            else:
                get_runtime().call_soon(self._request_close, info, opts.code, opts.reason, promise)
        return finish(promise, callback)

    # -- the life of the server (I/O thread) ------------------------------------
    def _begin(
        self, cfg: WebSocketServerConfig, tls: ssl.SSLContext | None, promise: Promise
    ) -> None:
        self._start_task = create_task(self._listen(cfg, tls, promise))

    def _new_client(self, cfg: WebSocketServerConfig) -> Connection:
        client = ServerClient(self, cfg)
        self._handshaking.add(client)
        return client.conn

    async def _listen(
        self, cfg: WebSocketServerConfig, tls: ssl.SSLContext | None, promise: Promise[bool]
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                lambda: self._new_client(cfg), cfg.serverIP, cfg.serverPort, ssl=tls
            )
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
            server.close()
        for client in list(self._handshaking):
            client.conn.abort()
        clients = self.clients()
        if clients:
            loop = asyncio.get_running_loop()
            self._stopped = loop.create_future()
            for client in clients:
                client.close_requested = True
                client.conn.close(*STOP_CLOSE)
            await self._stopped
        self._server = self._start_task = self._stopped = None
        self._set_state(ServerState.STOPPED)
        logger.info("= stopped")
        promise.resolve(True)

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

    def _admit(self, client: ServerClient) -> None:
        self._handshaking.discard(client)
        info = client.info
        assert info is not None
        refusal = self._refusal(info)
        if refusal is not None:
            # Accepted, then closed with a reason: a browser or OHOS client can
            # show why, which a refused TCP connection or HTTP 503 would not.
            logger.info("= refused %s:%s: %s", info.clientIP, info.clientPort, refusal)
            client.close_requested = True
            client.conn.close(LIMIT_CLOSE_CODE, refusal)
            return
        with self._lock:
            self._clients[info] = client
        logger.info("= connect %s:%s", info.clientIP, info.clientPort)
        self._emit("connect", (info,))
        client.conn.start_keepalive(PING_INTERVAL, PING_TIMEOUT, fail_with_close=True)

    def _received(self, client: ServerClient, messages: list[Any], size: int) -> None:
        info = client.info
        if info is None or info not in self._clients:
            client.conn.consumed_some(len(messages), size)
            return
        if self._events.has("messageReceive"):
            self._lane.call(self._deliver, client, messages, size)
        else:
            client.conn.consumed_some(len(messages), size)
        mode = self.config.mode if self.config is not None else None
        if mode is not None:
            for message in messages:
                if client.conn.state is not OPEN:
                    break
                try:
                    run_mode(mode, self, client, message)
                except Exception:
                    logger.exception("the %s mode failed on a message", mode)

    def _deliver(self, client: ServerClient, messages: list[Any], size: int) -> None:
        # Runs on the server's lane.
        info = client.info
        emit = self._events.emit
        for message in messages:
            emit("messageReceive", (WebSocketMessage(message, info),))
        client.conn.consumed_some(len(messages), size)

    def _lost(self, client: ServerClient, exc: BaseException | None) -> None:
        self._handshaking.discard(client)
        info = client.info
        with self._lock:
            known = info is not None and self._clients.get(info) is client
            if known:
                del self._clients[info]
        if known:
            assert info is not None
            conn = client.conn
            result = close_result_of(conn.protocol)
            err = None if client.dropped else _failure_error(conn, info, exc)
            logger.info(
                "= close %s:%s %s %s", info.clientIP, info.clientPort, result.code, result.reason
            )
            if err is not None:
                logger.info("= error %s:%s %s", info.clientIP, info.clientPort, err.message)
                self._emit("error", (err,))
            self._emit("close", (info, result))
        for p in client.close_waiters:
            p.resolve(True)
        client.close_waiters = []
        if self._stopped is not None and not self._clients and not self._stopped.done():
            self._stopped.set_result(None)

    def _client(
        self, info: WebSocketConnection, op: str, promise: Promise[Any]
    ) -> ServerClient | None:
        client = self._clients.get(info)
        if client is not None and op == "send" and client.conn.state is not OPEN:
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

    def _request_close(
        self, info: WebSocketConnection, code: int, reason: str, promise: Promise[bool]
    ) -> None:
        client = self._client(info, "close", promise)
        if client is None:
            return
        client.close_waiters.append(promise)
        client.close_requested = True
        client.conn.close(code, reason)


def _send_to(client: ServerClient, payload: bytes, is_text: bool, promise: Promise[bool]) -> None:
    try:
        wait = client.conn.send(payload, is_text)
    except Exception:
        promise.reject(BusinessError(UNKNOWN_ERROR, "cannot send: the connection is closing"))
        return
    client.messages_out += 1
    if wait:
        client.conn.when_drained(
            lambda ok: (
                promise.resolve(True)
                if ok
                else promise.reject(
                    BusinessError(UNKNOWN_ERROR, "the connection closed before this was sent")
                )
            )
        )
    else:
        promise.resolve(True)


def _ignore(ok: bool) -> None:
    pass


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


def _failure_error(
    conn: Connection, info: WebSocketConnection, exc: BaseException | None
) -> BusinessError | None:
    """The code-200 error of a client connection that ended badly, or None."""
    proto = conn.protocol
    cause = conn.utf8_error or proto.parser_exc or exc
    who = f"client {info.clientIP}:{info.clientPort}"
    if conn.slow_peer:
        detail = (
            f"{who} did not read what the server sent: more than {CLIENT_SEND_LIMIT} bytes "
            "waited for it, so it was cut off (1008)"
        )
    elif conn.keepalive_failed:
        detail = f"{who} did not answer the keepalive ping in time"
    elif isinstance(proto.parser_exc, EOFError) or (
        proto.close_rcvd is None and proto.close_sent is None
    ):
        detail = f"{who} was lost without a close frame (1006)"
    elif isinstance(cause, PayloadTooBig):
        detail = f"{who} sent a message over maxMessageSize (closed with 1009)"
    elif cause is not None and (proto.parser_exc is not None or conn.utf8_error is not None):
        detail = f"{who} broke the WebSocket protocol: {cause}"
    elif proto.close_rcvd is None and conn.aborted_by_deadline:
        detail = f"{who} did not finish the closing handshake within {conn.close_timeout} s"
    else:
        return None
    err = BusinessError(CONNECTION_ERROR, detail, data=info)
    err.__cause__ = cause
    return err


def createWebSocketServer() -> WebSocketServer:
    """Create a WebSocket server object (OHOS ``webSocket.createWebSocketServer()``)."""
    return WebSocketServer()


create_websocket_server = createWebSocketServer
