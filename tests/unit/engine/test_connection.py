"""``engine.connection``: a :class:`Connection` fed bytes through a transport written here.

No socket: the connection is an asyncio protocol, so a test plays the transport
(what it writes is collected) and plays the peer with websockets' own sans-I/O
protocol, which parses every frame the connection sends and builds the frames
it receives. The runtime's scheduling is replaced by the test's own loop: the
test's thread plays the I/O thread, so no thread is started either.

Covered: frame headers and client masking, receiving (batches, fragments,
UTF-8, the hand-over from websockets' handshake to the data-frame splitter),
the close rules of ``engine.closing`` (who reports which code, and why an end
was a failure; RFC 6455 §5.4 and §7), the closing deadline, keepalive, and
backpressure both ways.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import struct
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState
from websockets.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, Close, Frame
from websockets.protocol import CLOSED, CLOSING, OPEN
from websockets.server import ServerProtocol
from websockets.uri import parse_uri
from websockets.utils import accept_key

from ohws_jupyter import CloseResult
from ohws_jupyter.engine.closing import close_result_of, failure_of
from ohws_jupyter.engine.connection import (
    SEND_HIGH_WATER,
    SEND_LOW_WATER,
    Connection,
    LenientClientProtocol,
    LenientServerProtocol,
)

URI = parse_uri("ws://127.0.0.1/")


class ThisLoop:
    """The runtime each connection is given: the test's running loop is its I/O thread."""

    def in_loop_thread(self) -> bool:
        return True

    def in_callback_thread(self) -> bool:
        return False

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        asyncio.get_running_loop().call_soon(fn, *args)


@pytest.fixture(autouse=True)
def no_errors_in_callbacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """An exception inside a loop callback (a flush, a timer) is only logged: fail on it."""
    yield
    records = caplog.get_records("call")  # at teardown, caplog.records holds teardown's
    errors = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    assert errors == []


def on_a_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an ``async def`` test on a fresh event loop."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


class Transport:
    """What an asyncio transport offers a protocol; it keeps what is written.

    As asyncio's own transports do, ``close`` and ``abort`` report the end to the
    protocol on the loop's next turn, and later writes are dropped.
    """

    def __init__(self) -> None:
        self.protocol: Connection | None = None
        self.data = bytearray()
        self.eof = False
        self.closed = False
        self.aborted = asyncio.Event()
        self.reading = True
        self.buffered = 0
        self.dropped = 0

    def write(self, data: bytes) -> None:
        if self.closed:
            self.dropped += len(data)
            return
        self.data += data

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return True

    def _end(self) -> None:
        if not self.closed:
            self.closed = True
            assert self.protocol is not None
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def close(self) -> None:
        self._end()

    def abort(self) -> None:
        self.aborted.set()
        self._end()

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def take(self) -> bytes:
        data, self.data = bytes(self.data), bytearray()
        return data


class FillingTransport(Transport):
    """A transport that pauses its protocol past 64 KiB buffered, as asyncio's do.

    Nothing leaves it until the test calls :meth:`drain`, which empties it and
    resumes the protocol. ``writes`` keeps each object written, as written.
    """

    HIGH = 64 * 1024

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.writes: list[Any] = []

    def write(self, data: Any) -> None:
        self.writes.append(data)
        super().write(data)
        self.buffered += len(data)
        if self.buffered > self.HIGH and not self.paused:
            self.paused = True
            assert self.protocol is not None
            self.protocol.pause_writing()

    def drain(self) -> None:
        self.buffered = 0
        if self.paused:
            self.paused = False
            assert self.protocol is not None
            self.protocol.resume_writing()


class Owner:
    """Records what the connection reports, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def handshake_event(self, conn: Connection, event: Any) -> None:
        self.calls.append(("handshake", event))

    def received(self, conn: Connection, messages: list[Any], size: int) -> None:
        self.calls.append(("received", messages, size))

    def keepalive(self, conn: Connection, kind: str, direction: str, rtt: float | None) -> None:
        self.calls.append(("keepalive", kind, direction, rtt is not None))

    def closing(self, conn: Connection) -> None:
        self.calls.append(("closing",))

    def closed(self, conn: Connection, exc: BaseException | None) -> None:
        self.calls.append(("closed", exc))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == kind]


class Wire:
    """An open :class:`Connection` on a :class:`Transport`, and its peer (websockets' own).

    Args:
        side: ``'client'`` (our side masks what it sends) or ``'server'``.
    """

    def __init__(
        self, side: str = "client", transport: Transport | None = None, **options: Any
    ) -> None:
        if side == "client":
            ours: Any = LenientClientProtocol(URI, state=OPEN)
            self.peer: Any = ServerProtocol(state=OPEN, max_size=None)
        else:
            ours = LenientServerProtocol(state=OPEN)
            self.peer = ClientProtocol(URI, state=OPEN, max_size=None)
        self.side = side
        self.owner = Owner()
        self.conn = Connection(ours, self.owner, runtime=ThisLoop(), **options)
        self.transport = transport or Transport()
        self.transport.protocol = self.conn
        self.conn.connection_made(self.transport)  # type: ignore[arg-type]

    def receive(self, *frames: Frame) -> None:
        """Feed frames to the connection in one read, as the peer sends them."""
        masked = self.side == "server"  # a client peer masks
        self.conn.data_received(b"".join(f.serialize(mask=masked) for f in frames))

    async def sent(self) -> list[Frame]:
        """The frames the connection wrote since last asked, parsed by the peer."""
        await asyncio.sleep(0)  # the connection writes on the loop's next turn
        self.peer.receive_data(self.transport.take())
        self.peer.data_to_send()  # the peer's own replies are not needed
        return [e for e in self.peer.events_received() if isinstance(e, Frame)]


def close_frame(code: int, reason: str = "") -> Frame:
    return Frame(CLOSE, Close(code, reason).serialize())


def close_of(frame: Frame) -> tuple[int, str]:
    assert frame.opcode is CLOSE
    close = Close.parse(frame.data)
    return close.code, close.reason


# -- frames we build ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "header_size", "length_field"),
    [(0, 2, 0), (125, 2, 125), (126, 4, 126), (65535, 4, 126), (65536, 10, 127)],
)
@on_a_loop
async def test_a_client_frame_has_the_right_length_field_and_a_mask(
    size: int, header_size: int, length_field: int
) -> None:
    wire = Wire("client")
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert wire.conn.send_message(payload) is False  # no need to wait
    await asyncio.sleep(0)
    data = wire.transport.take()
    assert data[0] == 0x82  # FIN, binary
    assert data[1] == 0x80 | length_field  # the mask bit is set by a client
    if length_field == 126:
        assert struct.unpack("!H", data[2:4])[0] == size
    elif length_field == 127:
        assert struct.unpack("!Q", data[2:10])[0] == size
    mask = data[header_size : header_size + 4]
    body = data[header_size + 4 :]
    assert len(body) == size
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)) == payload
    wire.peer.receive_data(data)
    assert wire.peer.events_received() == [Frame(BINARY, payload)]


@on_a_loop
async def test_each_client_frame_has_its_own_mask_even_past_the_pool() -> None:
    wire = Wire("client")
    for i in range(1100):  # 4 bytes of mask each: more than one 4096-byte pool
        wire.conn.send_message(f"m{i}")
    await asyncio.sleep(0)
    data = wire.transport.take()
    masks = set()
    at = 0
    while at < len(data):
        length = data[at + 1] & 0x7F
        masks.add(data[at + 2 : at + 6])
        at += 6 + length
    assert len(masks) > 1000  # 4 random bytes each: a repeat is possible, a pattern is not
    wire.peer.receive_data(data)
    assert [f.data.decode() for f in wire.peer.events_received()] == [f"m{i}" for i in range(1100)]


@on_a_loop
async def test_a_server_frame_is_never_masked() -> None:
    wire = Wire("server")
    wire.conn.send_message("héllo")
    await asyncio.sleep(0)
    assert wire.transport.take() == bytes([0x81, 6]) + "héllo".encode()


@on_a_loop
async def test_sends_go_out_in_order_in_one_write() -> None:
    wire = Wire("client")
    for i in range(5):
        wire.conn.send_message(str(i) if i % 2 else bytes([i]))
    frames = await wire.sent()
    assert [(f.opcode, f.data) for f in frames] == [
        (BINARY, b"\x00"),
        (TEXT, b"1"),
        (BINARY, b"\x02"),
        (TEXT, b"3"),
        (BINARY, b"\x04"),
    ]
    assert wire.conn.bytes_out == sum(2 + 4 + len(f.data) for f in frames)


# -- what we receive ------------------------------------------------------------------------------
@on_a_loop
async def test_whole_messages_of_one_read_reach_the_owner_together() -> None:
    wire = Wire("client")
    wire.receive(Frame(TEXT, "é1".encode()), Frame(BINARY, b"\x00\xff"), Frame(TEXT, b"3"))
    assert wire.owner.of("received") == [(["é1", b"\x00\xff", "3"], 6)]
    assert wire.conn.queued() == (3, 6)
    wire.conn.consumed_some(3, 6)
    assert wire.conn.queued() == (0, 0)


@on_a_loop
async def test_a_fragmented_message_is_assembled_even_inside_a_character() -> None:
    wire = Wire("client")
    data = "aé€😀".encode()
    wire.receive(Frame(TEXT, data[:2], fin=False))  # cuts 'é' in half
    wire.receive(Frame(CONT, data[2:5], fin=False))
    assert wire.owner.of("received") == []
    wire.receive(Frame(CONT, data[5:], fin=True))
    assert wire.owner.of("received") == [(["aé€😀"], len(data))]


@on_a_loop
async def test_invalid_utf8_fails_the_connection_with_1007() -> None:
    wire = Wire("client")
    wire.receive(Frame(TEXT, b"ok", fin=False), Frame(CONT, b"\xff", fin=True))
    assert wire.owner.of("received") == []
    assert wire.conn.utf8_error is not None
    (frame,) = await wire.sent()
    assert close_of(frame)[0] == 1007
    assert close_result_of(wire.conn.protocol).code == 1007
    assert wire.owner.of("closing") == [()]
    reason, cause = failure_of(wire.conn, None)
    assert reason == "invalid-utf8" and isinstance(cause, UnicodeDecodeError)


@on_a_loop
async def test_a_ping_is_answered_with_its_payload() -> None:
    wire = Wire("client")
    wire.receive(Frame(PING, b"are you there"))
    assert await wire.sent() == [Frame(PONG, b"are you there")]
    assert wire.owner.of("keepalive") == [("ping", "<", False), ("pong", ">", False)]


# -- the close rules ------------------------------------------------------------------------------
@on_a_loop
async def test_a_peers_close_is_echoed_and_reported_with_its_code() -> None:
    wire = Wire("client")
    wire.receive(close_frame(4001, "kicked"))
    (reply,) = await wire.sent()
    assert close_of(reply) == (4001, "kicked")  # RFC 6455 §5.5.1: echo the status code
    assert wire.conn.state is CLOSING and wire.owner.of("closing") == [()]
    assert close_result_of(wire.conn.protocol) == CloseResult(4001, "kicked")
    assert failure_of(wire.conn, None) is None  # a clean end: no 'error' event
    # A client lets the server end TCP first (§7.1.1): not at once.
    await asyncio.sleep(0)
    assert not wire.transport.eof and not wire.transport.closed
    assert not wire.transport.aborted.is_set()


@on_a_loop
async def test_a_server_ends_tcp_once_both_close_frames_crossed() -> None:
    wire = Wire("server")
    assert wire.conn.close(1001, "going away") is True
    (frame,) = await wire.sent()
    assert close_of(frame) == (1001, "going away")
    wire.receive(close_frame(1001, "going away"))
    await asyncio.sleep(0)
    assert wire.transport.eof  # RFC 6455 §7.1.1: the server ends TCP first, at once
    assert close_result_of(wire.conn.protocol) == CloseResult(1001, "going away")
    wire.conn.eof_received()  # then the client ends its side
    assert wire.conn.state is CLOSED and wire.transport.closed
    await asyncio.sleep(0)
    assert wire.owner.of("closed") == [(None,)]


@on_a_loop
async def test_our_close_starts_once_and_we_report_the_code_we_sent() -> None:
    wire = Wire("client")
    assert wire.conn.close(4000, "done") is True
    assert wire.conn.close(1000, "again") is False  # the closing handshake already started
    (frame,) = await wire.sent()
    assert close_of(frame) == (4000, "done")
    wire.receive(close_frame(1000, "ack"))  # whatever the peer answers
    assert close_result_of(wire.conn.protocol) == CloseResult(4000, "done")
    assert wire.owner.of("closing") == [()]
    with pytest.raises(InvalidState):
        wire.conn.send_message("too late")


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
@on_a_loop
async def test_a_close_code_rfc_6455_forbids_from_the_peer_fails_with_1002(code: int) -> None:
    wire = Wire("client")
    wire.receive(Frame(CLOSE, struct.pack("!H", code) + b"x"))
    (frame,) = await wire.sent()
    assert close_of(frame)[0] == 1002
    assert close_result_of(wire.conn.protocol).code == 1002
    assert failure_of(wire.conn, None)[0] == "protocol"


@on_a_loop
async def test_a_close_inside_a_fragmented_message_is_answered_not_failed() -> None:
    # RFC 6455 §5.4 lets control frames arrive between fragments; the unfinished
    # message is dropped and the close answered as usual (Autobahn 7.1.5).
    wire = Wire("client")
    wire.receive(Frame(TEXT, b"half a mess", fin=False), close_frame(1000, "bye"))
    (frame,) = await wire.sent()
    assert close_of(frame) == (1000, "bye")
    assert wire.owner.of("received") == []
    assert close_result_of(wire.conn.protocol) == CloseResult(1000, "bye")


@on_a_loop
async def test_an_end_without_close_frames_is_1006() -> None:
    wire = Wire("client")
    wire.conn.connection_lost(ConnectionResetError("reset"))
    assert close_result_of(wire.conn.protocol) == CloseResult(1006, "")
    ((exc,),) = wire.owner.of("closed")
    assert isinstance(exc, ConnectionResetError)
    assert failure_of(wire.conn, exc)[0] == "lost"
    wire.conn.connection_lost(None)  # reported once only
    assert len(wire.owner.of("closed")) == 1


@on_a_loop
async def test_a_closing_handshake_past_its_deadline_is_cut() -> None:
    wire = Wire("client", close_timeout=0.05)
    wire.conn.close(1000, "bye")  # the peer never answers
    await asyncio.wait_for(wire.transport.aborted.wait(), 5)
    assert wire.conn.aborted_by_deadline
    await asyncio.sleep(0)  # the transport reports the end on the next turn
    assert wire.owner.of("closed") == [(None,)]
    assert failure_of(wire.conn, None)[0] == "close-deadline"


# -- keepalive ------------------------------------------------------------------------------------
@on_a_loop
async def test_a_missing_pong_cuts_a_client_and_fails_a_server_with_1011() -> None:
    client = Wire("client")
    client.conn.start_keepalive(0.01, 0.01, fail_with_close=False)
    await asyncio.wait_for(client.transport.aborted.wait(), 5)
    assert client.conn.keepalive_failed
    assert client.owner.of("keepalive")[0] == ("ping", ">", False)
    await asyncio.sleep(0)
    assert failure_of(client.conn, None)[0] == "keepalive"

    server = Wire("server")
    server.conn.start_keepalive(0.01, 0.01, fail_with_close=True)
    frames: list[Frame] = []
    while not any(f.opcode is CLOSE for f in frames):
        frames += await asyncio.wait_for(server.sent(), 5)
    assert frames[0].opcode is PING
    assert close_of(frames[-1]) == (1011, "keepalive ping timeout")
    server.conn.connection_lost(None)


@on_a_loop
async def test_an_answered_ping_measures_the_round_trip() -> None:
    wire = Wire("client")
    wire.conn.start_keepalive(0.01, 5, fail_with_close=False)
    frames: list[Frame] = []
    while not frames:
        frames = await asyncio.wait_for(wire.sent(), 5)
    assert frames[0].opcode is PING
    wire.receive(Frame(PONG, frames[0].data))
    assert ("pong", "<", True) in wire.owner.of("keepalive")
    assert wire.conn.last_rtt is not None and wire.conn.last_rtt >= 0
    wire.conn.connection_lost(None)  # stops the timers


# -- backpressure ---------------------------------------------------------------------------------
@on_a_loop
async def test_reading_pauses_past_the_owners_limit_and_resumes_at_half() -> None:
    wire = Wire("client", max_queued_messages=4)
    wire.receive(*(Frame(TEXT, b"m") for _ in range(5)))
    assert wire.conn.queued() == (5, 5) and not wire.transport.reading
    wire.conn.consumed_some(2, 2)  # 3 left: still over half the limit
    await asyncio.sleep(0)
    assert not wire.transport.reading
    wire.conn.consumed_some(1, 1)  # 2 left: half
    await asyncio.sleep(0)
    assert wire.transport.reading


@on_a_loop
async def test_senders_wait_while_the_transport_is_full_and_are_woken_once_it_drains() -> None:
    wire = Wire("client")
    woken: list[bool] = []
    wire.conn.pause_writing()  # the transport's buffer is past its high mark
    # ... and this send takes what waits past SEND_HIGH_WATER in all.
    wire.transport.buffered = SEND_HIGH_WATER - 4
    assert wire.conn.send_message("must wait") is True
    wire.conn.when_drained(woken.append)
    wire.transport.buffered = 0  # not drained yet (still paused), but below the mark
    assert wire.conn.send_message("waits behind it") is True  # order is kept
    wire.conn.when_drained(woken.append)
    await asyncio.sleep(0)
    assert woken == []
    wire.conn.resume_writing()
    assert woken == [True, True]
    assert [f.data for f in await wire.sent()] == [b"must wait", b"waits behind it"]


@on_a_loop
async def test_a_client_send_waits_only_past_the_high_water_mark_in_all() -> None:
    # The transport's own buffer past its 64 KiB mark is no reason to make a
    # client's send a pending promise; more than SEND_HIGH_WATER in all is.
    client = Wire("client")
    client.conn.pause_writing()
    client.transport.buffered = 64 * 1024
    assert client.conn.send_message("at once") is False
    # Nor a server's: its echo would hold reading after every large reply.
    server = Wire("server", cut_off_slow_peer=True)
    server.conn.pause_writing()
    server.transport.buffered = 64 * 1024
    assert server.conn.send_message("at once") is False
    server.transport.buffered = SEND_HIGH_WATER
    assert server.conn.send_message("waits") is True


@on_a_loop
async def test_a_waiting_sender_learns_when_the_connection_ends_first() -> None:
    wire = Wire("client")
    woken: list[bool] = []
    wire.conn.pause_writing()
    wire.transport.buffered = SEND_HIGH_WATER - 4
    assert wire.conn.send_message("never drained") is True
    wire.conn.when_drained(woken.append)
    await asyncio.sleep(0)
    wire.conn.connection_lost(None)
    assert woken == [False]


@on_a_loop
async def test_a_large_payload_goes_out_uncopied_and_only_while_the_transport_takes_it() -> None:
    transport = FillingTransport()
    wire = Wire("server", transport)
    payload = bytes(range(256)) * 4096  # 1 MiB
    assert wire.conn.send_message(payload) is False
    wire.conn.send_message("after it")
    await asyncio.sleep(0)
    # The transport paused after its first slice: the rest waits in our queue,
    # the message behind it too, instead of piling up in the transport's buffer.
    assert 0 < len(transport.data) < len(payload)
    assert wire.conn.bytes_out == len(transport.data)
    for _ in range(64):  # each round writes at least one more slice
        if not transport.paused:
            break
        transport.drain()
    assert not transport.paused
    assert [f.data for f in await wire.sent()] == [payload, b"after it"]
    # After the write that carries the header, the payload went out as views
    # of the sender's own bytes: never copied behind its header.
    large = [w for w in transport.writes[1:] if len(w) > 1024]
    assert large and all(isinstance(w, memoryview) and w.obj is payload for w in large)


@on_a_loop
async def test_an_echo_reads_again_once_its_reply_is_below_the_low_mark_not_fully_written() -> None:
    transport = FillingTransport()
    wire = Wire("server", transport, cut_off_slow_peer=True)
    reply = b"\x5a" * (SEND_HIGH_WATER + SEND_LOW_WATER)
    assert wire.conn.send_message(reply) is True  # more than the high mark waits
    wire.conn.hold_reading_until_drained()  # what the echo does then
    assert not transport.reading
    await asyncio.sleep(0)
    read_again_at = None
    for _ in range(64):
        if not transport.paused:
            break
        transport.drain()
        if transport.reading and read_again_at is None:
            read_again_at = len(transport.data)
    # Reading went on while part of the reply still waited to be written: the
    # two directions flow together instead of taking turns.
    assert read_again_at is not None
    assert 0 < len(reply) - read_again_at <= SEND_LOW_WATER
    assert [f.data for f in await wire.sent()] == [reply]


@on_a_loop
async def test_what_waits_in_the_queue_is_written_before_the_transport_closes() -> None:
    transport = FillingTransport()
    wire = Wire("server", transport)
    payload = b"\x01" * (1024 * 1024)
    wire.conn.send_message(payload)
    await asyncio.sleep(0)
    assert transport.paused and len(transport.data) < len(payload)
    wire.conn.fail(1008, "not reading")  # its close frame waits behind the payload
    wire.conn.eof_received()  # the peer's end: the server closes its transport now
    assert transport.closed and transport.eof
    frames = await wire.sent()
    assert [f.opcode for f in frames] == [BINARY, CLOSE]
    assert frames[0].data == payload and close_of(frames[1]) == (1008, "not reading")


# -- where websockets hands over to the data-frame splitter (engine.frames) ----------------------
def opened_by_one_read(cut: int, frames: bytes) -> tuple[Connection, Owner]:
    """A connecting client fed the server's 101 response and ``frames``, cut in two at ``cut``."""
    proto = LenientClientProtocol(URI)
    request = proto.connect()
    proto.send_request(request)
    owner = Owner()
    conn = Connection(proto, owner, runtime=ThisLoop())
    transport = Transport()
    transport.protocol = conn
    conn.connection_made(transport)  # type: ignore[arg-type]
    key = request.headers["Sec-WebSocket-Key"]
    response = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode()
    data = response + frames
    conn.data_received(data[:cut])
    conn.data_received(data[cut:])
    return conn, owner


@on_a_loop
async def test_the_handshake_and_first_frames_cut_anywhere_are_read_in_order() -> None:
    frames = b"".join(
        f.serialize(mask=False)
        for f in (
            Frame(TEXT, b"a"),
            Frame(BINARY, b"b" * 130, fin=False),
            Frame(PING, b"p"),
            Frame(CONT, b"c"),
        )
    )
    for cut in range(0, 200, 1):
        conn, owner = opened_by_one_read(cut, frames)
        assert conn.state is OPEN, cut
        assert owner.calls[0][0] == "handshake"
        got = [m for messages, _ in owner.of("received") for m in messages]
        assert got == ["a", b"b" * 130 + b"c"], cut
        assert owner.of("keepalive")[0] == ("ping", "<", False), cut
        conn.abort()


@on_a_loop
async def test_after_the_peers_close_frame_nothing_more_is_delivered() -> None:
    wire = Wire("server")
    wire.receive(Frame(TEXT, b"before"), close_frame(1000), Frame(TEXT, b"after"))
    assert wire.owner.of("received") == [(["before"], 6)]
    assert wire.conn.state is CLOSING or wire.conn.state is CLOSED


@on_a_loop
async def test_after_our_close_the_peers_messages_are_still_delivered() -> None:
    wire = Wire("client")
    assert wire.conn.close(1000, "bye")
    wire.receive(Frame(TEXT, b"late"), Frame(BINARY, b"too"))
    assert wire.owner.of("received") == [(["late", b"too"], 7)]


@on_a_loop
async def test_after_we_fail_the_connection_nothing_more_is_delivered() -> None:
    wire = Wire("client")
    wire.receive(Frame(TEXT, b"x", fin=False))
    wire.conn.fail(1011, "keepalive ping timeout")
    wire.receive(Frame(CONT, b"y"), Frame(TEXT, b"z"))
    assert wire.owner.of("received") == []


@on_a_loop
async def test_a_message_over_the_limit_across_fragments_fails_with_1009() -> None:
    proto = LenientServerProtocol(state=OPEN, max_size=10)
    owner = Owner()
    conn = Connection(proto, owner, runtime=ThisLoop())
    transport = Transport()
    transport.protocol = conn
    conn.connection_made(transport)  # type: ignore[arg-type]
    frames = (Frame(TEXT, b"x" * 6, fin=False), Frame(CONT, b"y" * 6))
    conn.data_received(b"".join(f.serialize(mask=True) for f in frames))
    assert owner.of("received") == []
    assert str(conn.frame_error) == (
        "frame with 6 bytes after reading 6 bytes exceeds limit of 10 bytes"
    )
    assert failure_of(conn, None) == ("too-big", conn.frame_error)
    await asyncio.sleep(0)
    assert transport.take()[:4] == b"\x88\x44\x03\xf1"  # close 1009, unmasked from a server
