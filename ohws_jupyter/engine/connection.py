"""The connection engine: one WebSocket connection, client or server side.

A :class:`Connection` is an :class:`asyncio.Protocol` that drives websockets'
public sans-I/O protocol (``ClientProtocol`` / ``ServerProtocol``: bytes in,
events out) on the runtime's I/O thread. Both :mod:`ohws_jupyter.client` and
:mod:`ohws_jupyter.server` use it; what differs between them lives in their
*owner* object, which the connection calls on the I/O thread.

Receiving: each socket read is parsed at once and its whole messages are
handed to the owner in one list, so a burst costs one hand-off, not one per
message. Once the connection is open, data frames are parsed by a
:class:`~ohws_jupyter.engine.frames.FrameSplitter` and control frames by
websockets (see that module for the split; not with an extension or debug logs).
Received messages that the owner has not consumed yet are counted,
in messages and in bytes after inflation; past the owner's limits the
connection stops reading from the socket (``pause_reading``) until the owner
catches up to half of them. With permessage-deflate, a read is parsed a slice
at a time so that one read cannot inflate past the limits.

Sending: ``send`` builds the frame on the caller's thread under the
connection's lock (compression included). A message that follows a pause,
with nothing waiting before it on a plain TCP socket, is written there and
then, by the sender (one system call: a round trip's message does not wait for
the I/O thread to wake); the messages of a burst are queued, and the I/O
thread is woken once per burst to write them together, while the transport
takes them: a large payload is queued beside its header and written a slice
at a time from the sender's own bytes, and what the transport would only have
copied into its buffer waits in the queue until it asks for more
(``resume_writing``). A client's plain thread (a notebook cell, a script; not
the I/O thread, not a callback) that finds more than the high mark unwritten
waits in ``send`` until the buffer drains below the low mark, as on a blocking
socket. Elsewhere ``send`` reports whether the caller should wait (its promise
stays pending until the buffer drains); past a hard
limit, a send is refused (client) or the peer is judged (server): a peer that
takes nothing of what waits for it for STALL_LIMIT seconds, or falls behind by
more than the limit plus one largest message, is cut off with a 1008 close
frame queued after what waits. ``on_queued`` sees every message queued, under
the lock that orders them, before their bytes can leave; ``on_flush`` runs
after each write (on the I/O thread, or on the sender's after its own write).

Closing: every way into the closing state — our close, the peer's close, a
protocol failure, a message too big, a keepalive timeout — arms one deadline;
when it passes, the transport is aborted and the owner learns how the
connection ended.

States and ``>``/``<``/``=`` debug lines follow websockets' own conventions.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import dataclasses
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState, PayloadTooBig, ProtocolError
from websockets.frames import (
    BINARY,
    CLOSE,
    CONT,
    EXTERNAL_CLOSE_CODES,
    PING,
    PONG,
    TEXT,
    Close,
    Frame,
)
from websockets.protocol import CLIENT, CLOSED, CLOSING, CONNECTING, OPEN, SERVER, State
from websockets.server import ServerProtocol

try:  # Linux: bytes the kernel still holds for the peer (not yet acknowledged)
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover
    _OUTQ = None

try:  # websockets' C speedup, when built; the same function in Python otherwise
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

from ..core.device import peer_close_code
from .frames import FrameSplitter, HandOver
from .runtime import Runtime

__all__ = [
    "CLOSE_GRACE",
    "FEED_SIZE",
    "SEND_HARD_LIMIT",
    "SEND_HIGH_WATER",
    "SEND_LOW_WATER",
    "STALL_LIMIT",
    "Connection",
    "LenientClientProtocol",
    "LenientServerProtocol",
    "Owner",
]

logger = logging.getLogger("ohws_jupyter")

_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")

#: With permessage-deflate, bytes of one socket read parsed at a time.
FEED_SIZE = 16 * 1024
#: Write buffer (queued + in the transport) above which senders are held.
SEND_HIGH_WATER = 4 * 1024 * 1024
#: ... and below which they go on again.
SEND_LOW_WATER = 1024 * 1024
#: Write buffer above which a send is refused (client) or the peer is judged (server).
SEND_HARD_LIMIT = 64 * 1024 * 1024
#: Frames with at least this many payload bytes are queued as header and payload
#: (the payload not copied into one frame) and written without being joined.
DIRECT_WRITE = 64 * 1024
#: Most bytes handed to the transport in one write: what the socket does not take
#: at once is copied into the transport's buffer, so at most this much is.
WRITE_SLICE = 256 * 1024
#: Server side: seconds a peer with more than the hard limit waiting for it may
#: take no byte of it before it counts as not reading.
STALL_LIMIT = 10.0
#: Seconds a plain sending thread waits for room before the send is refused.
SEND_BLOCK_LIMIT = 30.0
#: Seconds since the previous send after which a send writes to the socket itself
#: (a round trip's message) rather than join a burst the I/O thread writes at once.
DIRECT_GAP = 25e-6
#: Once both close frames have crossed, seconds a client waits for the server
#: to end TCP (RFC 6455 7.1.1: the server should close first) before it does.
CLOSE_GRACE = 2.0


if TYPE_CHECKING:
    # The mixin is only ever combined with a websockets protocol (the two classes below):
    # the checker reads its attributes and super() calls there.
    from websockets.protocol import Protocol as _ProtocolBase
else:
    _ProtocolBase = object


class _Lenient(_ProtocolBase):
    """Answer a close frame that arrives inside a fragmented message.

    RFC 6455 section 5.4 lets control frames, close included, arrive between
    the fragments of a message; websockets' protocol fails such a connection
    with 1002. We drop the incomplete message and answer the close as usual
    (Autobahn 7.1.5). ``answer_pings`` lets the lab server stop answering pings.
    """

    answer_pings = True
    #: Read a peer's close code as libwebsockets does (the device profile): a code
    #: it refuses becomes 1002, echoed so; 1015 and 5000 and above are kept.
    lws_close_codes = False
    _echo: bytes | None = None

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is CLOSE and self.current_size is not None:
            self.current_size = None
        if frame.opcode is CLOSE and self.lws_close_codes and len(frame.data) >= 2:
            self._recv_lws_close(frame)
            return
        super().recv_frame(frame)

    def _recv_lws_close(self, frame: Frame) -> None:
        code = int.from_bytes(frame.data[:2], "big")
        kept = peer_close_code(code)
        rest = bytes(frame.data[2:])
        if kept != code or kept in EXTERNAL_CLOSE_CODES or 3000 <= kept < 5000:
            super().recv_frame(dataclasses.replace(frame, data=kept.to_bytes(2, "big") + rest))
            return
        # 1015 or 5000+: websockets' parser refuses them. Parse with a stand-in
        # code, echo the frame as it came, then record the real code.
        self._echo = bytes(frame.data)
        try:
            super().recv_frame(dataclasses.replace(frame, data=b"\x03\xe8" + rest))
        finally:
            self._echo = None
        stand_in = self.close_rcvd
        if stand_in is not None:
            self.close_rcvd = Close(code, stand_in.reason)
            if self.close_sent is stand_in:
                self.close_sent = self.close_rcvd

    def send_frame(self, frame: Frame) -> None:
        if frame.opcode is PONG and not self.answer_pings:
            return
        if frame.opcode is CLOSE and self._echo is not None:
            frame = Frame(CLOSE, self._echo)
        super().send_frame(frame)


class LenientClientProtocol(_Lenient, ClientProtocol):
    """websockets' ``ClientProtocol`` with the RFC 6455 5.4 close rule (see ``_Lenient``)."""


class LenientServerProtocol(_Lenient, ServerProtocol):
    """websockets' ``ServerProtocol`` with the RFC 6455 5.4 close rule (see ``_Lenient``)."""


class Owner(Protocol):
    """What a :class:`Connection` reports to, on the I/O thread."""

    def handshake_event(self, conn: Connection, event: Any) -> None:
        """The handshake request (server) or response (client) arrived."""

    def received(self, conn: Connection, messages: list[Any], size: int) -> None:
        """Whole messages (``str`` or ``bytes``) of one read; ``size`` is their bytes."""

    def keepalive(self, conn: Connection, kind: str, direction: str, rtt: float | None) -> None:
        """A ping or pong crossed: ``kind`` 'ping'/'pong', ``direction`` '>' sent or
        '<' received; ``rtt`` is the round trip in seconds for the answer to our ping."""

    def closing(self, conn: Connection) -> None:
        """The connection entered the closing state."""

    def closed(self, conn: Connection, exc: BaseException | None) -> None:
        """The transport is gone; ``exc`` is the transport's error, if any."""


def _direct_fd(transport: asyncio.BaseTransport) -> int:
    """The descriptor of a plain TCP socket transport senders may write to; else -1.

    Never for TLS (the bytes must go through the TLS layer) nor for transports
    other than asyncio's own socket transport (the page's in-memory network).
    """
    if type(transport).__module__ != "asyncio.selector_events":
        return -1
    if transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM:
        return -1
    return int(sock.fileno())


def _message_size(message: Any) -> int:
    if type(message) is bytes or message.isascii():
        return len(message)
    return len(message.encode("utf-8", "surrogatepass"))


class Connection(asyncio.Protocol):
    """One WebSocket connection over an asyncio transport; lives on the I/O thread.

    Args:
        protocol: websockets' sans-I/O protocol of this side.
        owner: Receives the connection's events (see :class:`Owner`).
        runtime: Schedules on the I/O thread and tells which thread is which:
            the runtime of the object that owns the connection (its context's).
        close_timeout: Seconds the closing handshake may take; 0 waits forever.
        max_queued_messages: Received messages the owner may hold before reading pauses.
        max_queued_bytes: The same limit in bytes.
        cut_off_slow_peer: Server side: a peer that does not read is cut off
            (1008) instead of a send being refused. It is judged by progress:
            while more than ``hard_limit`` bytes wait for it, it must take some
            of them every ``stall_limit`` seconds; and it may not fall behind by
            more than ``hard_limit`` + ``largest_send`` bytes, so one message
            of up to ``largest_send`` bytes never counts against it by itself.
        hard_limit: Write buffer bytes past which that applies (SEND_HARD_LIMIT).
        largest_send: Server side: the largest message the owner sends.
        stall_limit: Server side: seconds without progress (STALL_LIMIT).
    """

    def __init__(
        self,
        protocol: LenientClientProtocol | LenientServerProtocol,
        owner: Owner,
        *,
        runtime: Runtime,
        close_timeout: float = 10,
        max_queued_messages: int = 1024,
        max_queued_bytes: int = 64 * 1024 * 1024,
        cut_off_slow_peer: bool = False,
        hard_limit: int = SEND_HARD_LIMIT,
        largest_send: int = 0,
        stall_limit: float = STALL_LIMIT,
    ) -> None:
        self.protocol = protocol
        self.owner = owner
        self.runtime = runtime
        # Orders the output: senders on any thread and the I/O thread append
        # serialized frames to _out under it. The protocol object is touched by
        # the I/O thread only (senders read its state).
        self.lock = threading.Lock()
        self._masked = protocol.side is CLIENT
        self._debug = protocol.debug
        self._mask_pool = b""
        self._mask_at = 0
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.close_timeout = close_timeout
        self.max_queued_messages = max_queued_messages
        self.max_queued_bytes = max_queued_bytes
        self.cut_off_slow_peer = cut_off_slow_peer
        self.hard_limit = hard_limit
        self.largest_send = largest_send
        self.stall_limit = stall_limit
        # Sending: bytes built by senders, written by the I/O thread while the
        # transport takes them (what is left waits here, not copied), or, after
        # a pause, by the sender itself (_write_direct).
        self._out: list[bytes | memoryview] = []
        self._out_bytes = 0
        self._flush_pending = False
        self._transport_paused = False  # the transport's buffer is past its high mark
        self._drain_waiters: list[Callable[[bool], None]] = []
        self._waiting = 0  # sends told to wait whose waiter has not been woken yet
        self._hold_for_drain = False  # reading held until the write buffer drains
        self._room = threading.Event()  # set while the write buffer is below its low mark
        self._room.set()
        self.bytes_out = 0  # wire bytes written (under the lock)
        # A plain TCP socket a sender may write to itself, on its own thread, when
        # nothing waits before it (see _write_direct); -1 for TLS and other transports.
        self._fd = -1
        self._last_send = 0.0  # time.monotonic() of the last send
        self.bytes_in = 0  # wire bytes read
        # Receiving: a fragmented message being assembled.
        self._parts: list[bytes | bytearray] | None = None
        self._parts_text = False
        self._decoder: Any = None
        # Hooks: on_queued(payload, text) runs under self.lock for each message
        # queued by send (in wire order); on_flush() on the I/O thread after a write.
        self.on_queued: Callable[[bytes, bool], None] | None = None
        self.on_flush: Callable[[], None] | None = None
        # Backpressure: produced on the I/O thread; consumed from the I/O thread or
        # the owner's lane, so under a lock of its own (a lost update would leave
        # reading paused for good).
        self._consumed_lock = threading.Lock()
        self.produced = self.consumed = 0
        self.produced_bytes = self.consumed_bytes = 0
        self._reading_paused = False
        self._held = b""  # compressed input not parsed yet while reading is paused
        # Closing.
        self._deadline: asyncio.TimerHandle | None = None
        self._grace: asyncio.TimerHandle | None = None
        self.closing_since: float | None = None
        self.aborted_by_deadline = False
        self.lost = False
        self.slow_peer = False  # cut off for not reading (server side)
        self.stalled = False  # ... because it took nothing for stall_limit seconds
        # Judging a slow peer: bytes it had taken when the stall timer was armed.
        self._stall_timer: asyncio.TimerHandle | None = None
        self._stall_armed = False
        self._taken_mark = 0
        self.utf8_error: UnicodeDecodeError | None = None
        # A ProtocolError or PayloadTooBig the splitter found (websockets' own go to parser_exc).
        self.frame_error: ProtocolError | PayloadTooBig | None = None
        # Data frames parsed here (frames.py): the last bytes of the HTTP header
        # block while looking for its end, then the splitter, if this connection
        # may have one: it is decided at the first byte after the header block.
        fresh = protocol.state is CONNECTING and not protocol.debug
        self._head: bytes | None = b"" if fresh else None
        self._split_at_next = protocol.state is OPEN and not protocol.debug
        self._split: FrameSplitter | None = None
        self._handshake_failed = False
        # Keepalive.
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self._ping_sent_at = 0.0
        self._ping_end = 0  # our output stream's offset just past the ping
        self._pong_mark = 0  # bytes the peer had taken when the pong timer was armed
        self.keepalive_failed = False
        self.last_rtt: float | None = None
        self._keepalive: tuple[float, float, bool] | None = None

    # -- transport events (I/O thread) -------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio types it as any transport; a connection is always made over a stream one.
        self.transport = transport  # type: ignore[assignment]
        self._fd = _direct_fd(transport)
        # The transport tells us (pause_writing) when its own buffer is past 64 KiB;
        # our queue in front of it carries the larger high/low marks.
        self._flush_now()

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self._held:
            self._held += data
            return
        if len(data) > FEED_SIZE and self.protocol.extensions:
            self._feed_slices(data)
        else:
            self._feed(data)

    def _feed_slices(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(data), FEED_SIZE):
            self._feed(bytes(view[start : start + FEED_SIZE]))
            if self._reading_paused and start + FEED_SIZE < len(data):
                self._held = bytes(view[start + FEED_SIZE :])
                return

    def _feed(self, data: bytes) -> None:
        if self._head is not None:
            data = self._through_head(data)
            if not data:
                return
        self._parse(data)

    def _parse(self, data: bytes) -> None:
        proto = self.protocol
        if self._split_at_next:
            # websockets' reader holds no byte past the handshake now; without an
            # extension the splitter can take over.
            self._split_at_next = False
            if proto.state is OPEN and not proto.extensions and proto.max_fragment_size is None:
                self._split = FrameSplitter(
                    masked=proto.side is SERVER, max_size=proto.max_message_size
                )
        before = proto.state
        messages: list[Any] = []
        size = 0
        if self._split is not None:
            events, messages, size = self._split_read(data)
        else:
            proto.receive_data(data)
            events = proto.events_received()
        writes = proto.data_to_send()
        if writes:
            self.queue(writes)
        if events or messages:
            self._handle(events, messages, size)
        elif proto.handshake_exc is not None and not self._handshake_failed:
            # A handshake that failed before a whole request or response arrived.
            self._handshake_failed = True
            self.owner.handshake_event(self, None)
        if proto.state is not before or proto.state is not OPEN:
            self._state_changed()
        if self._out:
            self._flush_now()

    def _through_head(self, data: bytes) -> bytes:
        """Give websockets the bytes up to the end of the HTTP header block; return the rest."""
        seen = self._head
        assert seen is not None
        joined = seen + data
        end = joined.find(b"\r\n\r\n")
        if end < 0:
            self._head = joined[-3:]
            self._parse(data)
            return b""
        cut = end + 4 - len(seen)
        self._head = None
        if cut:
            self._parse(data[:cut])
        self._split_at_next = True
        return data[cut:]

    def _split_read(self, data: bytes) -> tuple[list[Any], list[Any], int]:
        """Data frames by the splitter, control frames whole by websockets, in wire order."""
        split = self._split
        proto = self.protocol
        assert split is not None
        messages, size, stop = split.split(data)
        events: list[Any] = []
        while stop is not None and self._split is split:
            if isinstance(stop, bytes):  # a control frame
                proto.receive_data(stop)
                events += proto.events_received()
                if proto.close_rcvd is None and proto.parser_exc is None:
                    more, more_size, stop = split.split(b"")
                    messages += more
                    size += more_size
                    continue
            elif isinstance(stop, UnicodeDecodeError):
                self._fail_utf8(stop)
            elif isinstance(stop, HandOver):  # websockets judges the next frame, and so on
                proto.receive_data(split.rest())
                events += proto.events_received()
            else:
                self.frame_error = stop
                self.fail(1009 if isinstance(stop, PayloadTooBig) else 1002, str(stop))
            self._split = None  # from here on websockets reads (and discards) everything
        return events, messages, size

    def eof_received(self) -> bool | None:
        proto = self.protocol
        proto.receive_eof()
        events = proto.events_received()  # e.g. an HTTP response read up to EOF
        writes = proto.data_to_send()
        if writes:
            self.queue(writes)
            self._flush_now()
        if events:
            self._handle(events, [], 0)
        self._state_changed()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost:
            return
        if self._held:
            # Received before the end but held back by backpressure: not lost.
            held, self._held = self._held, b""
            self._reading_paused = False
            self._feed(held)
        self.lost = True
        for timer in (
            self._deadline,
            self._grace,
            self._ping_timer,
            self._pong_timer,
            self._stall_timer,
        ):
            if timer is not None:
                timer.cancel()
        proto = self.protocol
        proto.receive_eof()  # idempotent; moves the protocol to CLOSED
        events = proto.events_received()
        proto.data_to_send()
        with self.lock:
            self._out.clear()
            self._out_bytes = 0
        self._room.set()
        for event in events:
            if not isinstance(event, Frame):
                self.owner.handshake_event(self, event)
        self._wake_drain_waiters()
        try:
            self.owner.closed(self, exc)
        except Exception:
            logger.exception("internal error reporting the end of a connection")

    def pause_writing(self) -> None:
        self._transport_paused = True

    def resume_writing(self) -> None:
        self._transport_paused = False
        if self._out:
            self._flush_now()
        self._wake_drain_waiters()

    # -- received frames (I/O thread) ------------------------------------------------
    def _handle(self, events: list[Any], messages: list[Any], size: int) -> None:
        for event in events:
            if not isinstance(event, Frame):
                self.owner.handshake_event(self, event)
                continue
            opcode = event.opcode
            # What websockets' parser reads is bytes or bytearray; a memoryview only
            # ever comes in a frame built to be sent.
            payload = cast("bytes | bytearray", event.data)
            if opcode is TEXT or opcode is BINARY:
                if event.fin:
                    if opcode is TEXT:
                        try:
                            message: Any = payload.decode()
                        except UnicodeDecodeError as exc:
                            self._fail_utf8(exc)
                            break
                    else:
                        # bytes, as API.md says: without compression the parser
                        # hands over a bytearray (bytes() of bytes is no copy).
                        message = bytes(payload)
                    messages.append(message)
                    size += len(payload)
                    continue
                self._parts = [payload]
                self._parts_text = opcode is TEXT
                if self._parts_text:
                    self._decoder = codecs.getincrementaldecoder("utf-8")()
                    if not self._check_utf8(payload, False):
                        break
            elif opcode is CONT:
                parts = self._parts
                if parts is None:  # the protocol refuses this; nothing to assemble
                    continue
                parts.append(payload)
                if self._parts_text and not self._check_utf8(payload, event.fin):
                    break
                if event.fin:
                    self._parts = None
                    data = b"".join(parts)
                    messages.append(data.decode() if self._parts_text else data)
                    size += len(data)
            elif opcode is PONG:
                self._pong(payload)
            elif opcode is CLOSE:
                self._parts = None  # an unfinished message is dropped (RFC 6455 5.4)
            elif opcode is PING:  # the protocol already queued the pong
                self.owner.keepalive(self, "ping", "<", None)
                if self.protocol.answer_pings:
                    self.owner.keepalive(self, "pong", ">", None)
        if messages:
            self.produced += len(messages)
            self.produced_bytes += size
            self.owner.received(self, messages, size)
            if self._over_limit():
                self._pause_reading()

    def _check_utf8(self, data: bytes | bytearray, final: bool) -> bool:
        # Fail fast on invalid text, as soon as the bad byte arrives (Autobahn 6.x).
        try:
            self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            self._fail_utf8(exc)
            return False
        return True

    def _fail_utf8(self, exc: UnicodeDecodeError) -> None:
        self._parts = None
        self.utf8_error = exc
        self.fail(1007, f"{exc.reason} at position {exc.start}")

    # -- backpressure ------------------------------------------------------------
    def _over_limit(self) -> bool:
        return (
            self.produced - self.consumed > self.max_queued_messages
            or self.produced_bytes - self.consumed_bytes > self.max_queued_bytes
        )

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None and not self.lost:
            self._reading_paused = True
            self.transport.pause_reading()
            # The owner may have caught up between the check and the pause.
            if not self._over_limit():
                self._resume_reading()

    def consumed_some(self, count: int, size: int) -> None:
        """The owner delivered ``count`` messages of ``size`` bytes; from any thread."""
        with self._consumed_lock:
            self.consumed += count
            self.consumed_bytes += size
        if self._reading_paused and (
            self.produced - self.consumed <= self.max_queued_messages // 2
            and self.produced_bytes - self.consumed_bytes <= self.max_queued_bytes // 2
        ):
            self.runtime.call_soon(self._resume_reading)

    def _resume_reading(self) -> None:
        if not self._reading_paused or self.lost:
            return
        self._reading_paused = False
        held, self._held = self._held, b""
        if held:
            self._feed_slices(held)  # may pause again
        if not self._reading_paused and not self._hold_for_drain and self.transport is not None:
            self.transport.resume_reading()

    def queued(self) -> tuple[int, int]:
        """Received messages and bytes the owner has not consumed yet."""
        return self.produced - self.consumed, self.produced_bytes - self.consumed_bytes

    # -- sending (any thread) ------------------------------------------------------
    @property
    def state(self) -> State:
        return self.protocol.state

    def send(self, payload: bytes, text: bool) -> bool:
        """Queue one message; True if the caller must wait for :meth:`when_drained`.

        Every True must be followed by one ``when_drained`` call.

        Raises:
            InvalidState: The connection is not open.
            BufferError: The write buffer is past SEND_HARD_LIMIT (client side).
        """
        if not self.cut_off_slow_peer and self._buffered() > SEND_HIGH_WATER:
            self._wait_for_room()
        with self.lock:
            proto = self.protocol
            # Checked under the lock that orders the output: once the I/O thread
            # moved the protocol past OPEN, its close frame can only come after.
            if proto.state is not OPEN:
                raise InvalidState(f"connection is {proto.state.name.lower()}")
            data = self._frame(payload, text)
            # Before the bytes can leave: a reply read on the I/O thread is
            # recorded after this message, never before it.
            if self.on_queued is not None:
                self.on_queued(payload, text)
            # A send right behind another (a burst) is queued, so that the burst
            # goes out in few writes; one after a pause goes out at once.
            now = time.monotonic()
            direct = now - self._last_send > DIRECT_GAP and self._write_direct(data)
            self._last_send = now
            wait = False if direct else self._queue_locked(data)
            if direct and self.on_flush is not None:
                self.on_flush()
            # Once one sender waits, later ones wait behind it: promises keep send order.
            if wait or self._waiting:
                self._waiting += 1
                return True
            return False

    def _wait_for_room(self) -> None:
        """Pace a plain sending thread: wait while more than SEND_HIGH_WATER is unwritten.

        A thread that may block (a notebook cell, a script, a worker thread)
        waits, as on a blocking socket, until the write buffer drains below
        SEND_LOW_WATER, at most SEND_BLOCK_LIMIT seconds. Checked before
        queuing, so an ``await``ed send, whose promise waits for that drain,
        never blocks here. The I/O thread and callbacks never wait (the drain
        may depend on them): their sends keep pending promises, and past
        ``hard_limit`` they are refused.

        Raises:
            BufferError: The wait timed out, or ``hard_limit`` is passed where
                waiting could deadlock.
        """
        runtime = self.runtime
        if runtime.in_loop_thread() or runtime.in_callback_thread():
            if self._buffered() > self.hard_limit:
                raise BufferError(self._buffered())
            return
        deadline = time.monotonic() + SEND_BLOCK_LIMIT
        # A connection that leaves OPEN refuses the send: no need to wait for that.
        while self._buffered() > SEND_HIGH_WATER and self.protocol.state is OPEN:
            self._room.clear()
            if self.protocol.state is not OPEN:  # closing began before the clear
                break
            runtime.call_soon(self._wake_drain_waiters)  # re-checks on the I/O thread
            if not self._room.wait(max(deadline - time.monotonic(), 0)):
                raise BufferError(self._buffered())

    def _write_direct(self, data: list[bytes]) -> bool:
        """Write a frame's pieces to the socket on the sender's thread; lock held. True if done.

        Only when nothing waits before it (no queued bytes, no flush on its way,
        an empty transport buffer) on a plain TCP socket: then the frame goes out
        with one system call instead of a wake-up of the I/O thread and a write
        there, which is most of a round trip's cost. What the socket does not
        take at once is queued as usual, behind it. Any error leaves the bytes
        to the transport, which reports it on the I/O thread.
        """
        if self._fd < 0 or self._out or self._flush_pending or self.lost:
            return False
        if len(data) > 1 and not hasattr(os, "writev"):  # not on every system
            return False
        transport = self.transport
        if transport is None or transport.get_write_buffer_size() or transport.is_closing():
            return False
        try:
            # Header and payload in one system call, the payload not copied.
            written = os.write(self._fd, data[0]) if len(data) == 1 else os.writev(self._fd, data)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError:
            return False
        self.bytes_out += written
        rest: list[bytes | memoryview] = []
        for piece in data:
            if written >= len(piece):
                written -= len(piece)
                continue
            rest.append(memoryview(piece)[written:] if written else piece)
            written = 0
        if rest:
            self._queue_locked(rest)
        return True

    def _frame(self, payload: bytes, text: bool) -> list[bytes]:
        """One whole data frame, serialized, in one or two pieces; called with the lock held.

        Only data frames are built here, on the sender's thread; the protocol
        object itself is driven by the I/O thread alone. With an extension
        (permessage-deflate) websockets serializes the frame, compressing it;
        without, the header and the mask are written here, with masking keys
        taken from a pool of ``os.urandom`` bytes instead of one system call
        per frame, and a payload of DIRECT_WRITE bytes or more stays a piece of
        its own rather than being copied behind its header.
        """
        proto = self.protocol
        if proto.extensions:
            frame = Frame(TEXT if text else BINARY, payload)
            if self._debug:
                proto.logger.debug("> %s", frame)
            return [frame.serialize(mask=self._masked, extensions=proto.extensions)]
        if self._debug:
            proto.logger.debug("> %s", Frame(TEXT if text else BINARY, payload))
        length = len(payload)
        first = 0x81 if text else 0x82  # FIN + opcode
        mask_bit = 0x80 if self._masked else 0
        if length < 126:
            header = bytes((first, mask_bit | length))
        elif length < 65536:
            header = _HEADER_16.pack(first, mask_bit | 126, length)
        else:
            header = _HEADER_64.pack(first, mask_bit | 127, length)
        if self._masked:
            pool, at = self._mask_pool, self._mask_at
            if at + 4 > len(pool):
                pool, at = self._mask_pool, self._mask_at = os.urandom(4096), 0
            mask = pool[at : at + 4]
            self._mask_at = at + 4
            header += mask
            payload = apply_mask(payload, mask)
        if length < DIRECT_WRITE:
            return [header + payload]
        # Kept as it is until written: a mutable buffer is copied now.
        return [header, payload if type(payload) is bytes else bytes(payload)]

    def send_message(self, message: str | bytes) -> bool:
        """``send`` for a ``str`` (text) or ``bytes`` (binary) message."""
        if isinstance(message, str):
            return self.send(message.encode(), True)
        return self.send(message, False)

    def send_frames(self, build: Callable[[Any], None]) -> None:
        """Run ``build(protocol)`` and queue what it wrote; I/O thread (lab commands)."""
        build(self.protocol)
        self.queue(self.protocol.data_to_send())

    def close(self, code: int, reason: str) -> bool:
        """Start the closing handshake; False if it had already started. I/O thread."""
        proto = self.protocol
        if proto.state is not OPEN:
            return False
        proto.send_close(code, reason)
        self.queue(proto.data_to_send())
        self._state_changed()
        return True

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection (RFC 6455 7.1.7) with ``code``; I/O thread."""
        proto = self.protocol
        self._split = None  # websockets discards what comes next
        if proto.state is OPEN or proto.state is CLOSING:
            proto.fail(code, reason)
        writes = proto.data_to_send()
        if writes:
            self.queue(writes)
            self._flush_now()
        self._state_changed()

    def ping(self, payload: bytes) -> None:
        """Send a ping; I/O thread."""
        proto = self.protocol
        if proto.state is not OPEN:
            return
        proto.send_ping(payload)
        self.queue(proto.data_to_send())

    def queue(self, writes: list[bytes]) -> None:
        """Queue bytes the protocol produced (e.g. the opening request) for writing."""
        with self.lock:
            self._queue_locked(writes)

    def _queue_locked(self, writes: list[bytes] | list[bytes | memoryview]) -> bool:
        out = self._out
        for chunk in writes:
            out.append(chunk)
            self._out_bytes += len(chunk)
        if not self._flush_pending:
            self._flush_pending = True
            runtime = self.runtime
            if runtime.in_loop_thread():
                # A reply written while handling a read goes out with the others.
                self.loop.call_soon(self._flush_now)
            else:
                runtime.call_soon(self._flush_now)
        # A client's send waits past SEND_HIGH_WATER in all, as documented; not
        # each time the transport's own 64 KiB buffer is full, which at 4 KiB
        # made nearly every send a pending promise and a drain waiter. The
        # server keeps the transport's mark: its echo holds reading on it.
        if self._out_bytes > SEND_HIGH_WATER or (
            self._transport_paused and self._buffered() > SEND_HIGH_WATER
        ):
            if self.cut_off_slow_peer and not self.slow_peer:
                self._judge_locked()
            return True
        return False

    def _judge_locked(self) -> None:
        """Judge the peer by what waits for it; called with the lock held.

        Never acts inline: the caller holds the lock that sending the close takes.
        """
        backlog = self._buffered()
        if backlog <= self.hard_limit:
            return
        if backlog > self.hard_limit + self.largest_send:
            # Behind by more than any one message explains: memory stays bounded.
            self.slow_peer = True
            self.loop.call_soon_threadsafe(self._cut_off)
        elif not self._stall_armed:
            self._stall_armed = True
            self.loop.call_soon_threadsafe(self._arm_stall_timer)

    def _buffered(self) -> int:
        transport = self.transport
        size = transport.get_write_buffer_size() if transport is not None else 0
        return self._out_bytes + size

    def _taken(self) -> int:
        """Bytes the peer's TCP has acknowledged so far, as closely as the OS says.

        A socket turns writable again only once a third of its send buffer is
        free, so the transport's buffer alone moves in steps of megabytes; the
        kernel's unacknowledged count follows the peer byte by byte.
        """
        transport = self.transport
        if transport is None:
            return self.bytes_out
        held = transport.get_write_buffer_size()
        extra = getattr(transport, "get_extra_info", None)  # duck-typed transports may lack it
        sock = extra("socket") if extra is not None else None
        if _OUTQ is not None and sock is not None:
            with contextlib.suppress(OSError, ValueError):  # closed: the transport's count
                held += struct.unpack("i", fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0"))[0]
        return self.bytes_out - held

    def _arm_stall_timer(self) -> None:
        if self.lost or self.slow_peer:
            return
        self._taken_mark = self._taken()
        self._stall_timer = self.loop.call_later(self.stall_limit, self._check_progress)

    def _check_progress(self) -> None:
        """A peer with more than ``hard_limit`` bytes waiting must have taken some."""
        self._stall_timer = None
        if self.lost or self.slow_peer:
            return
        taken = self._taken()
        with self.lock:  # a sender judging now sees either the timer or no mark
            caught_up = self._buffered() <= self.hard_limit
            if caught_up:
                self._stall_armed = False  # a later backlog arms it again
        if caught_up:
            return
        if taken > self._taken_mark:
            self._taken_mark = taken  # slow but moving: judge the next period
            self._stall_timer = self.loop.call_later(self.stall_limit, self._check_progress)
        else:
            self.slow_peer = self.stalled = True
            self._cut_off()

    def _cut_off(self) -> None:
        # The close frame goes after what waits: a peer that resumes reading
        # gets it; one that never does is aborted at closeTimeout.
        if self.lost or self.transport is None:
            return
        logger.debug("= the peer is not reading: failing the connection with 1008")
        self.fail(1008, "the client is not reading what the server sends")

    def _flush_now(self, everything: bool = False) -> None:
        """Hand what is queued to the transport while it takes it; I/O thread.

        Writing stops once the transport pauses (its own buffer is past its
        mark) and goes on at ``resume_writing``: large payloads reach the socket
        a slice at a time straight from the sender's bytes, instead of being
        joined into one copy and copied again into the transport's buffer.
        ``everything``: hand it all over now (the transport is about to close).
        """
        transport = self.transport
        if transport is None:
            return
        # Written under the lock, so that a sender's direct write (_write_direct)
        # can never come between taking these bytes and writing them.
        with self.lock:
            self._flush_pending = False
            if not self._out or (self._transport_paused and not everything):
                return
            out, self._out = self._out, []
            self._out_bytes = 0
            if self.lost:
                return
            rest = self._write(transport, out, everything)
            if rest:  # before what senders queued meanwhile
                self._out[:0] = rest
                self._out_bytes += sum(map(len, rest))
        if self.on_flush is not None:
            self.on_flush()
        if self._hold_for_drain or (
            (self._drain_waiters or not self._room.is_set()) and not self._transport_paused
        ):
            self._wake_drain_waiters()

    def _write(
        self, transport: asyncio.Transport, out: list[bytes | memoryview], everything: bool
    ) -> list[bytes | memoryview]:
        """Write ``out`` in order; return what is left once the transport paused.

        Small pieces go out joined into one write, as they come; a large
        payload goes a slice at a time, only while the transport is not
        paused, and what follows it waits behind it. An empty piece (SEND_EOF)
        half-closes after what comes before it.
        """
        small: list[bytes | memoryview] = []
        for index, chunk in enumerate(out):
            size = len(chunk)
            if size and size < DIRECT_WRITE:
                small.append(chunk)
                continue
            if not size:  # SEND_EOF
                if small:
                    self._write_piece(transport, b"".join(small))
                if transport.can_write_eof():
                    transport.write_eof()
                return []
            if self._transport_paused and not everything:
                if small:
                    self._write_piece(transport, b"".join(small))
                return out[index:]
            view = memoryview(chunk)
            if small:  # the payload's head goes in the same write as its header
                small.append(view[:DIRECT_WRITE])
                self._write_piece(transport, b"".join(small))
                small, view = [], view[DIRECT_WRITE:]
            for start in range(0, len(view), WRITE_SLICE):
                if self._transport_paused and not everything:
                    return [view[start:], *out[index + 1 :]]
                self._write_piece(transport, view[start : start + WRITE_SLICE])
        if small:
            self._write_piece(transport, b"".join(small))
        return []

    def _write_piece(self, transport: asyncio.Transport, data: bytes | memoryview) -> None:
        self.bytes_out += len(data)
        transport.write(data)

    def when_drained(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(True)`` on the I/O thread once the write buffer is below its
        low mark, or ``callback(False)`` if the connection ends first."""
        self.runtime.call_soon(self._add_drain_waiter, callback)

    def _add_drain_waiter(self, callback: Callable[[bool], None]) -> None:
        self._drain_waiters.append(callback)
        self._wake_drain_waiters()

    def hold_reading_until_drained(self) -> None:
        """Stop reading from the peer until the write buffer drains; I/O thread.

        For a server replying to the peer it reads from (echo), once a send
        said to wait (more than SEND_HIGH_WATER unwritten): a peer that sends
        faster than it reads is slowed down through TCP instead of being cut
        off. Reading goes on once no more than SEND_LOW_WATER is unwritten,
        while the rest still drains, so replies and requests keep flowing both
        ways instead of taking turns.
        """
        if self._hold_for_drain or self.lost or self.transport is None:
            return
        self._hold_for_drain = True
        self.transport.pause_reading()
        self._wake_drain_waiters()

    def _release_hold(self) -> None:
        self._hold_for_drain = False
        if not self._reading_paused and not self.lost and self.transport is not None:
            self.transport.resume_reading()

    def _wake_drain_waiters(self) -> None:
        if self._hold_for_drain and (self.lost or self._buffered() <= SEND_LOW_WATER):
            self._release_hold()
        if not self._drain_waiters and self._room.is_set():
            return
        if not self.lost and (self._transport_paused or self._buffered() > SEND_LOW_WATER):
            return
        self._room.set()
        if not self._drain_waiters:
            return
        waiters, self._drain_waiters = self._drain_waiters, []
        for callback in waiters:
            callback(not self.lost)
        with self.lock:
            self._waiting -= len(waiters)

    # -- closing (I/O thread) --------------------------------------------------------
    def _state_changed(self) -> None:
        proto = self.protocol
        state = proto.state
        if state is OPEN or self.lost or (state is CONNECTING and not proto.eof_sent):
            return
        if self.closing_since is None:
            self.closing_since = time.monotonic()
            self._room.set()  # a sender held in send() is refused now, not once drained
            if self.close_timeout:
                self._deadline = self.loop.call_later(self.close_timeout, self._deadline_passed)
            self.owner.closing(self)
        if state is CLOSED and self.transport is not None:
            self._flush_now(everything=True)  # what waits in our queue goes first
            self.transport.close()
        elif (
            self._grace is None
            and proto.close_sent is not None
            and proto.close_rcvd is not None
            and self.transport is not None
        ):
            # Both close frames crossed: the TCP connection may end. A server
            # ends it at once; a client gives the server a moment to go first.
            if proto.eof_sent and not self.transport.can_write_eof():
                # TLS cannot half-close: the server ends TCP now, or both sides
                # would wait out their grace for the other's EOF.
                self._end_transport()
            elif proto.eof_sent:
                self._grace = self.loop.call_later(CLOSE_GRACE, self._end_transport)
            else:
                self._grace = self.loop.call_later(
                    min(CLOSE_GRACE, self.close_timeout or CLOSE_GRACE), self._end_transport
                )

    def _end_transport(self) -> None:
        if not self.lost and self.transport is not None:
            self._flush_now(everything=True)
            self.transport.close()

    def _deadline_passed(self) -> None:
        if not self.lost and self.transport is not None:
            self.aborted_by_deadline = True
            logger.debug("= closing took over closeTimeout (%s s): aborting", self.close_timeout)
            self.transport.abort()

    def abort(self) -> None:
        """Cut the transport now, without a closing handshake; I/O thread."""
        if not self.lost and self.transport is not None:
            self.transport.abort()

    # -- keepalive (I/O thread) ---------------------------------------------------------
    def start_keepalive(
        self,
        interval: float,
        timeout: float,
        *,
        fail_with_close: bool,
        zero_timeout_hangs_up: bool = False,
    ) -> None:
        """Ping every ``interval`` s; no pong within ``timeout`` s ends the connection.

        A client aborts at once (the peer is gone, a closing handshake would only
        wait); a server sends 1011 first, as websockets' server does.
        ``zero_timeout_hangs_up``: a ``timeout`` of 0 means libwebsockets' rule
        (hang up ``interval`` s after opening, without a ping) rather than no limit.
        """
        if interval <= 0:
            return
        self._keepalive = (interval, timeout, fail_with_close)
        if zero_timeout_hangs_up and timeout <= 0:
            self._pong_timer = self.loop.call_later(interval, self._pong_missing)
            return
        self._ping_timer = self.loop.call_later(interval, self._send_ping)

    def _send_ping(self) -> None:
        if self.lost or self.protocol.state is not OPEN or self._keepalive is None:
            return
        interval, timeout, _ = self._keepalive
        self._ping_timer = self.loop.call_later(interval, self._send_ping)
        if self._ping_payload is not None and self._pong_timer is not None:
            return  # the last ping is still unanswered: its own timer judges the peer
        self._ping_payload = os.urandom(4)
        self._ping_sent_at = time.monotonic()
        self.ping(self._ping_payload)
        with self.lock:
            self._ping_end = self.bytes_out + self._out_bytes
        self._pong_mark = self._taken()
        self.owner.keepalive(self, "ping", ">", None)
        if timeout > 0:
            self._pong_timer = self.loop.call_later(timeout, self._pong_missing)

    def _pong(self, data: bytes | bytearray) -> None:
        if self._ping_payload is not None and data == self._ping_payload:
            self.last_rtt = time.monotonic() - self._ping_sent_at
            self._ping_payload = None
            self.owner.keepalive(self, "pong", "<", self.last_rtt)
            if self._pong_timer is not None:
                self._pong_timer.cancel()
                self._pong_timer = None

    def _pong_missing(self) -> None:
        self._pong_timer = None
        if self.lost or self._keepalive is None:
            return
        taken = self._taken()
        if self._pong_mark < self._ping_end and taken > self._pong_mark:
            # The ping waited behind what we sent before it, and the peer is
            # reading its way there (its TCP may have the ping in a buffer the
            # application has yet to read): a slow reader, not a dead one. It
            # gets a full pongTimeout once its TCP has taken the ping.
            self._pong_mark = taken
            self._pong_timer = self.loop.call_later(self._keepalive[1], self._pong_missing)
            return
        self.keepalive_failed = True
        if self._keepalive[2]:
            self.fail(1011, "keepalive ping timeout")
        else:
            self.abort()
