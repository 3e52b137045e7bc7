"""The client in a browser (Pyodide): connections over the page's own ``WebSocket``.

A page has no sockets, so under Pyodide ``createWebSocket().connect(url)``
rides the browser's ``WebSocket`` (reached through ``pyodide.ffi``) — unless a
server of the same page listens on ``url``: then the connection goes through
the page's in-memory network (:mod:`ohws_jupyter.engine.inpage`) and the ordinary
engine on both ends. :func:`session_for` makes that choice; :func:`install`
puts it in place of :class:`~ohws_jupyter.client.session.ClientSession` when the
package is imported in a browser.

:class:`BrowserSession` gives a ``WebSocket`` what a ``ClientSession`` gives it:
the same events in the same order, 4 KiB pieces, promises, counters and error
codes. What a page's ``WebSocket`` cannot do is refused before any connection,
with a ``BusinessError`` 401 that says why (see :data:`REFUSED`). What it does
not show, it does not invent: no response headers but the subprotocol and
extensions, no wire byte counts, no ping round trip.

JupyterLite shows a cell's output only while the cell runs, and in a page
the connection's work can only run once the cell has returned. So after each
cell the kernel gives the page's loop a moment (at most :data:`SETTLE_MAX`
seconds, and only while our connections are busy) to finish what the cell
started: the callbacks of ``connect(url, callback)`` then print under their
cell, as in Jupyter. This needs the browser's JavaScript Promise Integration
(Chromium has it); without it, such output is not shown.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from ..core.errors import CONNECTION_ERROR, PARAMETER_ERROR, UNKNOWN_ERROR, BusinessError
from ..core.events import EventEmitter
from ..core.masking import mask_headers, mask_url
from ..core.options import CloseResult, HttpProxy, OpenResult, WebSocketRequestOptions
from ..engine.promise import Promise
from ..engine.runtime import IN_BROWSER, Lane, get_runtime
from .reports import SessionReports
from .session import ClientSession
from .state import ReadyState, not_open_error, split_message

if TYPE_CHECKING:
    import ssl

    from .websocket import SessionLink, WebSocket

__all__ = [
    "REFUSED",
    "SEND_HARD_LIMIT",
    "SEND_HIGH_WATER",
    "SEND_LOW_WATER",
    "BrowserSession",
    "browser_refusal",
    "install",
    "session_for",
    "settle",
]

logger = logging.getLogger("ohws_jupyter")

#: ``bufferedAmount`` above which senders are held, as the engine's write buffer.
SEND_HIGH_WATER = 4 * 1024 * 1024
#: ... and below which they go on again.
SEND_LOW_WATER = 1024 * 1024
#: ``bufferedAmount`` above which a send is refused.
SEND_HARD_LIMIT = 64 * 1024 * 1024
#: Seconds between looks at ``bufferedAmount`` (the browser has no drain event).
DRAIN_POLL = 0.01
#: After a cell, most seconds the page's loop gets to finish what the cell started.
SETTLE_MAX = 1.0
#: ... and how long it must have been quiet for the cell to end sooner.
SETTLE_QUIET = 0.06

#: What a page's WebSocket cannot do, as the 401 messages say it.
REFUSED = {
    "header": (
        "a browser's WebSocket sends only its own handshake headers, so the header option "
        "cannot be used in the browser (here: {names}); only subprotocols (the protocol "
        "option) can be offered — pass a token in the URL's query or in the first message"
    ),
    "credentials": (
        "a browser's WebSocket does not send a user name or password from the URL; pass a "
        "token in the URL's query or in the first message instead"
    ),
    "caPath": (
        "caPath cannot be used in the browser: it checks server certificates against its "
        "own trusted authorities; add the CA to the browser, or leave caPath out"
    ),
    "clientCert": (
        "clientCert cannot be used in the browser: the browser itself chooses (and asks "
        "for) client certificates; leave clientCert out"
    ),
    "proxy": (
        "an HttpProxy cannot be used in the browser: the browser uses its own proxy "
        "settings; leave the proxy option out"
    ),
    "skipServerCertVerification": (
        "skipServerCertVerification cannot be used in the browser: a browser never skips "
        "certificate checks; use a certificate the browser trusts, or ws:// on 127.0.0.1"
    ),
    "pingInterval": (
        "pingInterval cannot be set in the browser: a page cannot send WebSocket pings "
        "(the browser answers the server's pings itself); leave pingInterval out, or set 0"
    ),
}
_DEFAULTS = WebSocketRequestOptions()
_events_seen = 0  # browser WebSocket events handled (a measure of progress)
_OWN_HEADERS = {"sec-websocket-protocol"}  # becomes the protocol list
#: Close codes a page may send (the WebSocket standard's close() rule).
_PAGE_CLOSE_CODES = "1000 or 3000–4999"


def _page_may_send(code: int) -> bool:
    return code == 1000 or 3000 <= code <= 4999


def browser_refusal(url: str, opts: WebSocketRequestOptions) -> BusinessError | None:
    """The 401 error for what a browser's WebSocket cannot do, or None."""
    custom = [name for name in opts.header if name.lower() not in _OWN_HEADERS]
    if custom:
        message = REFUSED["header"].format(names=", ".join(sorted(custom)))
    elif urllib.parse.urlsplit(url).username is not None:
        message = REFUSED["credentials"]
    elif opts.caPath:
        message = REFUSED["caPath"]
    elif opts.clientCert is not None:
        message = REFUSED["clientCert"]
    elif isinstance(opts.proxy, HttpProxy):
        message = REFUSED["proxy"]
    elif opts.skipServerCertVerification:
        message = REFUSED["skipServerCertVerification"]
    elif opts.pingInterval not in (0, _DEFAULTS.pingInterval):
        message = REFUSED["pingInterval"]
    else:
        return None
    return BusinessError(PARAMETER_ERROR, message)


def _protocols(opts: WebSocketRequestOptions) -> list[str]:
    protocols = opts.protocols
    for name, value in opts.header.items():
        if name.lower() == "sec-websocket-protocol":
            protocols = [p.strip() for p in value.split(",") if p.strip()]
    return protocols


class BrowserSession(SessionReports):
    """One connection over the browser's ``WebSocket``; what ``client.py`` needs of a session.

    Everything runs on the page's one thread: the browser's events call in
    directly, callbacks go to the object's lane as with a ``ClientSession``.
    """

    def __init__(
        self,
        link: SessionLink,
        url: str,
        opts: WebSocketRequestOptions,
        tls: ssl.SSLContext | None,
        connect_promise: Promise[bool],
        lane: Lane,
    ) -> None:
        self.link = link
        self.stats = link.stats
        self.lane = lane
        self.url, self.opts = url, opts
        self.connect_promise = connect_promise
        #: The WebSocket's context, fixed when it was created: profile, texts, runtime.
        self.ctx = link.context
        self.close_waiters: list[Promise[bool]] = []
        self.close_requested: tuple[int, str] | None = None
        self.ended = False
        self.opened = False
        self.keep_alive: WebSocket | None = None  # strong, while connecting only
        self.socket: Any = None  # the page's WebSocket
        self._proxies: list[Any] = []
        self._timers: list[Any] = []
        self._failure: tuple[BusinessError, CloseResult] | None = None
        self._waiting = 0  # sends told to wait whose waiter has not been woken yet
        self._drain_list: list[Promise[bool]] = []

    def _later(self, delay: float, fn: Any) -> None:
        loop = self.ctx.runtime.loop
        assert loop is not None
        self._timers.append(loop.call_later(delay, fn))

    # -- opening -------------------------------------------------------------------------
    def begin(self) -> None:
        """Open the page's WebSocket (on the loop, after ``connect`` returned)."""
        if self.close_requested is not None:
            self._end_before_open(None)  # close() came first
            return
        refusal = browser_refusal(self.url, self.opts)
        if refusal is not None:
            self._refuse(refusal)
            return
        opts = self.opts
        self._observe(
            "connect", "=", data=self.url, headers=mask_headers(opts.header, opts.sensitiveHeaders)
        )
        import js
        from pyodide.ffi import JsException, create_proxy, to_js

        try:
            socket = js.WebSocket.new(self.url, to_js(_protocols(opts)))
        except JsException as exc:
            name = getattr(exc, "name", "") or type(exc).__name__
            if name == "SecurityError":
                err = BusinessError(
                    CONNECTION_ERROR,
                    f"the browser does not let this page open {mask_url(self.url)} ({exc}); "
                    "a page served over https:// may open wss:// URLs only",
                    data="0",
                )
            else:
                err = BusinessError(
                    PARAMETER_ERROR, f"the browser refused the URL or the subprotocols: {exc}"
                )
            err.__cause__ = exc
            self._end_before_open(err)
            return
        socket.binaryType = "arraybuffer"
        self.socket = socket
        for name, handler in (
            ("onopen", self._on_open),
            ("onmessage", self._on_message),
            ("onerror", self._on_error),
            ("onclose", self._on_close),
        ):
            proxy = create_proxy(handler)
            self._proxies.append(proxy)
            setattr(socket, name, proxy)
        if opts.openTimeout:
            self._later(opts.openTimeout, self._open_overdue)

    def _refuse(self, err: BusinessError) -> None:
        # Like a bad argument: the promise rejects, no event fires.
        self.ended = True
        self._set_state(ReadyState.CLOSED)
        self.connect_promise.reject(err)
        self.keep_alive = None

    def _open_overdue(self) -> None:
        if self.opened or self.ended:
            return
        err = BusinessError(
            CONNECTION_ERROR,
            f"the opening handshake did not finish within {self.opts.openTimeout} s; "
            "is the server answering WebSocket handshakes? (openTimeout sets the limit)",
            data="0",
        )
        self._detach(close=True)
        self._end_before_open(err)

    def _on_open(self, event: Any) -> None:
        _count_event()
        socket = self.socket
        if self.ended or socket is None:
            return
        if self.close_requested is not None:
            socket.close()  # close() was called as the handshake finished
            return
        self.opened = True
        protocol = str(socket.protocol or "")
        extensions = str(socket.extensions or "")
        # The browser shows no response headers; these two it does tell.
        headers = {}
        if protocol:
            headers["Sec-WebSocket-Protocol"] = protocol
        if extensions:
            headers["Sec-WebSocket-Extensions"] = extensions
        self.link.opened(self, protocol=protocol, extensions=extensions, headers=headers)
        offered = _protocols(self.opts)
        if offered and not protocol:
            logger.warning(
                "%s accepted none of the offered subprotocols (%s): ws.protocol is ''",
                mask_url(self.url),
                ", ".join(offered),
            )
        self.stats.openedAt = time.time()
        self.stats.closedAt = None
        self._set_state(ReadyState.OPEN)
        self._observe("open", "=", data=protocol, headers=headers)
        self._emit("headerReceive", (headers,))
        self._emit("open", (None, OpenResult(101, "Switching Protocols")))
        self.connect_promise.resolve(True)
        self.keep_alive = None

    # -- receiving -----------------------------------------------------------------------
    def _on_message(self, event: Any) -> None:
        _count_event()
        if not self.opened or self.ended or self._failure is not None:
            return
        data = event.data
        message: str | bytes = data if isinstance(data, str) else data.to_bytes()
        size = len(message) if isinstance(message, bytes) else len(message.encode("utf-8"))
        if size > self.opts.maxMessageSize:
            self._fail_too_big(size)
            return
        stats = self.stats
        stats.messagesIn += 1
        stats.bytesIn += size
        whole = self.opts.wholeMessages
        self.link.received([message], whole)
        events = self.link.events()
        if events is not None and (events.has("message") or events.has("dataEnd")):
            self.lane.call(self._deliver, events, message)
        else:
            stats.piecesIn += 1 if whole else len(split_message(message))

    def _deliver(self, events: EventEmitter, message: str | bytes) -> None:
        # Runs on the object's lane, as ClientSession._deliver.
        if self.opts.wholeMessages:
            events.emit("message", (None, message))
            self.stats.piecesIn += 1
        else:
            pieces = split_message(message)
            self.stats.piecesIn += len(pieces)
            if len(pieces) == 1:
                events.emit("message", (None, pieces[0]))
            else:
                events.emit_each("message", [(None, piece) for piece in pieces])
        events.emit("dataEnd", ())

    def _fail_too_big(self, size: int) -> None:
        limit = self.opts.maxMessageSize
        err = BusinessError(
            CONNECTION_ERROR,
            f"a received message is too big ({size} bytes > {limit} bytes); raise "
            "maxMessageSize (closed with 1009)",
            data="0",
        )
        # A page may not send 1009 itself: the frame says 1000, the report says 1009.
        self._failure = (err, CloseResult(1009, "message too big"))
        self._set_state(ReadyState.CLOSING)
        self._observe("closing", ">", code=1009, reason="message too big")
        self.socket.close(1000, "message too big")

    # -- the end -------------------------------------------------------------------------
    def _on_error(self, event: Any) -> None:
        pass  # the browser gives no detail; 'close' follows and says how it ended

    def _on_close(self, event: Any) -> None:
        _count_event()
        if self.ended:
            return
        code, reason, clean = int(event.code), str(event.reason), bool(event.wasClean)
        self._detach(close=False)
        err: BusinessError | None
        if not self.opened:
            if self.close_requested is not None:
                self._end_before_open(None)
                return
            err = BusinessError(
                CONNECTION_ERROR,
                f"the browser could not open {mask_url(self.url)} (close code {code}); it "
                "does not say why: is the server running, does it accept the handshake, and "
                "may this page reach it?",
                data="0",
            )
            self._end_before_open(err)
            return
        err = None
        if self._failure is not None:
            err, result = self._failure
        elif self.close_requested is not None:
            # The user started the closing handshake: report what was asked for,
            # as a ClientSession does.
            result = CloseResult(*self.close_requested)
        else:
            result = CloseResult(code, reason)
            if not clean or code == 1006:
                err = BusinessError(
                    CONNECTION_ERROR, "the connection was lost without a close frame (1006)", "0"
                )
        self._report_end(result, err)

    def _close_overdue(self) -> None:
        if self.ended:
            return
        self._detach(close=False)
        assert self.close_requested is not None
        err = BusinessError(
            CONNECTION_ERROR,
            f"the server did not finish the closing handshake within closeTimeout "
            f"({self.opts.closeTimeout} s); the connection was left to the browser (1006)",
            data="0",
        )
        self._report_end(CloseResult(*self.close_requested), err)

    def _abandon_attempt(self) -> None:
        self._detach(close=True)

    def _resolve_closers(self) -> None:
        super()._resolve_closers()
        self._wake_senders(False)

    def _detach(self, *, close: bool) -> None:
        """Stop listening to the page's WebSocket (and close it if asked)."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        socket = self.socket
        if socket is not None:
            for name in ("onopen", "onmessage", "onerror", "onclose"):
                setattr(socket, name, None)
            if close and int(socket.readyState) < 2:
                socket.close()
        for proxy in self._proxies:
            proxy.destroy()
        self._proxies.clear()

    # -- operations ------------------------------------------------------------------------
    def send(self, payload: bytes, text: bool) -> BusinessError | bool:
        """Queue one message; the error, or False when queued, or True when the caller waits."""
        socket = self.socket
        if socket is None or not self.opened or self.ended or int(socket.readyState) != 1:
            return not_open_error("send", ReadyState.CLOSING)
        buffered = int(socket.bufferedAmount)
        if buffered > SEND_HARD_LIMIT:
            return BusinessError(
                UNKNOWN_ERROR,
                f"cannot send: {buffered} bytes already wait to be written because the server "
                "is not reading; await each send() to pace the sender",
            )
        from pyodide.ffi import to_js

        message: str | bytes = payload.decode("utf-8") if text else payload
        socket.send(message if text else to_js(payload))
        stats = self.stats
        stats.messagesOut += 1
        stats.bytesOut += len(payload)
        self.link.sent(message)
        # Once one sender waits, later ones wait behind it: promises keep send order.
        if buffered + len(payload) > SEND_HIGH_WATER or self._waiting:
            self._waiting += 1
            return True
        return False

    def when_drained(self, promise: Promise[bool]) -> None:
        """Settle ``promise`` once ``bufferedAmount`` is below its low mark (or the end)."""
        self._drain_list.append(promise)
        if len(self._drain_list) == 1:
            self._later(DRAIN_POLL, self._poll_drain)

    def _poll_drain(self) -> None:
        socket = self.socket
        if self.ended or socket is None:
            self._wake_senders(False)
        elif int(socket.bufferedAmount) <= SEND_LOW_WATER:
            self._wake_senders(True)
        else:
            self._later(DRAIN_POLL, self._poll_drain)

    def _wake_senders(self, ok: bool) -> None:
        waiters, self._drain_list = self._drain_list, []
        self._waiting -= len(waiters)
        for promise in waiters:
            if ok:
                promise.resolve(True)
            else:
                promise.reject(
                    BusinessError(
                        UNKNOWN_ERROR, "the connection closed before this message was sent"
                    )
                )

    def request_close(self, code: int, reason: str, promise: Promise[bool]) -> None:
        """Start the closing handshake; ``promise`` settles when the connection has ended."""
        if self.ended:
            promise.resolve(True)
            return
        if self.opened and not _page_may_send(code):
            # Refused like a bad argument: the connection stays open.
            self._set_state(ReadyState.OPEN)
            promise.reject(
                BusinessError(
                    PARAMETER_ERROR,
                    f"a browser may send close code {_PAGE_CLOSE_CODES} only, not {code}; "
                    "use 1000 (normal) or a code of your own from 3000 up",
                )
            )
            return
        self.close_waiters.append(promise)
        if self.close_requested is not None:
            return  # a close is already under way; this promise waits for the same end
        self.close_requested = (code, reason)
        socket = self.socket
        if socket is None or not self.opened:
            if socket is not None:
                socket.close()  # still handshaking: abandon the attempt
            return
        self._set_state(ReadyState.CLOSING)
        self._observe("closing", ">", code=code, reason=reason)
        socket.close(code, reason)
        if self.opts.closeTimeout:
            self._later(self.opts.closeTimeout, self._close_overdue)

    def abandon(self) -> None:
        """The WebSocket object was garbage-collected: close it (the browser says 'going away')."""
        if not self.ended and self.socket is not None:
            self.ctx.runtime.call_soon(self._detach_and_close)

    def _detach_and_close(self) -> None:
        self._detach(close=True)


def _count_event() -> None:
    global _events_seen
    _events_seen += 1


def _activity() -> int:
    from ..engine import inpage

    return get_runtime().activity + inpage.deliveries + _events_seen


def settle(*_: Any) -> None:
    """Let the page's loop finish what a cell started, briefly (an IPython post-run hook).

    Returns as soon as nothing of ours has happened for SETTLE_QUIET seconds,
    and after SETTLE_MAX at most; at once if the runtime never started or the
    browser cannot suspend Python (no JavaScript Promise Integration).
    """
    if not get_runtime().started:
        return
    try:
        from pyodide.ffi import can_run_sync, run_sync
    except ImportError:
        return
    if not can_run_sync():
        return
    start = last_change = time.monotonic()
    seen = _activity()
    while time.monotonic() - start < SETTLE_MAX:
        run_sync(asyncio.sleep(0.01))
        now = _activity()
        if now != seen:
            seen, last_change = now, time.monotonic()
        elif time.monotonic() - last_change >= SETTLE_QUIET:
            return


def session_for(
    link: SessionLink,
    url: str,
    opts: WebSocketRequestOptions,
    tls: ssl.SSLContext | None,
    connect_promise: Promise[bool],
    lane: Lane,
) -> ClientSession | BrowserSession:
    """The session of one ``connect``: in-page if a server of this page listens at ``url``."""
    from ..engine import inpage

    network = inpage.network()
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "wss" else 80)
    if network is not None and network.listening(parts.hostname, port):
        return ClientSession(link, url, opts, tls, connect_promise, lane)
    return BrowserSession(link, url, opts, tls, connect_promise, lane)


def install() -> None:
    """In a browser, make ``createWebSocket()`` connect through :func:`session_for`."""
    if not IN_BROWSER:
        raise RuntimeError("ohws_jupyter.client.browser.install() is for Pyodide (a browser) only")
    from .websocket import use_session_factory

    use_session_factory(session_for)
    try:
        from IPython.core.getipython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and settle not in shell.events.callbacks["post_run_cell"]:
        shell.events.register("post_run_cell", settle)
