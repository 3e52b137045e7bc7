"""The OHOS ``WebSocketServer`` (API 19) over the connection engine.

:func:`createWebSocketServer` returns a :class:`WebSocketServer`; its ``start``,
``stop``, ``send`` and ``close`` return a :class:`~ohws_jupyter.engine.promise.Promise`,
or take a trailing ``callback(err, value)`` instead, exactly like the client.
Every failure, bad arguments included, arrives through the promise or the
callback as a :class:`~ohws_jupyter.core.errors.BusinessError`; only ``on``/``off``
raise.

Threads: the caller's thread validates arguments and builds the frames it
sends; the listening socket and every client's :class:`~ohws_jupyter.engine.connection.Connection`
live on the runtime's I/O loop. Events run on the server's own lane, in order,
never held up by another object's callbacks. The ready-made behaviours (echo,
broadcast, lab) are in :mod:`ohws_jupyter.server.modes` and run on the I/O loop,
so they answer even while user callbacks are busy.

Each client obeys the same bounds as a client connection: received messages
waiting for ``'messageReceive'`` callbacks pause reading from that client
past 1024 messages or 64 MiB, and a client that does not read what the server
sends is cut off with 1008: while more than CLIENT_SEND_LIMIT bytes wait for it,
it must take some of them every CLIENT_STALL_LIMIT seconds, and it may fall
behind by at most CLIENT_SEND_LIMIT plus one largest message (``maxSendSize``,
or ``maxMessageSize`` for an echo), so one large reply never counts against it.
The close frame goes after what waits for it, bounded by ``closeTimeout``.

Under the ``device`` profile (the server's own, fixed at creation) it follows
:mod:`ohws_jupyter.core.device`: the config as a device reads it, clients over a
limit (or flooding) refused during the handshake, no subprotocol or
compression negotiated, libwebsockets' keepalive (a ping at 40 s, a silent
client dropped at 50 s), ``close``/``stop`` settled once queued, and
``'close'``/``'error'`` values shaped as a device shapes them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import astuple
from typing import Any, Literal, TypeAlias, overload

from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.http11 import Request
from websockets.protocol import OPEN
from websockets.typing import Subprotocol

from ..core import device as _device
from ..core.aliases import ServerEventAliases
from ..core.checks import MAX_SEND_SIZE, check_data
from ..core.context import Context, ContextOwner, resolve_context
from ..core.errors import (
    CONNECTION_ERROR,
    CONNECTION_NOT_FOUND,
    PARAMETER_ERROR,
    PORT_IN_USE,
    SEND_FAILED,
    UNKNOWN_ERROR,
    BusinessError,
)
from ..core.events import EventEmitter, Record, report_callback_error
from ..core.masking import mask_headers, mask_url
from ..core.options import WebSocketCloseOptions, WebSocketCloseOptionsDict, check_close_options
from ..engine.calls import bad_callback, finish, split_args
from ..engine.closing import close_result_of
from ..engine.connection import Connection, LenientServerProtocol
from ..engine.logs import MaskingLogger
from ..engine.promise import Promise
from ..engine.runtime import create_task, get_runtime
from .config import (
    ServerCert,
    ServerCloseResult,
    WebSocketConnection,
    WebSocketConnectionDict,
    WebSocketMessage,
    WebSocketServerConfig,
    WebSocketServerConfigDict,
    check_connection,
    check_server_config,
    device_server_config,
)
from .modes import run_handshake, run_mode
from .reports import (
    CLIENT_SEND_LIMIT,
    CLIENT_STALL_LIMIT,
    ConnectionList,
    bind_error,
    device_end,
    failure_error,
    warn_limits,
    warn_server_close,
)
from .request_handler import (
    DEFAULT_HANDLER_TIMEOUT,
    HandshakeRequest,
    RequestHandler,
    RequestHook,
)

__all__ = [
    "CLIENT_SEND_LIMIT",
    "SERVER_EVENTS",
    "ServerCert",
    "ServerClient",
    "ServerEvent",
    "ServerState",
    "WebSocketConnection",
    "WebSocketMessage",
    "WebSocketServer",
    "WebSocketServerConfig",
    "createWebSocketServer",
    "create_websocket_server",
]

logger = logging.getLogger("ohws_jupyter.server")

# What the operations take, as their overloads spell it.
_Config: TypeAlias = WebSocketServerConfig | WebSocketServerConfigDict
_Connection: TypeAlias = WebSocketConnection | WebSocketConnectionDict
_CloseOptions: TypeAlias = WebSocketCloseOptions | WebSocketCloseOptionsDict
_Callback: TypeAlias = Callable[..., object]
_Data: TypeAlias = str | bytes | bytearray | memoryview

#: Event name -> length of the OHOS argument list.
SERVER_EVENTS = {"connect": 1, "messageReceive": 1, "close": 2, "error": 1}
#: The event names ``on`` and ``off`` take (the keys of ``SERVER_EVENTS``).
ServerEvent: TypeAlias = Literal["connect", "messageReceive", "close", "error"]
#: Close code for a client refused by a limit (RFC 6455: 1013 Try Again Later).
LIMIT_CLOSE_CODE = 1013
#: Close code and reason sent to every client when the server stops.
STOP_CLOSE = (1001, "server stopping")
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
        self.path = ""
        self.request_headers: dict[str, str] = {}
        self.request: HandshakeRequest | None = None  # the opening handshake, once read
        self.connected_at: float | None = None
        self.messages_in = self.messages_out = 0
        self.ping_round_trip: float | None = None
        self.close_waiters: list[Promise[bool]] = []
        self.close_requested = False
        # Device: the code and reason of the close()/stop() that ends this client.
        self.close_asked: tuple[int, str] | None = None
        self.dropped = False  # the server cut TCP on purpose (lab /drop): not an error
        self.opened = False
        self.timers: set[asyncio.TimerHandle] = set()
        #: The server's context: profile, texts, runtime.
        self.ctx = server.context
        self.device = self.ctx.is_device
        if self.device:
            # A device's libwebsockets server knows one protocol by name and no extension.
            protocol = LenientServerProtocol(
                select_subprotocol=_device_subprotocol,
                max_size=cfg.maxMessageSize,
                logger=MaskingLogger("server"),
            )
        else:
            protocol = LenientServerProtocol(
                extensions=enable_server_permessage_deflate(None),
                subprotocols=[Subprotocol(p) for p in cfg.protocols] or None,
                max_size=cfg.maxMessageSize,
                logger=MaskingLogger("server"),
            )
        self.conn = Connection(
            protocol,
            self,
            runtime=self.ctx.runtime,
            close_timeout=cfg.closeTimeout,
            max_queued_messages=MAX_QUEUED_MESSAGES,
            max_queued_bytes=MAX_QUEUED_BYTES,
            cut_off_slow_peer=True,
            hard_limit=CLIENT_SEND_LIMIT,
            largest_send=max(cfg.maxSendSize, cfg.maxMessageSize),  # a reply or an echo
            stall_limit=CLIENT_STALL_LIMIT,
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
        if self.server._observers:
            record = Record(time.time(), "message", ">", data=message, pieces=1)
            self.server._observe(self, record)
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
        self.path = mask_url(request.path)
        self.request_headers = mask_headers(
            {name: value for name, value in request.headers.raw_items()}
        )
        if self.device and not self.server._device_gate(self, request):
            return
        self.request = HandshakeRequest.of(request, address)

        # Extension: the lab may misbehave or answer later (modes).
        def proceed() -> None:
            if not run_handshake(self.cfg.mode, self, request):
                self.respond(request)

        hook = self.server._request_hook
        if hook is None:
            proceed()
            return
        # Extension: the server's request hook decides first, on a thread of its own
        # (request_handler); the handshake may wait for it as long as its deadline.
        self._open_timer.cancel()
        self._open_timer = self.conn.loop.call_later(
            OPEN_TIMEOUT + hook.timeout, self._handshake_overdue
        )
        hook.ask(self, request, proceed)

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

    def keepalive(self, conn: Connection, kind: str, direction: str, rtt: float | None) -> None:
        if rtt is not None:
            self.ping_round_trip = rtt
        if self.opened:
            self.server._observe(self, Record(time.time(), kind, direction, data=rtt))

    def closing(self, conn: Connection) -> None:
        if conn.slow_peer and self.server._observers:
            close = conn.protocol.close_sent
            if close is not None:
                record = Record(time.time(), "closing", ">", code=close.code, reason=close.reason)
                self.server._observe(self, record)

    def refuse(self) -> None:
        """Device: end the connection during the handshake, with no response."""
        self._open_timer.cancel()
        transport = self.conn.transport
        if transport is not None:
            transport.close()

    def closed(self, conn: Connection, exc: BaseException | None) -> None:
        self._open_timer.cancel()
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        self.server._lost(self, exc)


class WebSocketServer(ServerEventAliases, ContextOwner):
    """A WebSocket server with the OHOS ``@ohos.net.webSocket`` API (API 19).

    Create it with :func:`createWebSocketServer`. One object listens on at most
    one address at a time and can start again once stopped.

    ``profile`` (keyword-only) is this server's, as for a ``WebSocket``.
    """

    def __init__(self, *, profile: str | None = None) -> None:
        # The one place the defaults are read: everything below uses this context.
        self._ctx: Context = resolve_context(profile, runtime=get_runtime())
        self._events = EventEmitter(SERVER_EVENTS, "WebSocketServer", self._ctx)
        self._lane = self._ctx.runtime.lane("WebSocketServer", self._ctx.localize)
        self._lock = threading.Lock()
        self._state = ServerState.STOPPED
        self._clients: dict[WebSocketConnection, ServerClient] = {}
        self._handshaking: set[ServerClient] = set()
        self._server: asyncio.Server | None = None
        self._request_hook: RequestHook | None = None
        self._start_task: asyncio.Future[Any] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self.config: WebSocketServerConfig | None = None
        self.port: int | None = None
        self._observers: list[Callable[[WebSocketConnection | None, Record], None]] = []
        self._device = self._ctx.is_device  # the device's rules hold for this server

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

    def watch(
        self, observer: Callable[[WebSocketConnection | None, Record], None]
    ) -> Callable[[], None]:
        """Extension: call ``observer(connection, record)`` for everything on every client.

        Records as the client's ``watch`` gives them: ``'connect'`` (``data`` the
        request path, ``headers`` the request headers, credentials masked),
        ``'message'`` received (``<``) and sent (``>``, mode replies and ``send``
        alike), ``'ping'``/``'pong'``, ``'closing'`` (``>``), ``'close'`` and
        ``'error'``. It runs on the I/O thread or the sender's thread: it must be
        quick. Returns a function that stops it.
        """
        if not callable(observer):
            raise self._ctx.error(PARAMETER_ERROR, "watch() needs a callable observer")
        self._observers = [*self._observers, observer]
        me = weakref.ref(self)

        def stop() -> None:
            server = me()
            if server is not None:
                server._observers = [o for o in server._observers if o is not observer]

        return stop

    def _observe(self, client: ServerClient, record: Record) -> None:
        for observer in self._observers:
            try:
                observer(client.info, record)
            except Exception as exc:
                report_callback_error(f"observer {observer!r}", exc)

    def __repr__(self) -> str:
        where = f" {self.url}" if self.url else ""
        return f"<WebSocketServer {self._state.name}{where} clients={len(self._clients)}>"

    # -- events --------------------------------------------------------------
    def on(self, type: ServerEvent, callback: _Callback) -> None:
        """Subscribe to ``'connect'``, ``'messageReceive'``, ``'close'`` or ``'error'``.

        Under the ``device`` profile a callback replaces the ones before it, as
        on a device; ``seed`` keeps them all and warns that a device would not.

        Raises:
            BusinessError: 401 for an unknown event or a non-callable callback.
        """
        self._events.subscribe(type, callback, "subscribe one callback per event")

    def off(self, type: ServerEvent, callback: _Callback | None = None) -> None:
        """Unsubscribe ``callback`` from ``type``, or every callback if omitted."""
        self._events.off(type, callback)

    def setRequestHandler(
        self, handler: RequestHandler | None, timeout: float = DEFAULT_HANDLER_TIMEOUT
    ) -> None:
        """Extension: have ``handler(request)`` accept or refuse each opening handshake.

        It gets a :class:`~ohws_jupyter.server.request_handler.HandshakeRequest`
        (path, query, headers, origin, offered protocols, client address) and
        returns ``None`` to accept, or an HTTP status (``403``) or
        ``(status, text)`` to refuse. It runs on a thread of its own, never the
        network thread; past ``timeout`` seconds (default 5, at most 60) the
        client gets 503 and the log names the handler. An answer that is not
        valid HTTP refuses with 500. ``None`` removes it.

        Raises:
            BusinessError: 401 if ``handler`` is neither callable nor None, or
                ``timeout`` is out of range.
        """
        if handler is None:
            self._request_hook = None
            return
        try:
            self._request_hook = RequestHook(handler, timeout)
        except ValueError as exc:
            raise self._ctx.error(PARAMETER_ERROR, f"setRequestHandler() {exc}") from None

    def _emit(self, event: str, args: tuple[Any, ...]) -> None:
        if self._events.has(event):
            self._lane.call(self._events.emit, event, args)

    # -- operations ---------------------------------------------------------
    # Each operation has two forms: without a callback it returns a Promise, with one
    # it returns None. The overloads tell a type checker which is which.
    @overload
    def start(self, config: _Config | None = None, /) -> Promise[bool]: ...
    @overload
    def start(self, callback: _Callback, /) -> None: ...
    @overload
    def start(self, config: _Config | None, callback: _Callback, /) -> None: ...
    def start(self, *args: Any) -> Promise[bool] | None:
        """Listen for clients: ``start([config][, callback])``.

        Returns:
            Without a callback, a promise of ``True`` once listening; with one, ``None``.
        """
        config, callback, promise = split_args("start", args)
        if promise is None:
            promise = Promise("start", self._lane)
            device = self._device
            try:
                if device:
                    cfg = device_server_config(config)
                else:
                    cfg = check_server_config(config)
                    warn_limits(config, cfg)
                tls = _tls_context(cfg.serverCert) if cfg.serverCert is not None else None
            except BusinessError as err:
                promise.reject(err)
            else:
                with self._lock:
                    state = self._state
                    if state is ServerState.STOPPED:
                        self._state = ServerState.STARTING
                if state is not ServerState.STOPPED:
                    # A device creates a second listener, which fails on the port
                    # its first one holds (ExecServerStart).
                    promise.reject(
                        BusinessError(
                            PORT_IN_USE if device else UNKNOWN_ERROR,
                            f"this server is {state.name}; stop() it first, or create "
                            "another with createWebSocketServer()",
                        )
                    )
                else:
                    self._ctx.runtime.call_soon(self._begin, cfg, tls, promise)
        return finish(promise, callback, self._ctx.localize)

    @overload
    def stop(self) -> Promise[bool]: ...
    @overload
    def stop(self, callback: _Callback) -> None: ...
    def stop(self, callback: Any = None) -> Promise[bool] | None:
        """Close every client with 1001 and stop listening; ``True`` once all is closed.

        Each client's closing handshake is bounded by the config's ``closeTimeout``
        (10 s by default); then its transport is cut. A server started under the
        ``device`` profile closes them with 1001 "server is going away" and
        resolves once the close frames are queued.
        """
        if callback is not None and not callable(callback):
            return finish(bad_callback("stop", callback), None, self._ctx.localize)
        promise: Promise[bool] = Promise("stop", self._lane)
        with self._lock:
            state = self._state
            if state in (ServerState.RUNNING, ServerState.STARTING):
                self._state = ServerState.STOPPING
        if state in (ServerState.RUNNING, ServerState.STARTING):
            self._ctx.runtime.spawn(self._stop(promise))
        else:
            promise.reject(BusinessError(UNKNOWN_ERROR, f"cannot stop: the server is {state.name}"))
        return finish(promise, callback, self._ctx.localize)

    @overload
    def listAllConnections(self) -> ConnectionList | Promise[list[WebSocketConnection]]: ...
    @overload
    def listAllConnections(self, callback: _Callback) -> None: ...
    def listAllConnections(
        self, callback: Any = None
    ) -> ConnectionList | Promise[list[WebSocketConnection]] | None:
        """The connected clients, oldest first.

        Returns:
            A list (as OHOS returns an array), which may also be awaited; with a
            callback, ``None`` and ``callback(None, list)`` later. Under the
            ``device`` profile (the server's own), a promise of the list, as a
            device returns (rejected with 2302999 unless the server runs).
        """
        if self._device:
            return self._list_promise(callback)
        with self._lock:
            found = ConnectionList(self._clients)
        if callback is None:
            return found
        if not callable(callback):
            finish(bad_callback("listAllConnections", callback), None, self._ctx.localize)
            return None
        finish(Promise.resolved(found, "listAllConnections", self._lane), callback)
        return None

    def _list_promise(self, callback: Any) -> Promise[list[WebSocketConnection]]:
        if callback is not None:
            return Promise.rejected(
                self._ctx.error(
                    PARAMETER_ERROR, "listAllConnections() takes no argument on a device; await it"
                ),
                "listAllConnections",
            )
        with self._lock:
            if self._state is not ServerState.RUNNING:
                return Promise.rejected(
                    self._ctx.error(
                        UNKNOWN_ERROR, f"cannot list connections: the server is {self._state.name}"
                    ),
                    "listAllConnections",
                )
            found = list(self._clients)
        return Promise.resolved(found, "listAllConnections", self._lane)

    @overload
    def send(self, data: _Data, connection: _Connection, /) -> Promise[bool]: ...
    @overload
    def send(self, data: _Data, connection: _Connection, callback: _Callback, /) -> None: ...
    def send(self, data: Any, connection: Any, callback: Any = None) -> Promise[bool] | None:
        """Send a text (``str``) or binary (bytes-like) message to one client.

        Returns:
            Without a callback, a promise of ``True`` once the message is queued in
            order (as the client's ``send``: while more than 4 MiB wait for that
            client, once they drain); with one, ``None``.
        """
        if callback is not None and not callable(callback):
            return finish(bad_callback("send", callback), None, self._ctx.localize)
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

    def broadcast(self, data: _Data) -> int:
        """Extension: send one message to every connected client; returns how many.

        A client that does not keep up is cut off (1008) instead of slowing the others.

        Raises:
            BusinessError: 401 for data that is neither ``str`` nor bytes-like.
        """
        try:
            payload, is_text = check_data(data, self._send_limit())
        except BusinessError as err:
            raise self._ctx.localize(err) from None
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

    @overload
    def close(
        self, connection: _Connection, options: _CloseOptions | None = None, /
    ) -> Promise[bool]: ...
    @overload
    def close(self, connection: _Connection, callback: _Callback, /) -> None: ...
    @overload
    def close(
        self, connection: _Connection, options: _CloseOptions | None, callback: _Callback, /
    ) -> None: ...
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
                if self._device:
                    code, reason = _device.server_close_values(options)
                else:
                    opts = check_close_options(options)
                    code, reason = opts.code, opts.reason
            except BusinessError as err:
                promise.reject(err)
            else:
                if not self._device:
                    # Outside the try: a filter may raise them.
                    warn_server_close(options)
                    self._ctx.warn_close(code, reason)
                self._ctx.runtime.call_soon(self._request_close, info, code, reason, promise)
        return finish(promise, callback, self._ctx.localize)

    # -- the life of the server (I/O thread) ------------------------------------
    def _begin(
        self, cfg: WebSocketServerConfig, tls: ssl.SSLContext | None, promise: Promise[bool]
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
            if self._device:
                # A device reports every failure to create its listener with 2302007.
                err = BusinessError(
                    PORT_IN_USE, f"cannot listen on {cfg.serverIP}:{cfg.serverPort}: {exc}"
                )
                err.__cause__ = exc
                promise.reject(err)
            else:
                promise.reject(bind_error(exc, cfg))
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
            stop_close = _device.STOP_CLOSE if self._device else STOP_CLOSE
            for client in clients:
                client.close_requested = True
                client.close_asked = stop_close
                client.conn.close(*stop_close)
            if self._device:
                promise.resolve(True)  # a device settles once the closes are queued
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
        refusal = None if self._device else self._refusal(info)
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
        if self._observers:
            self._observe(
                client,
                Record(
                    time.time(), "connect", "=", data=client.path, headers=client.request_headers
                ),
            )
        self._emit("connect", (info,))
        cfg = self.config
        assert cfg is not None
        interval: float
        timeout: float
        if self._device:
            # libwebsockets' default: a ping 40 s after opening, dropped at 50 s
            # without a pong (no close frame: the device reports a lost link).
            interval, timeout = _device.SERVER_PING_AFTER, _device.SERVER_PONG_WAIT
        else:
            interval, timeout = PING_INTERVAL, PING_TIMEOUT
        client.conn.start_keepalive(
            interval if cfg.pingInterval is None else cfg.pingInterval,
            timeout if cfg.pongTimeout is None else cfg.pongTimeout,
            fail_with_close=not self._device,
            zero_timeout_hangs_up=self._device,
        )

    def _device_gate(self, client: ServerClient, request: Request) -> bool:
        """Device: whether a handshaking client may go on; a refused one is cut off.

        As on a device: a client offering subprotocols, none of them the
        server's own, is dropped without a word; one over a limit, or from an
        address that opened too many connections, is dropped with an ``'error'``
        200 (the client never opens).
        """
        info = client.info
        assert info is not None
        offered = [
            p.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
            if p.strip()
        ]
        if offered and _device.DEVICE_SUBPROTOCOL not in offered:
            logger.info("= refused %s:%s: no supported subprotocol in %s", *astuple(info), offered)
            client.refuse()
            return False
        cfg = self.config
        assert cfg is not None
        if self._state is not ServerState.RUNNING:
            why: str | None = "the server is stopping"
        else:
            with self._lock:
                addresses = [c.clientIP for c in self._clients]
            why = _device.over_limits(
                addresses,
                info.clientIP,
                cfg.maxConcurrentClientsNumber,
                cfg.maxConnectionsForOneClient,
            ) or _device.GUARD.allow(info.clientIP)
        if why is None:
            return True
        logger.info("= refused %s:%s: %s", info.clientIP, info.clientPort, why)
        client.refuse()
        # A device's server error carries the code alone (CreateServerError).
        self._emit(
            "error", (BusinessError.code_only(CONNECTION_ERROR, f"refused a client: {why}"),)
        )
        return False

    def _received(self, client: ServerClient, messages: list[Any], size: int) -> None:
        info = client.info
        if info is None or info not in self._clients:
            client.conn.consumed_some(len(messages), size)
            return
        if self._observers:
            now = time.time()
            for message in messages:
                self._observe(client, Record(now, "message", "<", data=message, pieces=1))
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
        assert info is not None  # messages come only once the handshake is done
        emit = self._events.emit
        for message in messages:
            emit("messageReceive", (WebSocketMessage(message, info),))
        client.conn.consumed_some(len(messages), size)

    def _lost(self, client: ServerClient, exc: BaseException | None) -> None:
        self._handshaking.discard(client)
        info = client.info
        with self._lock:
            known = False
            if info is not None and self._clients.get(info) is client:
                del self._clients[info]
                known = True
        if known:
            assert info is not None
            conn = client.conn
            if self._device:
                result, err = device_end(client, info, exc)
            else:
                result = close_result_of(conn.protocol)
                err = None if client.dropped else failure_error(conn, info, exc)
            logger.info(
                "= close %s:%s %s %s", info.clientIP, info.clientPort, result.code, result.reason
            )
            if err is not None:
                self._ctx.localize(err)  # worded once, for the observers and 'error' alike
                logger.info("= error %s:%s %s", info.clientIP, info.clientPort, err.message)
                if self._observers:
                    self._observe(client, Record(time.time(), "error", "=", error=err))
                self._emit("error", (err,))
            if self._observers:
                self._observe(
                    client,
                    Record(time.time(), "close", "=", code=result.code, reason=result.reason),
                )
            if self._device:  # a device names the reason closeReason
                self._emit("close", (info, ServerCloseResult(result.code, result.reason)))
            else:
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
            code = SEND_FAILED if self._device else UNKNOWN_ERROR
            promise.reject(BusinessError(code, "cannot send: the connection is closing"))
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
        if self._device:
            # A device settles once the close frame is queued, and refuses a second close.
            if client.close_asked is not None or client.conn.state is not OPEN:
                promise.reject(
                    BusinessError(UNKNOWN_ERROR, "cannot close: the connection is already closing")
                )
                return
            client.close_requested = True
            client.close_asked = (code, reason)
            client.conn.close(code, reason)
            promise.resolve(True)
            return
        client.close_waiters.append(promise)
        client.close_requested = True
        if client.conn.close(code, reason) and self._observers:
            self._observe(client, Record(time.time(), "closing", ">", code=code, reason=reason))


def _device_subprotocol(protocol: Any, offered: Any) -> Any:
    # A client offering nothing gets the default protocol, unnamed in the answer.
    return _device.DEVICE_SUBPROTOCOL if _device.DEVICE_SUBPROTOCOL in offered else None


def _send_to(client: ServerClient, payload: bytes, is_text: bool, promise: Promise[bool]) -> None:
    try:
        wait = client.conn.send(payload, is_text)
    except Exception:
        code = SEND_FAILED if client.device else UNKNOWN_ERROR
        promise.reject(BusinessError(code, "cannot send: the connection is closing"))
        return
    client.messages_out += 1
    if client.server._observers:
        data = payload.decode() if is_text else payload
        client.server._observe(client, Record(time.time(), "message", ">", data=data, pieces=1))
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


def createWebSocketServer(*, profile: str | None = None) -> WebSocketServer:
    """Create a WebSocket server object (OHOS ``webSocket.createWebSocketServer()``).

    ``profile='device'`` (keyword-only; an extension, not OHOS) gives this server
    alone that profile, as ``createWebSocket(profile=...)`` does a client; a
    bad name is a 401.
    """
    return WebSocketServer(profile=profile)


create_websocket_server = createWebSocketServer
