"""The OHOS ``WebSocket`` client over the ``websockets`` library.

:func:`createWebSocket` returns a :class:`WebSocket`; its ``connect``, ``send``
and ``close`` return a :class:`~ohws_jupyter.engine.promise.Promise`, or take a
trailing ``callback(err, value)`` instead. Every failure, bad arguments
included, arrives through the promise or the callback as a
:class:`~ohws_jupyter.core.errors.BusinessError`; only ``on``/``off`` raise.

Threads: the caller's thread validates arguments and builds the frames it
sends; the runtime's I/O loop runs one :mod:`ohws_jupyter.client.session` per
connection attempt over the engine (:mod:`ohws_jupyter.engine`); events and
callbacks run on this object's own lane, in order, never held up by another
object's callbacks. The core modules (errors, options, events) import neither
``websockets`` nor Jupyter.
"""

from __future__ import annotations

import ssl
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeAlias, overload

from ..core import device as _device
from ..core.aliases import ClientEventAliases
from ..core.checks import MAX_SEND_SIZE, check_data
from ..core.context import Context, ContextOwner, resolve_context
from ..core.errors import CONNECTION_EXISTS, PARAMETER_ERROR, SEND_FAILED, BusinessError
from ..core.events import EventEmitter, Record
from ..core.masking import mask_url
from ..core.options import (
    WebSocketCloseOptions,
    WebSocketCloseOptionsDict,
    WebSocketRequestOptions,
    WebSocketRequestOptionsDict,
    check_close_options,
    check_request_options,
)
from ..engine.calls import (
    MISSING,
    as_parameter_error,
    bad_callback,
    finish,
    missing,
    split_args,
    too_many,
)
from ..engine.promise import Promise, deliver_result
from ..engine.runtime import get_runtime
from ..record.expect import Match
from ..record.expect import expect as _expect
from ..record.expect import request as _request
from ..record.transcript import Transcript, note_close
from ..record.transcript import transcript as _transcript
from . import reconnect as _reconnect
from .dial import tls_context, warn_unportable
from .history import HISTORY_BYTES, HISTORY_LIMIT, History
from .session import ClientSession
from .state import ReadyState, Stats, not_open_error, not_open_hint, split_message

__all__ = [
    "HISTORY_BYTES",
    "HISTORY_LIMIT",
    "ClientEvent",
    "ReadyState",
    "SessionLink",
    "WebSocket",
    "createWebSocket",
    "create_websocket",
    "split_message",
    "use_session_factory",
]

# What the call forms take, for type checkers: an options object or a dict of its
# fields, and a callback ``callback(err, value)`` (or fewer parameters).
_RequestOptions: TypeAlias = WebSocketRequestOptions | WebSocketRequestOptionsDict
_CloseOptions: TypeAlias = WebSocketCloseOptions | WebSocketCloseOptionsDict
_Callback: TypeAlias = Callable[..., object]
_Data: TypeAlias = str | bytes | bytearray | memoryview

# What connect() opens a session with: sockets here, the page's WebSocket in a browser.
_session_factory: Callable[..., ClientSession] = ClientSession


def use_session_factory(factory: Callable[..., Any]) -> None:
    """Make the ``connect`` of WebSockets created afterwards open their sessions with ``factory``.

    ``factory(link, url, options, tls, promise, lane)`` (``link`` a
    :class:`SessionLink`) returns an object with
    the session's methods (:class:`~ohws_jupyter.client.session.ClientSession`
    is the default); the browser transport installs its own under Pyodide.
    """
    global _session_factory
    _session_factory = factory


#: Event name -> length of the OHOS argument list.
CLIENT_EVENTS = {
    "open": 2,
    "message": 2,
    "close": 2,
    "error": 1,
    "dataEnd": 0,
    "headerReceive": 1,
    "openInfo": 2,
    "reconnecting": 1,
}
#: The event names ``on``, ``off`` and ``once`` take (the keys of ``CLIENT_EVENTS``).
ClientEvent: TypeAlias = Literal[
    "open", "message", "close", "error", "dataEnd", "headerReceive", "openInfo", "reconnecting"
]


class WebSocket(ClientEventAliases, ContextOwner):
    """A WebSocket client with the OHOS ``@ohos.net.webSocket`` API.

    Create it with :func:`createWebSocket`. One object holds at most one
    connection at a time and can connect again once closed.

    Args:
        profile: ``'seed'`` or ``'device'`` for this object; the default
            profile (``set_profile``) if omitted.

    Raises:
        BusinessError: 401 for another profile name.
    """

    def __init__(self, *, profile: str | None = None) -> None:
        # The one place the defaults are read: everything below uses this context.
        self._ctx: Context = resolve_context(
            profile, runtime=get_runtime(), session_factory=_session_factory
        )
        self.events = EventEmitter(CLIENT_EVENTS, "WebSocket", self._ctx)
        self._lane = self._ctx.runtime.lane("WebSocket", self._ctx.localize)
        self._lock = threading.Lock()
        self._state = ReadyState.CLOSED
        self._session: ClientSession | None = None
        # What happened, for history() and watch(); sends enter it in batches.
        self._history = History()
        # The promise of every send queued at once: one settled promise for all.
        self._queued = Promise.resolved(True, "send", self._lane)
        self.url: str | None = None
        self.options: WebSocketRequestOptions | None = None
        self.stats = Stats()
        self._protocol = ""
        self._extensions = ""
        self._response_headers: dict[str, str] = {}
        self._request_headers: dict[str, str] = {}
        self._finalizer: weakref.finalize[[], WebSocket] | None = None

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
    def requestHeaders(self) -> dict[str, str]:
        """Extension: every header of the last handshake request as sent, the
        library's own (Host, Upgrade, Sec-WebSocket-Key, ...) included; credentials masked."""
        return dict(self._request_headers)

    @property
    def responseHeaders(self) -> dict[str, str]:
        """The handshake response headers of the current or last connection."""
        return dict(self._response_headers)

    def __repr__(self) -> str:
        where = f" {mask_url(self.url)}" if self.url else ""
        proto = f" protocol={self._protocol!r}" if self._protocol else ""
        return f"<WebSocket {self._state.name}{where}{proto}>"

    # -- events --------------------------------------------------------------
    def on(self, type: ClientEvent, callback: _Callback) -> None:
        """Subscribe to ``'open'``, ``'message'``, ``'close'``, ``'error'``, ``'dataEnd'``
        or ``'headerReceive'``.

        Under the ``device`` profile a callback replaces the ones before it, as
        on a device; ``seed`` keeps them all and warns that a device would not.

        Raises:
            BusinessError: 401 for an unknown event or a non-callable callback.
        """
        self.events.subscribe(
            type, callback, "subscribe one callback per event that calls the others"
        )

    def off(self, type: ClientEvent, callback: _Callback | None = None) -> None:
        """Unsubscribe ``callback`` from ``type``, or every callback if omitted."""
        self.events.off(type, callback)

    @overload
    def once(self, type: ClientEvent) -> Promise[Any]: ...
    @overload
    def once(self, type: ClientEvent, callback: _Callback) -> None: ...
    def once(self, type: ClientEvent, callback: _Callback | None = None) -> Promise[Any] | None:
        """Extension: the next ``type`` event only.

        With a callback, it is called once (adapted like ``on``). Without one,
        returns a promise of the event's value — the message piece, the
        ``CloseResult``, the error — so a notebook can ``await ws.once('message')``.

        Raises:
            BusinessError: 401 for an unknown event or a non-callable callback.
        """
        if callback is not None:
            self.events.once(type, callback)
            return None
        promise: Promise[Any] = Promise(f"once({type!r})", self._lane)
        promise._needs_callback_thread = True
        self.events.once(type, lambda *args: promise.resolve(args[-1] if args else None))
        return promise

    def watch(
        self, observer: Callable[[Record], None], *, replay: bool = False
    ) -> Callable[[], None]:
        """Extension: call ``observer(record)`` for everything that happens, sends included.

        Whole messages are reported once, with their piece count. Sent
        messages are reported in send order once written (the batch of one
        write timed once), or earlier if something else is recorded or
        ``history()`` is read first; the order of the history is the order
        the observer sees. The observer runs on the I/O thread, or on the
        thread that recorded or read something, so it must be quick and must
        not block; it is meant for views such as the panel. With
        ``replay=True`` it first gets the kept history (see :meth:`history`).
        Returns a function that stops it.
        """
        if not callable(observer):
            raise self._ctx.error(PARAMETER_ERROR, "watch() needs a callable observer")
        # The stop function holds the History, never the WebSocket.
        return self._history.watch(observer, replay)

    def history(self) -> list[Record]:
        """Extension: what happened on this object, oldest first, as ``Record``s.

        Every connect, open, sent and received message, closing, close and error
        since the object was created, up to the last HISTORY_LIMIT entries and
        HISTORY_BYTES of message data. Received messages carry their piece count.
        """
        return self._history.records()

    # -- record, replay, assert (extensions) -----------------------------------------
    def transcript(self) -> Transcript:
        """Extension: everything kept in :meth:`history` as a ``Transcript`` (export, load)."""
        return _transcript(self)

    def expect(self, match: Match, timeout: float = 10.0) -> Promise[Any]:
        """Extension: a promise of the first received whole message that matches.

        ``match`` is a callable, a compiled regular expression, an exact ``str``
        or ``bytes``, or a dict that must be a subset of the message's JSON.
        Rejects after ``timeout`` seconds with "expected …, last received …".
        """
        return _expect(self, match, timeout)

    def request(
        self,
        data: str | bytes | Mapping[str, Any] | list[Any],
        match: Match = "id",
        timeout: float = 10.0,
    ) -> Promise[Any]:
        """Extension: send ``data`` and return a promise of its reply.

        ``match`` is a JSON key (the reply carrying the same value, ``'id'`` by
        default) or a callable; the pair and its round trip go into the transcript.
        """
        return _request(self, data, match, timeout)

    def _emit_reconnecting(self, value: dict[str, Any]) -> None:
        if self.events.has("reconnecting"):
            self._lane.call(self.events.emit, "reconnecting", (value,))

    # -- reports from the session (I/O thread, or the sender's thread) ----------------
    def _session_opened(
        self, session: ClientSession, *, protocol: str, extensions: str, headers: dict[str, str]
    ) -> None:
        """The session's handshake completed."""
        with self._lock:
            if self._session is session:
                self._protocol, self._extensions = protocol, extensions
                self._response_headers = headers

    def _session_request(self, session: ClientSession, headers: dict[str, str]) -> None:
        """The session's handshake request is about to go out with ``headers`` (masked)."""
        with self._lock:
            if self._session is session:
                self._request_headers = headers

    def _session_state(self, session: ClientSession, state: ReadyState) -> None:
        """The session's connection moved to ``state``."""
        with self._lock:
            if self._session is session:
                self._state = state
                if state is ReadyState.CLOSED:
                    self._session = None

    # -- operations ---------------------------------------------------------
    # Each operation has two forms: without a callback it returns a Promise, with one
    # it returns None. The overloads tell a type checker which is which.
    @overload
    def connect(self, url: str, options: _RequestOptions | None = None, /) -> Promise[bool]: ...
    @overload
    def connect(self, url: str, callback: _Callback, /) -> None: ...
    @overload
    def connect(
        self, url: str, options: _RequestOptions | None, callback: _Callback, /
    ) -> None: ...
    def connect(self, url: Any = MISSING, *args: Any) -> Promise[bool] | None:
        """Open a connection: ``connect(url[, options][, callback])``.

        Returns:
            Without a callback, a promise of ``True`` once the handshake completed;
            with one, ``None`` and ``callback(err, True)`` later.
        """
        options, callback, promise = split_args("connect", args)
        if promise is None and url is MISSING:
            promise = missing("connect", "a URL such as 'ws://127.0.0.1:8765'")
        if promise is None:
            promise = Promise("connect", self._lane)
            try:
                parts = self._ctx.check_url(url)
                if self._ctx.is_device:
                    opts = _device.request_options(options)
                    secure = parts.scheme.lower() == "wss"
                    tls = _device.strict_tls_context(opts) if secure else None
                else:
                    opts = check_request_options(options)
                    tls = tls_context(opts) if parts.scheme.lower() == "wss" else None
            except Exception as exc:
                promise.reject(as_parameter_error(exc))
            else:
                if not self._ctx.is_device:
                    warn_unportable(opts, url, self.events.has)
                self._start(url, opts, tls, promise)
        return finish(promise, callback, self._ctx.localize)

    def _start(
        self,
        url: str,
        opts: WebSocketRequestOptions,
        tls: ssl.SSLContext | None,
        promise: Promise[bool],
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
            factory = self._ctx.session_factory
            assert factory is not None  # a client's context always has one (see __init__)
            session = factory(SessionLink(self), url, opts, tls, promise, self._lane)
            self._session = session
        _reconnect.attach(self, opts, self._emit_reconnecting)
        self.stats.connects += 1
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(self, session.abandon)
        # An object used as `createWebSocket().connect(url)` must not be collected
        # mid-handshake: the session holds it strongly until the attempt settles.
        session.keep_alive = self
        self._ctx.runtime.call_soon(session.begin)

    @overload
    def send(self, data: _Data, /) -> Promise[bool]: ...
    @overload
    def send(self, data: _Data, callback: _Callback, /) -> None: ...
    def send(self, data: Any = MISSING, callback: Any = None, *extra: Any) -> Promise[bool] | None:
        """Send a text (``str``) or binary (bytes-like) message.

        The frame is built (and compressed) on the calling thread and queued in
        order behind earlier sends. Called from a thread that may block (not
        the I/O thread, not a callback) while more than 4 MiB wait to be
        written, it first waits, as on a blocking socket, until that backlog
        is below 1 MiB (at most 30 s, then the send is refused), so a plain
        ``for x in data: ws.send(x)`` keeps memory bounded.

        Returns:
            Without a callback, a promise of ``True`` once the message is queued
            in order for the connection — at once, unless the peer is not keeping
            up (more than 4 MiB wait to be written): then once that backlog drains
            below 1 MiB, so awaiting each send paces the sender. With a callback,
            ``None``.
        """
        errors = self._ctx.localize
        if extra:
            return finish(too_many("send", "data and a callback"), None, errors)
        if callback is not None and not callable(callback):
            return finish(bad_callback("send", callback), None, errors)
        if data is MISSING:
            return finish(missing("send", "the data: a str or bytes"), callback, errors)
        opts = self.options
        try:
            payload, is_text = check_data(data, opts.maxSendSize if opts else MAX_SEND_SIZE)
        except Exception as exc:
            outcome: BusinessError | bool = as_parameter_error(exc)
        else:
            session = self._session
            state = self._state
            if state is ReadyState.OPEN and session is not None:
                outcome = session.send(payload, is_text)
            elif self._ctx.is_device:
                if state is ReadyState.CONNECTING and session is not None:
                    outcome = session.send_early(payload, is_text)  # queued, as on a device
                else:
                    outcome = BusinessError(SEND_FAILED, not_open_hint("send", state))
            else:
                if state is ReadyState.CONNECTING:
                    self._ctx.portability_warning(
                        "send-connecting",
                        "send() before 'open' fails here; a device queues it and sends it "
                        "once the connection opens; send from the 'open' callback (or "
                        "after await connect()) to behave the same on both",
                    )
                outcome = not_open_error("send", state)
        if outcome is False:
            # Queued at once, the usual case: every such send shares one settled
            # promise, and the callback form gets none.
            if callback is None:
                return self._queued
            deliver_result(self._lane, callback, None, True, "callback of send")
            return None
        promise: Promise[bool] = Promise("send", self._lane)
        if outcome is True:
            assert session is not None  # True comes only from the session's own send
            session.when_drained(promise)
        else:
            promise.reject(outcome)
        return finish(promise, callback, errors)

    @overload
    def close(self, options: _CloseOptions | None = None, /) -> Promise[bool]: ...
    @overload
    def close(self, callback: _Callback, /) -> None: ...
    @overload
    def close(self, options: _CloseOptions | None, callback: _Callback, /) -> None: ...
    def close(self, *args: Any) -> Promise[bool] | None:
        """Close the connection: ``close([options][, callback])``.

        Messages already passed to ``send`` are sent first. Resolves with ``True``
        once the connection has ended: the closing handshake finished, or
        ``closeTimeout`` passed and the transport was cut. It does not wait for
        callbacks still queued; ``'close'`` is delivered after them.

        Under the ``device`` profile it resolves as soon as the close frame is
        queued, a code outside 1000–1015 becomes 1000 and an empty reason
        ``"CLOSE_NORMAL"``, as on a device.
        """
        options, callback, promise = split_args("close", args)
        if promise is None:
            promise = Promise("close", self._lane)
            device = self._ctx.is_device
            try:
                if device:
                    code, reason = _device.close_values(options)
                else:
                    opts = check_close_options(options)
                    code, reason = opts.code, opts.reason
            except Exception as exc:
                promise.reject(as_parameter_error(exc))
            else:
                if not device:
                    self._ctx.warn_close(code, reason)  # outside the try: a filter may raise it
                _reconnect.cancel(self)  # the user asked for this close
                note_close(self)  # ... which its transcript tells from the peer's
                with self._lock:
                    session = self._session
                    state = self._state
                    if state in (ReadyState.OPEN, ReadyState.CONNECTING) and session is not None:
                        self._state = ReadyState.CLOSING
                # A device refuses a second close: its connection is already marked closed.
                if (
                    state is ReadyState.CLOSED
                    or session is None
                    or (device and state is ReadyState.CLOSING)
                ):
                    promise.reject(not_open_error("close", state))
                else:
                    self._ctx.runtime.call_soon(session.request_close, code, reason, promise)
        return finish(promise, callback, self._ctx.localize)


class SessionLink:
    """What a session reports to its ``WebSocket``: the seam between the two.

    A session (:mod:`~ohws_jupyter.client.session`, or the browser's) holds
    this link, and the link holds its WebSocket weakly: a WebSocket nobody holds
    can be collected, and its finalizer then closes the session (1001). Every
    report is dropped once the WebSocket is gone.
    """

    __slots__ = ("_ws", "context", "outbox", "stats")

    def __init__(self, ws: WebSocket) -> None:
        self._ws = weakref.ref(ws)
        #: The WebSocket's context: the session's profile, texts and runtime.
        self.context: Context = ws.context
        #: The WebSocket's counters, which the session keeps up to date.
        self.stats = ws.stats
        #: Where the session appends ``(payload, is_text)`` for each message it
        #: queues, in wire order; :meth:`flushed` moves them into the history.
        self.outbox = ws._history.outbox

    def events(self) -> EventEmitter | None:
        """The WebSocket's subscriptions, or None once it is gone."""
        ws = self._ws()
        return ws.events if ws is not None else None

    def record(self, record: Record) -> None:
        """A state change or an error for the history and the observers."""
        ws = self._ws()
        if ws is not None:
            ws._history.record(record)

    def state(self, session: Any, state: ReadyState) -> None:
        """The session's connection moved to ``state``."""
        ws = self._ws()
        if ws is not None:
            ws._session_state(session, state)

    def request(self, session: Any, headers: dict[str, str]) -> None:
        """The opening request goes out with ``headers`` (masked)."""
        ws = self._ws()
        if ws is not None:
            ws._session_request(session, headers)

    def opened(
        self, session: Any, *, protocol: str, extensions: str, headers: dict[str, str]
    ) -> None:
        """The opening handshake completed with this subprotocol, extensions and headers."""
        ws = self._ws()
        if ws is not None:
            ws._session_opened(session, protocol=protocol, extensions=extensions, headers=headers)

    def received(self, messages: list[Any], whole: bool) -> None:
        """Whole messages arrived (one read's worth)."""
        ws = self._ws()
        if ws is not None:
            ws._history.messages_in(messages, whole)

    def sent(self, data: Any) -> None:
        """One message was queued to be sent (a transport without an outbox)."""
        ws = self._ws()
        if ws is not None:
            ws._history.message_out(data)

    def flushed(self) -> None:
        """Messages appended to :attr:`outbox` went out (I/O thread)."""
        ws = self._ws()
        if ws is not None:
            ws._history.flushed()


def createWebSocket(*, profile: str | None = None) -> WebSocket:
    """Create a WebSocket client object (OHOS ``webSocket.createWebSocket()``).

    Args:
        profile: Extension, not OHOS: ``'seed'`` or ``'device'`` for this
            object alone; the default profile (``set_profile``) if omitted.

    Raises:
        BusinessError: 401 for another profile name.
    """
    return WebSocket(profile=profile)


create_websocket = createWebSocket
