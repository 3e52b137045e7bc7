"""``engine.frames``: the data-frame splitter on bytes, checked against websockets' own parser.

Frames are built with websockets' serializer (what a real peer sends), and
where the splitter refuses something the same bytes go through websockets'
sans-I/O protocol, so the error and its words are compared with the parser
the splitter stands in for.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, Frame
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from ohws_jupyter.engine.frames import HAND_OVER, FrameSplitter


def wire(*frames: Frame, masked: bool = True) -> bytes:
    return b"".join(f.serialize(mask=masked) for f in frames)


def with_bits(data: bytes, bits: int) -> bytes:
    """``data`` with reserved bits set in its first header (websockets will not build it)."""
    return bytes((data[0] | bits,)) + data[1:]


def run(splitter: FrameSplitter, *reads: bytes) -> tuple[list[Any], int, list[Any]]:
    """Feed ``reads`` in turn, going on after each control frame as the connection does.

    Returns the messages, their size and the stops (control frames, then any error).
    """
    messages: list[Any] = []
    size = 0
    stops: list[Any] = []
    for data in reads:
        got, got_size, stop = splitter.split(data)
        messages += got
        size += got_size
        while isinstance(stop, bytes):
            stops.append(stop)
            got, got_size, stop = splitter.split(b"")
            messages += got
            size += got_size
        if stop is not None:
            stops.append(stop)
            break
    return messages, size, stops


def websockets_error(data: bytes, *, max_size: int | None = None) -> BaseException | None:
    """What websockets' own server-side parser makes of ``data`` (client frames)."""
    proto = ServerProtocol(state=OPEN, max_size=max_size)
    proto.receive_data(data)
    return proto.parser_exc


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("masked", [True, False])
def test_every_length_form_and_both_maskings(length, masked):
    payload = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    text = "é" * (length // 2) + "a" * (length % 2)
    data = wire(Frame(BINARY, payload), Frame(TEXT, text.encode()), masked=masked)
    messages, size, stops = run(FrameSplitter(masked=masked, max_size=None), data)
    assert messages == [payload, text]
    assert type(messages[0]) is bytes  # binary arrives as bytes (API.md)
    assert size == length * 2
    assert stops == []


def test_split_at_every_byte_boundary():
    frames = [
        Frame(TEXT, "héllo".encode()),
        Frame(BINARY, b"x" * 300),
        Frame(TEXT, "€".encode()[:2], fin=False),
        Frame(PING, b"between"),
        Frame(CONT, "€".encode()[2:] + b" end", fin=True),
        Frame(BINARY, b"y" * 70000),
    ]
    pieces = [wire(f) for f in frames]  # each serialized once: masks are random
    data = b"".join(pieces)
    ping = pieces[3]
    for cut in range(len(data)):
        messages, size, stops = run(
            FrameSplitter(masked=True, max_size=None), data[:cut], data[cut:]
        )
        assert messages == ["héllo", b"x" * 300, "€ end", b"y" * 70000], cut
        assert stops == [ping], cut
        assert size == 6 + 300 + 7 + 70000


@pytest.mark.parametrize("masked", [True, False])
def test_one_byte_reads(masked):
    text = "κόσμε€😀" * 20  # characters cut between reads, checked as they come
    data = wire(
        Frame(TEXT, b"ab", fin=False),
        Frame(CONT, b"cd"),
        Frame(BINARY, b"\x00" * 126),
        Frame(TEXT, text.encode()[:7], fin=False),
        Frame(CONT, text.encode()[7:]),
        masked=masked,
    )
    splitter = FrameSplitter(masked=masked, max_size=None)
    messages, _, stops = run(splitter, *(data[i : i + 1] for i in range(len(data))))
    assert messages == ["abcd", b"\x00" * 126, text]
    assert stops == []
    assert splitter.rest() == b""


@pytest.mark.parametrize("kind", [PING, PONG, CLOSE])
def test_control_frames_come_back_whole_in_wire_order(kind):
    control = wire(Frame(kind, b"\x03\xe8" if kind is CLOSE else b"p"))
    after = wire(Frame(TEXT, b"after"))
    splitter = FrameSplitter(masked=True, max_size=None)
    messages, _, stop = splitter.split(wire(Frame(TEXT, b"before")) + control + after)
    assert messages == ["before"]
    assert stop == control
    assert splitter.rest() == after  # left for websockets (after CLOSE)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(with_bits(wire(Frame(TEXT, b"x")), 0x40), id="rsv1-without-extension"),
        pytest.param(with_bits(wire(Frame(BINARY, b"x")), 0x20), id="rsv2"),
        pytest.param(with_bits(wire(Frame(CONT, b"x")), 0x10), id="rsv3"),
        pytest.param(b"\x83\x80abcd", id="reserved-opcode-3"),
        pytest.param(b"\x8b\x80abcd", id="reserved-opcode-11"),
        pytest.param(wire(Frame(TEXT, b"x"), masked=False), id="unmasked-from-a-client"),
        pytest.param(b"\x89\xfe\x00\x7e" + b"\0" * 130, id="control-over-125"),
        pytest.param(b"\x09\x80abcd", id="fragmented-control"),
    ],
)
def test_what_websockets_refuses_is_handed_over_from_the_frame_start(data):
    before = wire(Frame(BINARY, b"ok"))
    splitter = FrameSplitter(masked=True, max_size=None)
    messages, _, stop = splitter.split(before + data)
    assert messages == [b"ok"]
    assert stop is HAND_OVER
    rest = splitter.rest()
    assert rest == data
    # ... and websockets, given those bytes, fails the connection with 1002.
    assert isinstance(websockets_error(rest), ProtocolError)


def test_a_server_frame_must_not_be_masked():
    splitter = FrameSplitter(masked=False, max_size=None)
    assert splitter.split(wire(Frame(TEXT, b"x"), masked=True))[2] is HAND_OVER
    proto = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=OPEN)
    proto.receive_data(splitter.rest())
    assert str(proto.parser_exc) == "incorrect masking"


def test_a_64_bit_length_with_the_top_bit_set_is_refused():
    data = b"\x82\xff" + struct.pack("!Q", 1 << 63) + b"mask"
    _, _, stop = FrameSplitter(masked=True, max_size=None).split(data)
    assert stop is HAND_OVER
    _, _, stop = FrameSplitter(masked=True, max_size=1024).split(data)
    assert isinstance(stop, PayloadTooBig)
    assert str(stop) == str(websockets_error(data, max_size=1024))


@pytest.mark.parametrize(
    ("frames", "words"),
    [
        ([Frame(CONT, b"x")], "unexpected continuation frame"),
        ([Frame(TEXT, b"a", fin=False), Frame(TEXT, b"b")], "expected a continuation frame"),
        ([Frame(BINARY, b"a", fin=False), Frame(BINARY, b"b")], "expected a continuation frame"),
    ],
)
def test_fragment_order_is_checked_as_websockets_does(frames, words):
    data = wire(*frames)
    _, _, stops = run(FrameSplitter(masked=True, max_size=None), data)
    assert [type(s) for s in stops] == [ProtocolError]
    assert str(stops[0]) == words == str(websockets_error(data))


def test_control_frames_between_fragments_keep_the_message():
    ping, pong = wire(Frame(PING, b"1")), wire(Frame(PONG, b"2"))
    data = b"".join(
        (
            wire(Frame(BINARY, b"a", fin=False)),
            ping,
            wire(Frame(CONT, b"b", fin=False)),
            pong,
            wire(Frame(CONT, b"c")),
        )
    )
    messages, size, stops = run(FrameSplitter(masked=True, max_size=None), data)
    assert messages == [b"abc"]
    assert size == 3
    assert stops == [ping, pong]


def test_max_size_counts_a_whole_message_and_words_it_as_websockets():
    one = wire(Frame(TEXT, b"x" * 11))
    fragments = wire(Frame(TEXT, b"x" * 6, fin=False), Frame(CONT, b"y" * 6))
    for data in (one, fragments):
        _, _, stops = run(FrameSplitter(masked=True, max_size=10), data)
        assert [type(s) for s in stops] == [PayloadTooBig]
        assert str(stops[0]) == str(websockets_error(data, max_size=10))
    assert str(run(FrameSplitter(masked=True, max_size=10), fragments)[2][0]) == (
        "frame with 6 bytes after reading 6 bytes exceeds limit of 10 bytes"
    )
    # Exactly the limit is fine, fragments summed.
    exact = wire(Frame(BINARY, b"x" * 4, fin=False), Frame(CONT, b"y" * 6))
    assert run(FrameSplitter(masked=True, max_size=10), exact)[0] == [b"xxxxyyyyyy"]


def test_the_limit_is_checked_on_the_header_before_the_payload_arrives():
    header = wire(Frame(BINARY, b"z" * 70000))[:10]  # 2 + the 8-byte length
    _, _, stop = FrameSplitter(masked=True, max_size=65536).split(header)
    assert isinstance(stop, PayloadTooBig)


def test_bad_utf8_in_a_fragment_fails_before_the_message_ends():
    splitter = FrameSplitter(masked=True, max_size=None)
    first = wire(Frame(TEXT, "κό".encode(), fin=False))
    messages, _, stop = splitter.split(first)
    assert (messages, stop) == ([], None)
    _, _, stop = splitter.split(wire(Frame(CONT, b"\xce\xbc\xed\xa0\x80", fin=False)))
    assert isinstance(stop, UnicodeDecodeError)  # a surrogate: not UTF-8, found at once


def test_a_character_split_across_fragments_is_text():
    euro = "€".encode()
    data = wire(
        Frame(TEXT, euro[:1], fin=False), Frame(CONT, euro[1:2], fin=False), Frame(CONT, euro[2:])
    )
    assert run(FrameSplitter(masked=True, max_size=None), data)[0] == ["€"]


def test_a_text_message_cut_inside_a_character_is_refused():
    data = wire(Frame(TEXT, "€".encode()[:2], fin=False), Frame(CONT, b""))
    _, _, stops = run(FrameSplitter(masked=True, max_size=None), data)
    assert [type(s) for s in stops] == [UnicodeDecodeError]


def test_bad_utf8_in_a_single_frame():
    data = wire(Frame(BINARY, b"\xff"), Frame(TEXT, b"ok\xff"))
    messages, _, stops = run(FrameSplitter(masked=True, max_size=None), data)
    assert messages == [b"\xff"]
    assert [type(s) for s in stops] == [UnicodeDecodeError]


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("fragment", [False, True])
def test_bad_utf8_fails_before_the_frame_ends(masked, fragment):
    # Autobahn 6.4.3/6.4.4: one frame sent in pieces; the piece with the bad byte fails.
    splitter = FrameSplitter(masked=masked, max_size=None)
    if fragment:
        start = wire(Frame(TEXT, "κ".encode(), fin=False), masked=masked)
        assert splitter.split(start) == ([], 0, None)
    payload = "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"rest of the frame"
    data = wire(Frame(CONT if fragment else TEXT, payload), masked=masked)
    bad = len(data) - len(payload) + len("κόσμε".encode())  # where \xf4 is on the wire
    assert splitter.split(data[: bad - 3]) == ([], 0, None)  # valid so far
    _, _, stop = splitter.split(data[bad - 3 : bad + 2])
    assert isinstance(stop, UnicodeDecodeError)
