"""The I/O side of a client connection: one ``ClientSession`` per ``connect``.

A session opens the connection (TCP, an HTTP proxy tunnel, TLS, the opening
handshake, redirects) and then owns the engine's
:class:`~ohws_jupyter.engine.connection.Connection`: it turns received messages
into the seed's 4 KiB pieces on the object's callback lane, keeps the
connection alive with pings, and reports how it ended.
It holds its ``WebSocket`` through a weak reference, so a WebSocket nobody
holds can be collected (and its connection closed with 1001).

State follows the wire: ``ws.state`` changes on the I/O thread the moment the
connection opens, starts closing or ends, and ``connect``/``close`` promises
settle then too, whatever callbacks are still queued; the events themselves
are delivered in order on the object's lane, ``'close'`` last.

Under the ``device`` profile (the WebSocket's own) a session follows
:mod:`ohws_jupyter.core.device`: the device's handshake headers, TLS checks and
proxy exclusions, a failed attempt reported as a device reports it, sends
queued while connecting, ``close`` settled once its frame is queued, the
keepalive's hang-up without a ping at ``pongTimeout`` 0, and the device's close
codes and reasons in ``'close'``.

The public face is :mod:`ohws_jupyter.client`; this module is its engine room.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import ssl
import threading
import time
import urllib.parse
import urllib.request
import weakref
from typing import TYPE_CHECKING, Any

from websockets.exceptions import (
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.http11 import Response
from websockets.protocol import OPEN
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from ..core import device as _device
from ..core.errors import CONNECTION_ERROR, SEND_FAILED, UNKNOWN_ERROR, BusinessError
from ..core.events import EventEmitter
from ..core.masking import mask_headers, mask_url
from ..core.options import (
    CloseResult,
    OpenInfo,
    OpenResult,
    WebSocketRequestOptions,
)
from ..engine.closing import close_result_of
from ..engine.connection import Connection, LenientClientProtocol
from ..engine.logs import MaskingLogger
from ..engine.promise import Promise
from ..engine.runtime import Lane, create_task
from .dial import (
    Redirected,
    check_dates,
    connect_error,
    connect_transport,
    fails_at_once,
    failure_error,
    headers_dict,
    proxy_for,
    spelled_host,
    tls_context,
    user_agent,
)
from .reports import SessionReports
from .state import ReadyState, not_open_error, not_open_hint, split_message

if TYPE_CHECKING:
    from .websocket import SessionLink, WebSocket

USER_AGENT = user_agent()

# Sessions with a connection, for the 1001 at interpreter exit.
_LIVE: weakref.WeakSet[ClientSession] = weakref.WeakSet()

__all__ = ["MAX_REDIRECTS", "ClientSession"]

logger = logging.getLogger("ohws_jupyter")

#: Redirects followed during one opening handshake.
MAX_REDIRECTS = 10
#: Seconds the interpreter's exit waits for open connections to send their 1001.
EXIT_CLOSE_WAIT = 1.0


class ClientSession(SessionReports):
    """One connection attempt and, if it opens, the connection; owner of its engine.

    Lives on the I/O loop, except :meth:`send`, which runs on the caller's thread.
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
        # The link holds the WebSocket weakly: a WebSocket nobody holds can be
        # collected, and its finalizer then closes this session (1001 going away).
        # No strong path from the live connection to the WebSocket: callbacks
        # often refer to their WebSocket (on('message', lambda v: ws.send(v))),
        # and holding its events here would keep it alive for good.
        self.link = link
        self.stats = link.stats
        self.lane = lane
        self.url, self.opts, self.tls = url, opts, tls
        self.connect_promise = connect_promise
        self.conn: Connection | None = None
        self.task: asyncio.Future[None] | None = None
        self.close_waiters: list[Promise[bool]] = []
        self.close_requested: tuple[int, str] | None = None
        self.ended = False
        self.opened = False
        self.keep_alive: WebSocket | None = None  # strong, while connecting only
        self._handshake: asyncio.Future[Any] | None = None
        self._attempt_conn: Connection | None = None
        self._early: list[tuple[list[Any], int]] = []
        self._early_end: tuple[BaseException | None] | None = None
        # Wire bytes of earlier connections of the same object.
        self._wire_base = (link.stats.wireBytesIn, link.stats.wireBytesOut)
        #: The WebSocket's context, fixed when it was created: profile, texts, runtime.
        self.ctx = link.context
        self.runtime = self.ctx.runtime
        #: The WebSocket follows the device profile: its rules hold for this connection.
        self.device = self.ctx.is_device
        # Device: proxy exclusions are matched against the host as the URL spells it.
        self.device_host = spelled_host(url) if self.device else None
        # Device: messages sent while connecting, sent in order once open.
        self._early_lock = threading.Lock()
        self._pieces_lock = threading.Lock()
        self._early_sends: list[tuple[bytes, bool]] = []
        self._early_flushed = False

    # -- opening (I/O thread) --------------------------------------------------------
    def begin(self) -> None:
        self.task = create_task(self.run())
        self.task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[None]) -> None:
        # A task cancelled before its first step never runs run()'s handlers.
        if self.ended:
            return
        if task.cancelled():
            self._end_before_open(None)
        elif task.exception() is not None and not self.opened:
            exc = task.exception()
            logger.error("internal error in the connection to %s", mask_url(self.url), exc_info=exc)
            self._end_before_open(BusinessError(UNKNOWN_ERROR, f"internal error: {exc!r}"))

    async def run(self) -> None:
        opts = self.opts
        try:
            conn, response = await asyncio.wait_for(self._open(), opts.openTimeout or None)
        except asyncio.CancelledError:
            self._end_before_open(None)
            return
        except Redirected as exc:
            err = BusinessError(
                CONNECTION_ERROR,
                f"the server redirected (HTTP {exc.status}) to {mask_url(exc.location)}, which "
                "is not a WebSocket URL; connect to the WebSocket endpoint itself",
                data=str(exc.status),
            )
            self._end_failed(err)
            return
        except InvalidURI as exc:
            err = BusinessError(
                CONNECTION_ERROR,
                f"the server redirected to {mask_url(exc.uri)}, which is not a WebSocket URL; "
                "connect to the WebSocket endpoint itself",
                data="0",
            )
            err.__cause__ = exc
            self._end_failed(err)
            return
        except Exception as exc:
            self._end_failed(connect_error(exc, self.url, opts), fails_at_once(exc))
            return
        except BaseException:
            self._end_before_open(None)
            raise
        self._opened(conn, response)

    async def _open(self) -> tuple[Connection, Response]:
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                return await self._attempt(url)
            except InvalidStatus as exc:
                response = exc.response
                location = response.headers.get("Location")
                if not 300 <= response.status_code < 400 or location is None:
                    raise
                target = urllib.parse.urljoin(url, location)
                if urllib.parse.urlsplit(target).scheme.lower() not in ("ws", "wss"):
                    raise Redirected(response.status_code, target) from exc
                if self.tls is None and target.lower().startswith("wss:"):
                    rules = _device.strict_tls_context if self.device else tls_context
                    self.tls = rules(self.opts)
                url = target
        raise InvalidHandshake(f"more than {MAX_REDIRECTS} redirects; is there a redirect loop?")

    async def _attempt(self, url: str) -> tuple[Connection, Response]:
        opts = self.opts
        loop = asyncio.get_running_loop()
        uri = parse_uri(url)
        headers = dict(opts.header)
        protocols = opts.protocols
        for name in list(headers):
            if name.lower() == "sec-websocket-protocol":
                protocols = [p.strip() for p in headers.pop(name).split(",") if p.strip()]
        # websockets' own defaults (memLevel 5): a deflate context per connection
        # is most of its memory, and thousands of connections add up.
        extensions = enable_client_permessage_deflate(None) if opts.compression else None
        protocol = LenientClientProtocol(
            uri,
            extensions=extensions,
            subprotocols=[Subprotocol(p) for p in protocols] or None,
            max_size=opts.maxMessageSize,
            logger=MaskingLogger("client", opts.sensitiveHeaders),
        )
        protocol.lws_close_codes = self.device
        request = protocol.connect()
        if self.device:
            # A device (libwebsockets) sends these and no User-Agent; the user's
            # headers come after, an 'origin' of theirs as a second Origin.
            request.headers["Pragma"] = "no-cache"
            request.headers["Cache-Control"] = "no-cache"
            parts = urllib.parse.urlsplit(url)
            request.headers["Origin"] = _device.origin_header(parts, opts.supportOriginPort)
        elif not any(name.lower() == "user-agent" for name in headers):
            request.headers["User-Agent"] = USER_AGENT
        for name, value in headers.items():
            request.headers[name] = value
        if self._attempt_conn is None:
            # The first attempt. The record carries the headers the user gave (what
            # a replay or an export repeats); every header as sent, the library's
            # own included, is ws.requestHeaders.
            self._observe(
                "connect",
                "=",
                data=self.url,
                headers=mask_headers(opts.header, opts.sensitiveHeaders),
            )
        self.link.request(self, mask_headers(headers_dict(request.headers), opts.sensitiveHeaders))
        protocol.send_request(request)
        conn = Connection(
            protocol,
            self,
            runtime=self.runtime,
            close_timeout=opts.closeTimeout,
            max_queued_messages=opts.maxQueuedMessages,
            max_queued_bytes=opts.maxQueuedBytes,
        )
        conn.queue(protocol.data_to_send())
        self._handshake = loop.create_future()
        # An attempt given up on (openTimeout, close()) no longer awaits it.
        self._handshake.add_done_callback(_consume)
        self._attempt_conn = conn
        tls = self.tls if uri.secure else None
        proxy = proxy_for(opts, uri, device_host=self.device_host)
        try:
            try:
                await connect_transport(conn, uri, tls, proxy)
            except ssl.SSLCertVerificationError as exc:
                accepted = _device.accepted_verify_codes(opts.skipServerCertVerification)
                if not self.device or exc.verify_code not in accepted:
                    raise
                # The device lets this failure through: connect again without
                # verification, checking only what it still checks (the dates).
                check = None if opts.skipServerCertVerification else check_dates
                await connect_transport(
                    conn, uri, _device.lenient_tls_context(opts), proxy, check=check
                )
            response = await self._handshake
        except BaseException:
            conn.abort()
            raise
        if protocol.handshake_exc is not None:
            conn.abort()
            raise protocol.handshake_exc
        return conn, response

    # -- the engine's reports (I/O thread) ------------------------------------------
    def handshake_event(self, conn: Connection, event: Any) -> None:
        if conn is not self._attempt_conn:
            return  # an earlier attempt (before a redirect)
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_result(event)

    def _opened(self, conn: Connection, response: Response) -> None:
        self.conn = conn
        conn.on_queued = self._queued
        conn.on_flush = self.link.flushed
        if self.close_requested is not None and not self.device:
            # close() was called as the handshake finished.
            conn.close(*self.close_requested)
            return
        if self.device and self.close_requested is None:
            # Sends queued while connecting go first, in order (a device writes
            # them as soon as it is established); later sends follow them.
            with self._early_lock:
                for payload, text in self._early_sends:
                    self.send(payload, text)
                self._early_sends = []
                self._early_flushed = True
        self.opened = True
        _LIVE.add(self)
        protocol = conn.protocol
        headers = headers_dict(response.headers)
        self.link.opened(
            self,
            protocol=protocol.subprotocol or "",
            extensions=response.headers.get("Sec-WebSocket-Extensions", ""),
            headers=headers,
        )
        if self.opts.protocols and not protocol.subprotocol:
            logger.warning(
                "%s accepted none of the offered subprotocols (%s): ws.protocol is ''",
                mask_url(self.url),
                ", ".join(self.opts.protocols),
            )
        self.stats.openedAt = time.time()
        self.stats.closedAt = None
        self._set_state(ReadyState.OPEN)
        opened = OpenResult(response.status_code, response.reason_phrase)
        self._observe(
            "open",
            "=",
            data=protocol.subprotocol or "",
            headers=mask_headers(headers, self.opts.sensitiveHeaders),
        )
        shown = _device.response_headers(response.headers.raw_items()) if self.device else headers
        self._emit("headerReceive", (shown,))
        self._emit("open", (None, opened))
        info = OpenInfo(response.status_code, response.reason_phrase, protocol.subprotocol or "")
        self._emit("openInfo", (None, info))
        self.connect_promise.resolve(True)
        self.keep_alive = None
        if self.opts.pingInterval:
            conn.start_keepalive(
                self.opts.pingInterval,
                self.opts.pongTimeout,
                fail_with_close=False,
                zero_timeout_hangs_up=self.device,
            )
        if self.device and self.close_requested is not None:
            # close() while connecting: a device opens, then sends the close at once.
            code, reason = self.close_requested
            self._observe("closing", ">", code=code, reason=reason)
            conn.close(code, reason)
            self._set_state(ReadyState.CLOSING)
        early, self._early = self._early, []
        for messages, size in early:
            self.received(conn, messages, size)
        if conn.protocol.state is not OPEN:
            self.closing(conn)  # the server closed right after the handshake
        if self._early_end is not None:
            self.closed(conn, self._early_end[0])

    def received(self, conn: Connection, messages: list[Any], size: int) -> None:
        if not self.opened:
            if conn is self._attempt_conn and self.close_requested is None:
                # Sent by the server right behind its 101, in the same read: they
                # are delivered once 'open' is.
                self._early.append((messages, size))
            else:
                conn.consumed_some(len(messages), size)
            return
        stats = self.stats
        stats.messagesIn += len(messages)
        stats.bytesIn += size
        stats.wireBytesIn = self._wire_base[0] + conn.bytes_in
        stats.wireBytesOut = self._wire_base[1] + conn.bytes_out
        self.link.received(messages, self.opts.wholeMessages)
        events = self.link.events()
        # A device emits 'dataEnd' only behind a 'message' it emitted, and
        # emits none without a 'message' listener (OnMessage, CallbackTemplate).
        wanted = events is not None and (
            events.has("message") or (events.has("dataEnd") and not self.device)
        )
        if wanted:
            self.lane.call(self._deliver, events, messages, size)
        else:
            self._count_pieces(
                len(messages)
                if self.opts.wholeMessages
                else sum(len(split_message(m)) for m in messages)
            )
            conn.consumed_some(len(messages), size)

    def _count_pieces(self, count: int) -> None:
        # Counted on the I/O thread (no listener) and on the lane (a listener):
        # 'on'/'off' while messages flow switches between them mid-stream.
        with self._pieces_lock:
            self.stats.piecesIn += count

    def _deliver(self, events: EventEmitter, messages: list[Any], size: int) -> None:
        # Runs on the object's lane.
        whole = self.opts.wholeMessages
        pieces_in = 0
        try:
            for message in messages:
                if whole:
                    events.emit("message", (None, message))
                    pieces_in += 1
                else:
                    pieces = split_message(message)
                    pieces_in += len(pieces)
                    if len(pieces) == 1:
                        events.emit("message", (None, pieces[0]))
                    else:
                        events.emit_each("message", [(None, piece) for piece in pieces])
                events.emit("dataEnd", ())
        finally:
            self._count_pieces(pieces_in)
        conn = self.conn
        if conn is not None:
            conn.consumed_some(len(messages), size)

    def keepalive(self, conn: Connection, kind: str, direction: str, rtt: float | None) -> None:
        if rtt is not None:
            self.stats.pingRoundTrip = rtt
        if self.opened and not self.ended:
            self._observe(kind, direction, data=rtt)

    def closing(self, conn: Connection) -> None:
        if self.opened and not self.ended:
            self._set_state(ReadyState.CLOSING)
            proto = conn.protocol
            if proto.close_rcvd is not None and proto.close_rcvd_then_sent:
                # The server started the closing handshake; we echoed its frame.
                self._observe(
                    "closing", "<", code=proto.close_rcvd.code, reason=proto.close_rcvd.reason
                )
            elif proto.close_sent is not None and self.close_requested is None:
                # We failed the connection (1002, 1007, 1009, 1011): say so in the log.
                self._observe(
                    "closing", ">", code=proto.close_sent.code, reason=proto.close_sent.reason
                )

    def closed(self, conn: Connection, exc: BaseException | None) -> None:
        if conn is not self._attempt_conn:
            return  # an earlier attempt (before a redirect)
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(
                conn.protocol.handshake_exc
                or exc
                or ConnectionResetError("the server closed the connection")
            )
            return
        if not self.opened:
            if self.close_requested is not None and self.conn is conn:
                self._end_before_open(None)
            elif self.close_requested is None and conn.protocol.handshake_exc is None:
                # Opened and ended in the same turn of the loop: _opened() reports
                # the end right after 'open'.
                self._early_end = (exc,)
            return
        _LIVE.discard(self)
        proto = conn.protocol
        user_closed = self.close_requested is not None and proto.close_rcvd_then_sent is not True
        if self.device:
            result, abnormal = _device.ended(
                proto.close_sent, proto.close_rcvd, proto.close_rcvd_then_sent, self.close_requested
            )
            err = None
            if abnormal:
                err = failure_error(conn, exc) or BusinessError(
                    CONNECTION_ERROR, "the connection ended without a closing handshake", data="0"
                )
        elif user_closed and proto.parser_exc is None and not (conn.utf8_error or conn.frame_error):
            # The user started the closing handshake: report what was asked for,
            # as OHOS does, even if the peer's answer differs or never came.
            # user_closed: close_requested is set.
            result = CloseResult(*self.close_requested)  # type: ignore[misc]
            err = None
            if proto.close_rcvd is None and conn.aborted_by_deadline:
                err = failure_error(conn, exc)
        else:
            result = close_result_of(proto)
            err = failure_error(conn, exc)
        self.stats.wireBytesIn = self._wire_base[0] + conn.bytes_in
        self.stats.wireBytesOut = self._wire_base[1] + conn.bytes_out
        self._report_end(result, err)

    # -- operations ------------------------------------------------------------------
    def send(self, payload: bytes, text: bool) -> BusinessError | bool:
        """Queue one message on the caller's thread.

        Returns:
            The error, or False when queued, or True when the caller must wait:
            then :meth:`when_drained` settles its promise.
        """
        conn = self.conn
        try:
            if conn is None:
                raise BufferError(0)
            wait = conn.send(payload, text)
        except BufferError as exc:
            if conn is None or conn.state is not OPEN:
                return self._not_open("send")
            return BusinessError(
                SEND_FAILED if self.device else UNKNOWN_ERROR,
                f"cannot send: {exc.args[0]} bytes already wait to be written because "
                "the server is not reading; await each send() to pace the sender",
            )
        except Exception:
            return self._not_open("send")
        return wait

    def _queued(self, payload: bytes, text: bool) -> None:
        # Under the connection's lock, which orders every send: the counters have
        # one writer at a time, and the history gets the messages in wire order
        # with neither a lock nor a clock of its own per message.
        stats = self.stats
        stats.messagesOut += 1
        stats.bytesOut += len(payload)
        self.link.outbox.append((payload, text))

    def _not_open(self, op: str) -> BusinessError:
        if self.device:
            return BusinessError(SEND_FAILED, not_open_hint(op, ReadyState.CLOSING))
        return not_open_error(op, ReadyState.CLOSING)

    def send_early(self, payload: bytes, text: bool) -> BusinessError | bool:
        """Device: queue a message sent while connecting; it goes out once open."""
        with self._early_lock:
            if not self._early_flushed:
                self._early_sends.append((payload, text))
                return False
        return self.send(payload, text)

    def when_drained(self, promise: Promise[bool]) -> None:
        """Settle ``promise`` once the write buffer drained (or the connection ended)."""
        conn = self.conn
        assert conn is not None
        conn.when_drained(lambda ok: promise.resolve(True) if ok else _lost(promise))

    def request_close(self, code: int, reason: str, promise: Promise[bool]) -> None:
        """Start the closing handshake (I/O thread); ``promise`` settles when it ends.

        Device: ``promise`` settles once the close frame is queued (or, while
        connecting, once the close is noted); a second close is refused.
        """
        if self.device:
            self._request_close_queued(code, reason, promise)
            return
        if self.ended:
            promise.resolve(True)
            return
        self.close_waiters.append(promise)
        if self.close_requested is not None:
            return  # a close is already under way; this promise waits for the same end
        self.close_requested = (code, reason)
        conn = self.conn
        if conn is None or not self.opened:
            if self.task is not None:
                self.task.cancel()  # still handshaking: abandon the attempt
            return
        self._observe("closing", ">", code=code, reason=reason)
        if not conn.close(code, reason):
            # Already closing (the peer's close, a failure): that end settles us.
            return

    def _request_close_queued(self, code: int, reason: str, promise: Promise[bool]) -> None:
        conn = self.conn
        if self.ended or self.close_requested is not None:
            promise.reject(not_open_error("close", ReadyState.CLOSING))
            return
        if conn is None or not self.opened:
            # Still connecting: noted now, sent once the connection opens (_opened).
            self.close_requested = (code, reason)
            promise.resolve(True)
            return
        if conn.state is not OPEN:
            promise.reject(not_open_error("close", ReadyState.CLOSING))  # the peer closed first
            return
        self.close_requested = (code, reason)
        self._observe("closing", ">", code=code, reason=reason)
        conn.close(code, reason)
        promise.resolve(True)

    def abandon(self) -> None:
        """The WebSocket object was garbage-collected: close with 1001, from any thread.

        Not when our close is under way already: that one ends the connection. A
        device refuses a close while the peer's is under way too; nobody waits for
        this promise, so that refusal is no news.
        """
        if self.runtime.started and not self.ended and self.close_requested is None:
            self.runtime.call_soon(self.request_close, 1001, "going away", _going_away())


def _going_away() -> Promise[bool]:
    """The promise of a close the package makes on its own: a refusal of it is no news."""
    promise: Promise[bool] = Promise("close")
    promise.exception()  # handled: the user's code never sees this promise
    return promise


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _lost(promise: Promise[bool]) -> None:
    promise.reject(
        BusinessError(UNKNOWN_ERROR, "the connection closed before this message was sent")
    )


def _close_all_at_exit() -> None:
    """Close open connections with 1001 when the interpreter exits (RFC 6455 7.4.1)."""
    sessions = [s for s in list(_LIVE) if not s.ended and s.conn is not None and s.runtime.started]
    if not sessions:
        return
    promises = []
    for session in sessions:
        promise = _going_away()
        promises.append(promise)
        session.runtime.call_soon(session.request_close, 1001, "going away", promise)
    deadline = time.monotonic() + EXIT_CLOSE_WAIT
    for promise in promises:
        try:
            promise.result(max(deadline - time.monotonic(), 0.01))
        except Exception:
            break


atexit.register(_close_all_at_exit)
