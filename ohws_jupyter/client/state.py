"""A client's state: ``ReadyState``, the counters in ``Stats``, the seed's 4 KiB
pieces (``split_message``), and the error for an operation on a socket that is
not open.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from ..core.errors import UNKNOWN_ERROR, BusinessError
from ..core.options import PIECE_SIZE, CloseResult

__all__ = ["ReadyState", "Stats", "not_open_error", "not_open_hint", "split_message"]


class ReadyState(enum.IntEnum):
    """Connection states, numbered like the browser's ``WebSocket.readyState``."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


def split_message(message: str | bytes, size: int = PIECE_SIZE) -> list[str] | list[bytes]:
    """Cut a message into pieces of at most ``size`` bytes (the seed's 4K rule).

    Text is cut only between UTF-8 characters, so every piece is a valid ``str``.
    """
    if isinstance(message, str):
        if len(message) * 4 <= size:  # cannot exceed size bytes: skip encoding
            return [message]
        data = message.encode("utf-8")
        if len(data) <= size:
            return [message]
        pieces: list[str] = []
        start, end_of_data = 0, len(data)
        while start < end_of_data:
            end = min(start + size, end_of_data)
            while end < end_of_data and (data[end] & 0xC0) == 0x80:
                end -= 1  # never cut inside a multi-byte character
            pieces.append(data[start:end].decode("utf-8"))
            start = end
        return pieces
    if len(message) <= size:
        return [message]
    view = memoryview(message)
    return [bytes(view[i : i + size]) for i in range(0, len(message), size)]


@dataclasses.dataclass
class Stats:
    """Counters of one WebSocket object, across its connections.

    ``bytesIn``/``bytesOut`` count message payloads (after inflation, before
    deflation); ``wireBytesIn``/``wireBytesOut`` count what crossed the socket,
    handshake, frame headers and masks included (updated as messages arrive and
    at the end). ``pingRoundTrip`` is the last keepalive round trip, in seconds.
    """

    messagesIn: int = 0
    bytesIn: int = 0
    piecesIn: int = 0
    messagesOut: int = 0
    bytesOut: int = 0
    connects: int = 0
    openedAt: float | None = None
    closedAt: float | None = None
    lastClose: CloseResult | None = None
    lastError: BusinessError | None = None
    wireBytesIn: int = 0
    wireBytesOut: int = 0
    pingRoundTrip: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["lastClose"] = self.lastClose
        out["lastError"] = self.lastError
        return out


def not_open_hint(op: str, state: ReadyState) -> str:
    """Why ``op`` fails on a connection in ``state`` that is not open, and what to do."""
    if state is ReadyState.CONNECTING:
        hint = "the connection is not open yet; wait for 'open' (or await connect())"
    elif state is ReadyState.CLOSING:
        hint = "the connection is closing"
    else:
        hint = "there is no open connection; call connect() first"
    return f"cannot {op}: {hint}"


def not_open_error(op: str, state: ReadyState) -> BusinessError:
    """The error of ``op`` on a connection in ``state`` that is not open."""
    return BusinessError(UNKNOWN_ERROR, not_open_hint(op, state))
