"""Ready-made server behaviours: ``echo``, ``broadcast`` and ``lab``.

They run on the I/O loop inside the server's connection handler, so a reply
never waits for user callbacks. ``lab`` makes the server misbehave on request,
so a lesson or a test can show every client event without writing a server.
Its commands are text messages that start with ``/``; anything else is echoed:

=========================  ====================================================
``/help``                  reply with this list
``/close CODE [REASON]``   close the connection with CODE and REASON
``/bytes N``               send a binary message of N bytes
``/text N``                send a text message of N bytes
``/fragments N [TEXT]``    send TEXT as one text message in N frames
``/badutf8``               send a text frame that is not valid UTF-8
``/drop``                  cut the TCP connection, no close frame
``/noping``                stop answering pings (the client's keepalive fails)
``/delay SECONDS TEXT``    send TEXT after SECONDS, not holding up other replies
=========================  ====================================================

A command with bad arguments is answered with a text message ``error: ...``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import broadcast

from .options import close_code_allowed
from .server_options import MODES

if TYPE_CHECKING:
    from .server import WebSocketServer, _Client

__all__ = ["LAB_HELP", "MAX_LAB_BYTES", "MAX_LAB_DELAY", "MODES", "run_mode"]

#: Largest message ``/bytes`` and ``/text`` make (a client's default limit is 16 MiB).
MAX_LAB_BYTES = 64 * 1024 * 1024
#: Longest ``/delay``, in seconds.
MAX_LAB_DELAY = 300.0
#: Most frames ``/fragments`` sends.
MAX_LAB_FRAGMENTS = 10_000

LAB_HELP = """lab commands (anything else is echoed):
/help                  this list
/close CODE [REASON]   close with CODE and REASON
/bytes N               send a binary message of N bytes
/text N                send a text message of N bytes
/fragments N [TEXT]    send TEXT as one message in N frames
/badutf8               send a text frame that is not valid UTF-8
/drop                  cut the TCP connection without a close frame
/noping                stop answering pings
/delay SECONDS TEXT    send TEXT after SECONDS"""


class LabError(ValueError):
    """A lab command with bad arguments; its text is sent back to the client."""


async def run_mode(mode: str, server: WebSocketServer, client: _Client, message: Any) -> None:
    """Act on one received ``message`` as ``mode`` says."""
    if mode == "echo":
        await client.conn.send(message)
    elif mode == "broadcast":
        # No backpressure here: one slow member must not stall the room.
        broadcast([c.conn for c in server._clients.values()], message)
    elif mode == "lab":
        if isinstance(message, str) and message.startswith("/"):
            await _lab(client, message)
        else:
            await client.conn.send(message)


def _number(text: str, what: str, lo: float, hi: float, *, integer: bool = True) -> Any:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise LabError(f"{what} must be {kind}, not {text!r}") from None
    if not lo <= value <= hi:
        # Whole numbers in full: 67108864, not 6.71089e+07.
        shown = (lo, hi) if integer else (f"{lo:g}", f"{hi:g}")
        raise LabError(f"{what} must be from {shown[0]} to {shown[1]}, not {text}")
    return value


def _args(words: list[str], least: int, usage: str) -> list[str]:
    if len(words) < least:
        raise LabError(f"usage: {usage}")
    return words


async def _close(client: _Client, rest: str) -> None:
    words = _args(rest.split(maxsplit=1), 1, "/close CODE [REASON]")
    code = _number(words[0], "CODE", 1000, 4999)
    reason = words[1] if len(words) > 1 else ""
    if not close_code_allowed(code):
        raise LabError(f"close code {code} may not be sent; use 1000–1003, 1007–1014 or 3000–4999")
    if len(reason.encode("utf-8")) > 123:
        raise LabError("REASON may be at most 123 UTF-8 bytes")
    await client.conn.close(code, reason)


async def _bytes(client: _Client, rest: str) -> None:
    size = _number(_args(rest.split(), 1, "/bytes N")[0], "N", 0, MAX_LAB_BYTES)
    pattern = bytes(range(256))
    await client.conn.send((pattern * (size // 256 + 1))[:size])


async def _text(client: _Client, rest: str) -> None:
    size = _number(_args(rest.split(), 1, "/text N")[0], "N", 0, MAX_LAB_BYTES)
    pattern = "abcdefghijklmnopqrstuvwxyz0123456789"
    await client.conn.send((pattern * (size // len(pattern) + 1))[:size])


async def _fragments(client: _Client, rest: str) -> None:
    words = _args(rest.split(maxsplit=1), 1, "/fragments N [TEXT]")
    count = _number(words[0], "N", 1, MAX_LAB_FRAGMENTS)
    text = words[1] if len(words) > 1 else "a message sent in fragments"
    if count > len(text):
        raise LabError(f"TEXT has {len(text)} characters; it cannot fill {count} fragments")
    step, extra = divmod(len(text), count)
    parts, start = [], 0
    for i in range(count):
        end = start + step + (1 if i < extra else 0)
        parts.append(text[start:end])
        start = end
    conn = client.conn
    # Exactly N frames, the last one FIN (send(iterable) would add an empty one),
    # written in one block so no other message can slip between them.
    async with conn.send_context():
        conn.protocol.send_text(parts[0].encode(), fin=count == 1)
        for number, part in enumerate(parts[1:], 2):
            conn.protocol.send_continuation(part.encode(), fin=number == count)


async def _badutf8(client: _Client, rest: str) -> None:
    # text=True sends bytes in a text frame without checking them.
    await client.conn.send(b"bad \xff\xfe utf-8", text=True)


async def _drop(client: _Client, rest: str) -> None:
    client.dropped = True
    client.conn.transport.abort()


async def _noping(client: _Client, rest: str) -> None:
    client.conn.protocol.answer_pings = False  # type: ignore[attr-defined]
    await client.conn.send("ok: pings are no longer answered")


async def _delay(client: _Client, rest: str) -> None:
    words = _args(rest.split(maxsplit=1), 2, "/delay SECONDS TEXT")
    seconds = _number(words[0], "SECONDS", 0, MAX_LAB_DELAY, integer=False)

    async def later() -> None:
        await asyncio.sleep(seconds)
        await client.conn.send(words[1])

    client.spawn(later())


async def _help(client: _Client, rest: str) -> None:
    await client.conn.send(LAB_HELP)


_COMMANDS: dict[str, Callable[[Any, str], Awaitable[None]]] = {
    "/help": _help,
    "/close": _close,
    "/bytes": _bytes,
    "/text": _text,
    "/fragments": _fragments,
    "/badutf8": _badutf8,
    "/drop": _drop,
    "/noping": _noping,
    "/delay": _delay,
}


async def _lab(client: _Client, message: str) -> None:
    name, _, rest = message.partition(" ")
    command = _COMMANDS.get(name)
    try:
        if command is None:
            raise LabError(f"unknown command {name}; send /help for the list")
        await command(client, rest.strip())
    except LabError as exc:
        await client.conn.send(f"error: {exc}")
