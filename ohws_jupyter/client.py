"""The OHOS ``WebSocket`` client over the ``websockets`` library.

:func:`createWebSocket` returns a :class:`WebSocket`; its ``connect``, ``send``
and ``close`` return a :class:`~ohws_jupyter.promise.Promise`, or take a
trailing ``callback(err, value)`` instead. Every failure, bad arguments
included, arrives through the promise or the callback as a
:class:`~ohws_jupyter.errors.BusinessError`; only ``on``/``off`` raise.

Threads: the caller's thread validates arguments and hands work to the
runtime's I/O loop, where :mod:`ohws_jupyter.session` runs one session per
connection attempt; events go to the callback thread, in order. The core
modules (errors, options, events) import neither ``websockets`` nor Jupyter.
"""

from __future__ import annotations

import ssl
import threading
import weakref
from collections.abc import Callable
from typing import Any

from .errors import (
    CONNECTION_EXISTS,
    PARAMETER_ERROR,
    BusinessError,
)
from .events import EventEmitter, Record, report_callback_error
from .options import (
    WebSocketRequestOptions,
    check_close_options,
    check_data,
    check_request_options,
    check_url,
    mask_url,
)
from .promise import Promise
from .runtime import get_runtime
from .session import ReadyState, Stats, _not_open, _Session, split_message

__all__ = ["ReadyState", "WebSocket", "createWebSocket", "create_websocket", "split_message"]


#: Event name -> length of the OHOS argument list.
CLIENT_EVENTS = {
    "open": 2,
    "message": 2,
    "close": 2,
    "error": 1,
    "dataEnd": 0,
    "headerReceive": 1,
}


# Marks an argument the caller left out: a missing one is a 401, never a TypeError.
_MISSING: Any = object()


class WebSocket:
    """A WebSocket client with the OHOS ``@ohos.net.webSocket`` API.

    Create it with :func:`createWebSocket`. One object holds at most one
    connection at a time and can connect again once closed.
    """

    def __init__(self) -> None:
        self._events = EventEmitter(CLIENT_EVENTS, "WebSocket")
        self._lock = threading.Lock()
        self._state = ReadyState.CLOSED
        self._session: _Session | None = None
        self._observers: list[Callable[[Record], None]] = []
        self.url: str | None = None
        self.options: WebSocketRequestOptions | None = None
        self.stats = Stats()
        self._protocol = ""
        self._extensions = ""
        self._response_headers: dict[str, str] = {}
        self._finalizer: weakref.finalize | None = None

    # -- read-only state -----------------------------------------------------
    @property
    def state(self) -> ReadyState:
        """``CONNECTING``, ``OPEN``, ``CLOSING`` or ``CLOSED``."""
        return self._state

    @property
    def readyState(self) -> int:
        """The state as the browser's number: 0 connecting … 3 closed."""
        return int(self._state)

    @property
    def protocol(self) -> str:
        """The subprotocol the server selected ('' if none)."""
        return self._protocol

    @property
    def extensions(self) -> str:
        """The negotiated extensions, e.g. ``'permessage-deflate'``."""
        return self._extensions

    @property
    def responseHeaders(self) -> dict[str, str]:
        """The handshake response headers of the current or last connection."""
        return dict(self._response_headers)

    def __repr__(self) -> str:
        where = f" {mask_url(self.url)}" if self.url else ""
        proto = f" protocol={self._protocol!r}" if self._protocol else ""
        return f"<WebSocket {self._state.name}{where}{proto}>"

    # -- events --------------------------------------------------------------
    def on(self, type: str, callback: Callable[..., Any]) -> None:
        """Subscribe to ``'open'``, ``'message'``, ``'close'``, ``'error'``, ``'dataEnd'``
        or ``'headerReceive'``.

        Raises:
            BusinessError: 401 for an unknown event or a non-callable callback.
        """
        self._events.on(type, callback)

    def off(self, type: str, callback: Callable[..., Any] | None = None) -> None:
        """Unsubscribe ``callback`` from ``type``, or every callback if omitted."""
        self._events.off(type, callback)

    def once(self, type: str, callback: Callable[..., Any] | None = None) -> Promise[Any] | None:
        """Extension: the next ``type`` event only.

        With a callback, it is called once (adapted like ``on``). Without one,
        returns a promise of the event's value — the message piece, the
        ``CloseResult``, the error — so a notebook can ``await ws.once('message')``.

        Raises:
            BusinessError: 401 for an unknown event or a non-callable callback.
        """
        if callback is not None:
            self._events.once(type, callback)
            return None
        promise: Promise[Any] = Promise(f"once({type!r})")
        promise._needs_callback_thread = True
        self._events.once(type, lambda *args: promise.resolve(args[-1] if args else None))
        return promise

    def watch(self, observer: Callable[[Record], None]) -> Callable[[], None]:
        """Extension: call ``observer(record)`` for everything that happens, sends included.

        Whole messages are reported once, with their piece count. The observer
        runs on the I/O thread, so it must be quick and must not block; it is
        meant for views such as the panel. Returns a function that stops it.
        """
        if not callable(observer):
            raise BusinessError(PARAMETER_ERROR, "watch() needs a callable observer")
        self._observers = [*self._observers, observer]

        def stop() -> None:
            self._observers = [o for o in self._observers if o is not observer]

        return stop

    def _record(self, record: Record) -> None:
        for observer in self._observers:
            try:
                observer(record)
            except Exception as exc:
                report_callback_error(f"observer {observer!r}", exc)

    # -- operations ---------------------------------------------------------
    def connect(self, url: Any = _MISSING, *args: Any) -> Promise[bool] | None:
        """Open a connection: ``connect(url[, options][, callback])``.

        Returns:
            Without a callback, a promise of ``True`` once the handshake completed;
            with one, ``None`` and ``callback(err, True)`` later.
        """
        options, callback, promise = _split_args("connect", args)
        if promise is None and url is _MISSING:
            promise = _missing("connect", "a URL such as 'ws://127.0.0.1:8765'")
        if promise is None:
            promise = Promise("connect")
            promise._needs_callback_thread = True
            try:
                parts = check_url(url)
                opts = check_request_options(options)
                tls = _tls_context(opts) if parts.scheme.lower() == "wss" else None
            except Exception as exc:
                promise.reject(_as_parameter_error(exc))
            else:
                self._start(url, opts, tls, promise)
        return _finish(promise, callback)

    def _start(
        self, url: str, opts: WebSocketRequestOptions, tls: ssl.SSLContext | None, promise: Promise
    ) -> None:
        with self._lock:
            if self._state is not ReadyState.CLOSED:
                promise.reject(
                    BusinessError(
                        CONNECTION_EXISTS,
                        f"this WebSocket is {self._state.name} ({mask_url(self.url)}); "
                        "close it first, or create another with createWebSocket()",
                    )
                )
                return
            self._state = ReadyState.CONNECTING
            self.url, self.options = url, opts
            self._protocol = self._extensions = ""
            self._response_headers = {}
            session = _Session(self, url, opts, tls, promise)
            self._session = session
        self.stats.connects += 1
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(self, session.abandon)
        # An object used as `createWebSocket().connect(url)` must not be collected
        # mid-handshake: the session holds it strongly until the attempt settles.
        session.keep_alive = self
        get_runtime().call_soon(session.begin)

    def send(self, data: Any = _MISSING, callback: Any = None, *extra: Any) -> Promise[bool] | None:
        """Send a text (``str``) or binary (bytes-like) message.

        Returns:
            Without a callback, a promise of ``True`` once the frame was handed to
            the transport; with one, ``None``.
        """
        if extra:
            return _finish(_too_many("send", "data and a callback"), None)
        if callback is not None and not callable(callback):
            return _finish(_bad_callback("send", callback), None)
        if data is _MISSING:
            return _finish(_missing("send", "the data: a str or bytes"), callback)
        promise: Promise[bool] = Promise("send")
        try:
            payload, is_text = check_data(data)
        except Exception as exc:
            promise.reject(_as_parameter_error(exc))
            return _finish(promise, callback)
        session = self._session
        if self._state is not ReadyState.OPEN or session is None:
            promise.reject(_not_open("send", self._state))
        else:
            get_runtime().call_soon(session.enqueue, (payload, is_text, promise))
        return _finish(promise, callback)

    def close(self, *args: Any) -> Promise[bool] | None:
        """Close the connection: ``close([options][, callback])``.

        Messages already passed to ``send`` are sent first. Resolves with ``True``
        once the closing handshake finished (or timed out and the transport closed).
        """
        options, callback, promise = _split_args("close", args)
        if promise is None:
            promise = Promise("close")
            promise._needs_callback_thread = True
            try:
                opts = check_close_options(options)
            except Exception as exc:
                promise.reject(_as_parameter_error(exc))
            else:
                with self._lock:
                    session = self._session
                    state = self._state
                    if state in (ReadyState.OPEN, ReadyState.CONNECTING) and session is not None:
                        self._state = ReadyState.CLOSING
                if state is ReadyState.CLOSED or session is None:
                    promise.reject(_not_open("close", state))
                else:
                    get_runtime().call_soon(session.request_close, opts.code, opts.reason, promise)
        return _finish(promise, callback)

    # -- used by the session, on the I/O thread ---------------------------------
    def _set_state(self, state: ReadyState, session: _Session) -> None:
        with self._lock:
            if self._session is session:
                self._state = state
                if state is ReadyState.CLOSED:
                    self._session = None


def createWebSocket() -> WebSocket:
    """Create a WebSocket client object (OHOS ``webSocket.createWebSocket()``)."""
    return WebSocket()


create_websocket = createWebSocket


def _split_args(op: str, args: tuple[Any, ...]) -> tuple[Any, Any, Promise | None]:
    """Sort ``(options?, callback?)``; a malformed call gives a rejected promise."""
    if len(args) > 2:
        return (
            None,
            None,
            Promise.rejected(
                BusinessError(PARAMETER_ERROR, f"{op}() takes at most options and a callback"), op
            ),
        )
    options, callback = None, None
    if len(args) == 2:
        options, callback = args
        if callback is not None and not callable(callback):
            return None, None, _bad_callback(op, callback)
    elif len(args) == 1:
        if callable(args[0]) and not isinstance(args[0], type):
            callback = args[0]
        else:
            options = args[0]
    return options, callback, None


def _missing(op: str, what: str) -> Promise[Any]:
    return Promise.rejected(BusinessError(PARAMETER_ERROR, f"{op}() needs {what}"), op)


def _too_many(op: str, what: str) -> Promise[Any]:
    return Promise.rejected(BusinessError(PARAMETER_ERROR, f"{op}() takes at most {what}"), op)


def _as_parameter_error(exc: BaseException) -> BusinessError:
    """A validation failure as a ``BusinessError``; anything unforeseen becomes a 401."""
    if isinstance(exc, BusinessError):
        return exc
    err = BusinessError(PARAMETER_ERROR, f"invalid argument ({type(exc).__name__}: {exc})")
    err.__cause__ = exc
    return err


def _bad_callback(op: str, callback: Any) -> Promise[Any]:
    return Promise.rejected(
        BusinessError(
            PARAMETER_ERROR, f"{op}() callback must be callable, not {type(callback).__name__}"
        ),
        op,
    )


def _finish(promise: Promise[Any], callback: Callable[..., Any] | None) -> Promise[Any] | None:
    if callback is None:
        return promise
    promise.add_callback(callback)
    return None


def _tls_context(opts: WebSocketRequestOptions) -> ssl.SSLContext:
    """The TLS settings of ``wss://``: verified unless explicitly skipped."""
    import os

    try:
        if opts.caPath and os.path.isdir(opts.caPath):
            ctx = ssl.create_default_context(capath=opts.caPath)
        else:
            ctx = ssl.create_default_context(cafile=opts.caPath)
        if opts.clientCert is not None:
            cert = opts.clientCert
            ctx.load_cert_chain(cert.certPath, cert.keyPath, cert.keyPassword)
    except (ssl.SSLError, OSError) as exc:
        raise BusinessError(
            PARAMETER_ERROR, f"cannot load the TLS files: {exc}; check caPath and clientCert"
        ) from exc
    if opts.skipServerCertVerification:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
