"""Ready-made server behaviours: ``echo``, ``broadcast`` and ``lab``.

They run on the I/O loop as each message arrives, so a reply never waits
for user callbacks. ``lab`` makes the server misbehave on request,
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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .options import close_code_allowed
from .server_options import MODES

if TYPE_CHECKING:
    from .server import ServerClient, WebSocketServer

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


def run_mode(mode: str, server: WebSocketServer, client: ServerClient, message: Any) -> None:
    """Act on one received ``message`` as ``mode`` says (on the I/O thread)."""
    if mode == "echo":
        if client.send(message):
            # The peer sends faster than it reads our replies: read no more
            # from it until they drain (TCP slows it down), rather than cut it off.
            client.conn.hold_reading_until_drained()
    elif mode == "broadcast":
        # Each member has its own bounded buffer: one slow member is cut off
        # (1008) instead of stalling the room.
        for member in server.clients():
            try:
                member.send(message)
            except Exception:
                continue  # a member that is closing
    elif mode == "lab":
        if isinstance(message, str) and message.startswith("/"):
            _lab(client, message)
        elif client.send(message):
            client.conn.hold_reading_until_drained()


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


def _close(client: ServerClient, rest: str) -> None:
    words = _args(rest.split(maxsplit=1), 1, "/close CODE [REASON]")
    code = _number(words[0], "CODE", 1000, 4999)
    reason = words[1] if len(words) > 1 else ""
    if not close_code_allowed(code):
        raise LabError(f"close code {code} may not be sent; use 1000–1003, 1007–1014 or 3000–4999")
    if len(reason.encode("utf-8")) > 123:
        raise LabError("REASON may be at most 123 UTF-8 bytes")
    client.close_requested = True
    client.conn.close(code, reason)


def _bytes(client: ServerClient, rest: str) -> None:
    size = _number(_args(rest.split(), 1, "/bytes N")[0], "N", 0, MAX_LAB_BYTES)
    pattern = bytes(range(256))
    client.send((pattern * (size // 256 + 1))[:size])


def _text(client: ServerClient, rest: str) -> None:
    size = _number(_args(rest.split(), 1, "/text N")[0], "N", 0, MAX_LAB_BYTES)
    pattern = "abcdefghijklmnopqrstuvwxyz0123456789"
    client.send((pattern * (size // len(pattern) + 1))[:size])


def _fragments(client: ServerClient, rest: str) -> None:
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
    # Exactly N frames, the last one FIN, built under the connection's lock so
    # no other message can slip between them.

    def build(protocol: Any) -> None:
        protocol.send_text(parts[0].encode(), fin=count == 1)
        for number, part in enumerate(parts[1:], 2):
            protocol.send_continuation(part.encode(), fin=number == count)

    client.conn.send_frames(build)


def _badutf8(client: ServerClient, rest: str) -> None:
    # send_text() takes bytes and does not check them.
    client.conn.send_frames(lambda protocol: protocol.send_text(b"bad \xff\xfe utf-8"))


def _drop(client: ServerClient, rest: str) -> None:
    client.dropped = True
    client.conn.abort()


def _noping(client: ServerClient, rest: str) -> None:
    client.conn.protocol.answer_pings = False  # type: ignore[attr-defined]
    client.send("ok: pings are no longer answered")


def _delay(client: ServerClient, rest: str) -> None:
    words = _args(rest.split(maxsplit=1), 2, "/delay SECONDS TEXT")
    seconds = _number(words[0], "SECONDS", 0, MAX_LAB_DELAY, integer=False)
    text = words[1]

    def later() -> None:
        if client.conn.state.name == "OPEN":
            client.send(text)

    client.later(seconds, later)


def _help(client: ServerClient, rest: str) -> None:
    client.send(LAB_HELP)


_COMMANDS: dict[str, Callable[[Any, str], None]] = {
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


def _lab(client: ServerClient, message: str) -> None:
    name, _, rest = message.partition(" ")
    command = _COMMANDS.get(name)
    try:
        if command is None:
            raise LabError(f"unknown command {name}; send /help for the list")
        command(client, rest.strip())
    except LabError as exc:
        client.send(f"error: {exc}")
