"""Splitting received bytes into data messages, without websockets' generator parser.

websockets' sans-I/O protocol parses every frame through generators
(``Frame.parse`` over ``StreamReader.read_exact``); for small messages that is
most of the I/O thread's time. A :class:`FrameSplitter` parses the data frames
of an open connection (TEXT, BINARY and CONTINUATION, RFC 6455 section 5.2)
straight from the bytes of each read and returns whole messages: ``str`` for
text, ``bytes`` for binary.

What stays with websockets:

- the opening handshake: the connection gives websockets the bytes up to the
  end of the HTTP header block only, then the rest to the splitter;
- control frames (PING, PONG, CLOSE): the splitter stops at each one and
  hands it over whole, so websockets answers pings and runs the closing
  handshake, in wire order with the data messages;
- any frame websockets would refuse from its header or reserved bits
  (reserved opcodes, RSV bits, wrong masking, a control frame over 125 bytes or
  fragmented, a 64-bit length with the top bit set): the splitter stops
  *before* it and the connection gives websockets everything from there on,
  so the peer gets websockets' own close code and reason;
- connections with an extension (permessage-deflate) or with websockets'
  debug logging on: the connection never starts a splitter for them.

What the splitter itself refuses, with the errors websockets would raise for
them: a continuation frame with no message started and a new data message
inside a fragmented one (``ProtocolError``, 1002), a message whose fragments
add up past ``max_size`` (``PayloadTooBig``, 1009, worded as websockets words
it), and text that is not UTF-8 (``UnicodeDecodeError``, 1007), found as soon
as the bad byte arrives, even inside a frame whose end has not (Autobahn 6.4.3).

A frame that arrives in many reads is kept in one growing buffer and parsed
once it is whole, so a large message costs no copy per read.
"""

from __future__ import annotations

import codecs
from typing import Any

from websockets.exceptions import PayloadTooBig, ProtocolError

try:  # websockets' C speedup, when built; the same function in Python otherwise
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

__all__ = ["HAND_OVER", "FrameSplitter", "HandOver", "Stop"]

#: Opcodes RFC 6455 defines: continuation, text, binary, close, ping, pong.
_KNOWN = frozenset((0, 1, 2, 8, 9, 10))
_TOP_BIT = 1 << 63


class HandOver:
    """The next frame is one websockets must judge: give it everything from there on."""

    def __repr__(self) -> str:
        return "HAND_OVER"


HAND_OVER = HandOver()

#: Why :meth:`FrameSplitter.split` stopped before the end of what it holds: a
#: whole control frame (``bytes``) for websockets, HAND_OVER, or the error the
#: connection fails with. None: it parsed all it could.
Stop = bytes | HandOver | ProtocolError | PayloadTooBig | UnicodeDecodeError | None


class FrameSplitter:
    """Data frames of one direction of an open connection, parsed into messages.

    Args:
        masked: Frames must be masked (a server reading a client) or must not be.
        max_size: The largest message, fragments summed; None for no limit.
    """

    def __init__(self, *, masked: bool, max_size: int | None) -> None:
        self.masked = masked
        self.max_size = max_size
        # The start of a frame whose end has not arrived, grown in place (a large
        # frame arrives in many reads), and the bytes it needs before parsing is worth it.
        self._buf = bytearray()
        self._need = 0
        # While that frame is text, its payload is checked as it comes: from
        # _peek_at on in _buf, unmasked with _peek_mask (None: unmasked).
        self._peek_at = -1
        self._peek_start = 0
        self._peek_mask: bytes | None = None
        self._peek_decoder: Any = None
        # A fragmented message being assembled: its parts (str pieces for text,
        # checked as they come), its text decoder, its size so far.
        self._parts: list[Any] | None = None
        self._decoder: Any = None
        self._size = 0

    def split(self, data: bytes) -> tuple[list[Any], int, Stop]:
        """Parse ``data`` after what is held; returns (messages, their bytes, stop).

        Parsing stops after a control frame (returned whole, as ``bytes``) and
        before a frame websockets must judge (HAND_OVER); call again with
        ``b""`` to go on. After an error, the splitter is done.
        """
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return [], 0, self._peek() if self._peek_at >= 0 else None
            buf = bytes(self._buf)
        else:
            buf = data
        self._need = 0
        self._peek_at = -1
        end = len(buf)
        pos = 0
        masked = self.masked
        max_size = self.max_size
        messages: list[Any] = []
        size = 0
        stop: Stop = None
        while end - pos >= 2:
            head = buf[pos]
            second = buf[pos + 1]
            opcode = head & 0x0F
            if head & 0x70 or opcode not in _KNOWN or bool(second & 0x80) is not masked:
                stop = HAND_OVER
                break
            length = second & 0x7F
            at = pos + 2
            if length == 126:
                if end - at < 2:
                    break
                length = (buf[at] << 8) | buf[at + 1]
                at += 2
            elif length == 127:
                if end - at < 8:
                    break
                length = int.from_bytes(buf[at : at + 8], "big")
                at += 8
            fin = head & 0x80
            if opcode >= 8 and (length > 125 or not fin):
                stop = HAND_OVER
                break
            if max_size is not None:
                current = self._size if self._parts is not None else 0
                if length > max_size - current:
                    if current:
                        stop = PayloadTooBig(length, max_size - current, current)
                    else:
                        stop = PayloadTooBig(length, max_size)
                    break
            elif length & _TOP_BIT:
                stop = HAND_OVER
                break
            start = at + 4 if masked else at
            full = start + length
            if full > end:
                self._need = full - pos
                if start > end:  # parse again once the mask is here
                    self._need = start - pos
                elif opcode == 1 and self._parts is None:
                    self._peek_decoder = codecs.getincrementaldecoder("utf-8")()
                elif opcode == 0 and self._decoder is not None:
                    self._peek_decoder = codecs.getincrementaldecoder("utf-8")()
                    self._peek_decoder.setstate(self._decoder.getstate())
                else:
                    break
                self._peek_at = self._peek_start = start - pos
                self._peek_mask = buf[at:start] if masked else None
                break
            if opcode >= 8:
                stop = buf[pos:full]
                pos = full
                break
            payload = apply_mask(buf[start:full], buf[at:start]) if masked else buf[start:full]
            pos = full
            if opcode:  # TEXT or BINARY: a new message
                if self._parts is not None:
                    stop = ProtocolError("expected a continuation frame")
                    break
                if fin:
                    if opcode == 1:
                        try:
                            messages.append(payload.decode())
                        except UnicodeDecodeError as exc:
                            stop = exc
                            break
                    else:
                        messages.append(payload)
                    size += length
                    continue
                self._parts = []
                self._size = 0
                self._decoder = codecs.getincrementaldecoder("utf-8")() if opcode == 1 else None
            elif self._parts is None:
                stop = ProtocolError("unexpected continuation frame")
                break
            stop = self._add_part(payload, fin)
            if stop is not None:
                break
            if fin:
                parts = self._parts
                self._parts = None
                messages.append(("" if self._decoder is not None else b"").join(parts))
                size += self._size
        if pos < end:
            if pos or not self._buf:
                self._buf = bytearray(buf[pos:])
        else:
            self._buf = bytearray()
        if stop is None and self._peek_at >= 0:
            stop = self._peek()
        return messages, size, stop

    def _peek(self) -> UnicodeDecodeError | None:
        """Check the text of a frame not whole yet: bad UTF-8 fails before its end arrives."""
        at = self._peek_at
        chunk = bytes(self._buf[at:])
        if not chunk:
            return None
        self._peek_at = len(self._buf)
        mask = self._peek_mask
        if mask is not None:
            shift = (at - self._peek_start) % 4
            chunk = apply_mask(chunk, mask[shift:] + mask[:shift])
        try:
            self._peek_decoder.decode(chunk, False)
        except UnicodeDecodeError as exc:
            self._parts = None
            return exc
        return None

    def _add_part(self, payload: bytes, fin: int) -> UnicodeDecodeError | None:
        parts = self._parts
        assert parts is not None
        self._size += len(payload)
        if self._decoder is None:
            parts.append(payload)
            return None
        # Text fails fast: on the fragment that brings the bad byte (Autobahn 6.x).
        try:
            parts.append(self._decoder.decode(payload, bool(fin)))
        except UnicodeDecodeError as exc:
            self._parts = None
            return exc
        return None

    def rest(self) -> bytes:
        """The bytes held and not parsed; the splitter forgets them."""
        held = bytes(self._buf)
        self._buf = bytearray()
        return held
