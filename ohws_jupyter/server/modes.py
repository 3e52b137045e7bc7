"""Ready-made server behaviours: ``echo``, ``broadcast`` and ``lab``.

They run on the I/O loop as each message arrives, so a reply never waits
for user callbacks. ``lab`` makes the server misbehave on request,
so a lesson or a test can show every client event without writing a server.
Its commands are text messages that start with ``/``; anything else is echoed:

==========================  ===================================================
``/help``                   reply with this list
``/close [CODE [REASON]]``  close with CODE and REASON; no CODE: an empty close
                            frame (the client reports 1005)
``/bytes N``                send a binary message of N bytes
``/text N``                 send a text message of N bytes
``/fragments N [TEXT]``     send TEXT as one text message in N frames, cut
                            evenly by bytes (a cut may split a character)
``/badutf8``                send a text frame that is not valid UTF-8
``/drop``                   cut the TCP connection, no close frame
``/noping``                 stop answering pings (the client's keepalive fails)
``/delay SECONDS TEXT``     send TEXT after SECONDS, not holding up other replies
``/ping [TEXT]``            send a ping frame carrying TEXT
``/badclose CODE [REASON]`` send a close frame with any CODE, illegal ones too
``/masked [TEXT]``          send a text frame with the mask bit set
``/opcode N``               send a frame with opcode N (3–7, 11–15 are reserved)
``/rsv BITS``               send a text frame with reserved bits set (4 RSV1, 2 RSV2, 1 RSV3)
``/bigping``                send a ping with 126 bytes (control frames carry 125 at most)
``/splitping``              send a ping frame without FIN (control frames are never split)
``/pause SECONDS``          stop reading from this client for SECONDS: its messages
                            and its close frame wait unanswered
``/throttle N``             read at most about N bytes a second from this client (0: off)
``/restart SECONDS``        close every client with 1012, stop listening, listen again
                            after SECONDS on the same port
``/request``                reply with the opening handshake request, as JSON
==========================  ===================================================

The opening handshake misbehaves when the request path asks for it (the
path of ``ws://127.0.0.1:PORT/status/401``):

==========================  ===================================================
``/status/CODE``            answer HTTP CODE instead of 101 (401, 403, 426, 503 ...)
``/redirect/PATH``          answer 302 with ``Location: /PATH`` (the query kept)
``/bad-accept``             answer 101 with a wrong ``Sec-WebSocket-Accept``
``/subprotocol/NAME``       answer 101 choosing subprotocol NAME, offered or not
``/slow/SECONDS``           answer only after SECONDS (up to 9)
==========================  ===================================================

A command with bad arguments is answered with a text message ``error: ...``;
a handshake path with bad arguments with HTTP 400.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import struct
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.typing import Subprotocol

from ..core.checks import close_code_allowed
from .config import MODES
from .request_handler import refuse

if TYPE_CHECKING:
    from websockets.http11 import Request

    from .websocket_server import ServerClient, WebSocketServer

__all__ = [
    "LAB_HELP",
    "MAX_LAB_BYTES",
    "MAX_LAB_DELAY",
    "MAX_LAB_HANDSHAKE_DELAY",
    "MODES",
    "frame_bytes",
    "run_handshake",
    "run_mode",
]

logger = logging.getLogger("ohws_jupyter.server")

#: Largest message ``/bytes`` and ``/text`` make (a client's default limit is 16 MiB).
MAX_LAB_BYTES = 64 * 1024 * 1024
#: Longest ``/delay``, ``/pause`` and ``/restart``, in seconds.
MAX_LAB_DELAY = 300.0
#: Longest ``/slow/SECONDS``: the server itself drops a handshake after 10 s.
MAX_LAB_HANDSHAKE_DELAY = 9.0
#: Most frames ``/fragments`` sends.
MAX_LAB_FRAGMENTS = 10_000
#: Close code and reason of ``/restart`` (IANA registry: 1012 Service Restart).
RESTART_CLOSE = (1012, "service restart")

LAB_HELP = """lab commands (anything else is echoed):
/help                    this list
/close [CODE [REASON]]   close with CODE and REASON; no CODE: an empty close frame (1005)
/bytes N                 send a binary message of N bytes
/text N                  send a text message of N bytes
/fragments N [TEXT]      send TEXT as one message in N frames
/badutf8                 send a text frame that is not valid UTF-8
/drop                    cut the TCP connection without a close frame
/noping                  stop answering pings
/delay SECONDS TEXT      send TEXT after SECONDS
/ping [TEXT]             send a ping frame carrying TEXT
/badclose CODE [REASON]  send a close frame with any CODE, illegal ones too
/masked [TEXT]           send a text frame with the mask bit set
/opcode N                send a frame with opcode N (3-7 and 11-15 are reserved)
/rsv BITS                send a text frame with reserved bits (4 RSV1, 2 RSV2, 1 RSV3)
/bigping                 send a ping of 126 bytes (control frames carry 125 at most)
/splitping               send a ping frame without FIN (control frames are never split)
/pause SECONDS           stop reading from you for SECONDS (your close waits too)
/throttle N              read at most about N bytes a second from you (0: off)
/restart SECONDS         close everyone with 1012, listen again after SECONDS
/request                 reply with your opening handshake request, as JSON
handshake paths: /status/CODE, /redirect/PATH, /bad-accept, /subprotocol/NAME,
/slow/SECONDS (e.g. ws://127.0.0.1:PORT/status/401)"""


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
        _keep_to_the_rate(client)
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


def _reason(text: str) -> str:
    if len(text.encode("utf-8")) > 123:
        raise LabError("REASON may be at most 123 UTF-8 bytes")
    return text


# -- frames built by hand ---------------------------------------------------------------
def frame_bytes(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = False
) -> bytes:
    """One frame exactly as given (RFC 6455 5.2), whatever the rules say.

    websockets refuses to build an invalid frame, so the lab writes its own.

    Args:
        opcode: 0–15.
        payload: The payload, unmasked.
        fin: The FIN bit.
        rsv: The three RSV bits as a number: 4 RSV1, 2 RSV2, 1 RSV3.
        mask: Set the MASK bit and mask the payload with a random key.
    """
    first = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0x0F)
    mask_bit = 0x80 if mask else 0
    length = len(payload)
    if length < 126:
        head = bytes((first, mask_bit | length))
    elif length < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _raw(client: ServerClient, data: bytes) -> None:
    # Through the protocol's own output list, so the bytes keep their place
    # behind replies already queued (a direct transport write could overtake them).
    client.conn.send_frames(lambda protocol: protocol.writes.append(data))


# -- per-client lab state ---------------------------------------------------------------
class _LabState:
    """What a lab command leaves behind on one client (a throttle, a pause)."""

    def __init__(self) -> None:
        self.reading_rule = 0  # bumped by /pause and /throttle: an older rule's timer stops
        self.throttle: tuple[int, float, int] | None = None  # bytes/s, since, bytes_in then
        self.resume_armed = False


_states: weakref.WeakKeyDictionary[Any, _LabState] = weakref.WeakKeyDictionary()


def _state(client: ServerClient) -> _LabState:
    state = _states.get(client)
    if state is None:
        state = _states[client] = _LabState()
    return state


# -- message commands -------------------------------------------------------------------
def _close(client: ServerClient, rest: str) -> None:
    words = rest.split(maxsplit=1)
    if not words:
        client.close_requested = True
        client.conn.close(None, "")  # type: ignore[arg-type]  # an empty close frame
        return
    code = _number(words[0], "CODE", 1000, 4999)
    reason = _reason(words[1] if len(words) > 1 else "")
    if not close_code_allowed(code):
        # /badclose sends it anyway.
        raise LabError(f"close code {code} may not be sent; use 1000–1003, 1007–1014 or 3000–4999")
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
    data = text.encode()
    if count > len(data):
        unit = "characters" if text.isascii() else "UTF-8 bytes"
        raise LabError(f"TEXT has {len(data)} {unit}; it cannot fill {count} fragments")
    # The bytes are cut evenly, even inside a character: only the whole
    # message must be valid UTF-8 (RFC 6455 5.6).
    step, extra = divmod(len(data), count)
    parts, start = [], 0
    for i in range(count):
        end = start + step + (1 if i < extra else 0)
        parts.append(data[start:end])
        start = end
    # Exactly N frames, the last one FIN, built under the connection's lock so
    # no other message can slip between them.

    def build(protocol: Any) -> None:
        protocol.send_text(parts[0], fin=count == 1)
        for number, part in enumerate(parts[1:], 2):
            protocol.send_continuation(part, fin=number == count)

    client.conn.send_frames(build)


def _badutf8(client: ServerClient, rest: str) -> None:
    # send_text() takes bytes and does not check them.
    client.conn.send_frames(lambda protocol: protocol.send_text(b"bad \xff\xfe utf-8"))


def _drop(client: ServerClient, rest: str) -> None:
    client.dropped = True
    client.conn.abort()


def _noping(client: ServerClient, rest: str) -> None:
    client.conn.protocol.answer_pings = False
    client.send("ok: pings are no longer answered")


def _delay(client: ServerClient, rest: str) -> None:
    words = _args(rest.split(maxsplit=1), 2, "/delay SECONDS TEXT")
    seconds = _number(words[0], "SECONDS", 0, MAX_LAB_DELAY, integer=False)
    text = words[1]

    def later() -> None:
        if client.conn.state.name == "OPEN":
            client.send(text)

    client.later(seconds, later)


def _ping(client: ServerClient, rest: str) -> None:
    payload = rest.encode()
    if len(payload) > 125:
        raise LabError("TEXT may be at most 125 UTF-8 bytes (a control frame's limit)")
    client.conn.send_frames(lambda protocol: protocol.send_ping(payload))


def _badclose(client: ServerClient, rest: str) -> None:
    words = _args(rest.split(maxsplit=1), 1, "/badclose CODE [REASON]")
    code = _number(words[0], "CODE", 0, 65535)
    reason = _reason(words[1] if len(words) > 1 else "")
    _raw(client, frame_bytes(0x8, struct.pack("!H", code) + reason.encode()))


def _masked(client: ServerClient, rest: str) -> None:
    _raw(client, frame_bytes(0x1, (rest or "masked by the server").encode(), mask=True))


def _opcode(client: ServerClient, rest: str) -> None:
    opcode = _number(_args(rest.split(), 1, "/opcode N")[0], "N", 0, 15)
    _raw(client, frame_bytes(opcode, b"lab"))


def _rsv(client: ServerClient, rest: str) -> None:
    bits = _number(_args(rest.split(), 1, "/rsv BITS")[0], "BITS", 1, 7)
    _raw(client, frame_bytes(0x1, b"reserved bits", rsv=bits))


def _bigping(client: ServerClient, rest: str) -> None:
    _raw(client, frame_bytes(0x9, b"p" * 126))


def _splitping(client: ServerClient, rest: str) -> None:
    _raw(client, frame_bytes(0x9, b"split", fin=False))


def _pause(client: ServerClient, rest: str) -> None:
    seconds = _number(
        _args(rest.split(), 1, "/pause SECONDS")[0], "SECONDS", 0, MAX_LAB_DELAY, integer=False
    )
    state = _state(client)
    state.reading_rule += 1
    state.throttle = None
    rule = state.reading_rule
    transport = client.conn.transport
    if transport is None:
        return
    transport.pause_reading()
    client.send(f"ok: not reading for {seconds:g} s")

    def resume() -> None:
        if state.reading_rule == rule:
            transport.resume_reading()

    client.later(seconds, resume)


def _throttle(client: ServerClient, rest: str) -> None:
    rate = _number(_args(rest.split(), 1, "/throttle N")[0], "N", 0, MAX_LAB_BYTES)
    state = _state(client)
    state.reading_rule += 1
    if client.conn.transport is None:
        return
    state.throttle = (rate, time.monotonic(), client.conn.bytes_in) if rate else None
    if rate == 0:
        client.conn.transport.resume_reading()
        client.send("ok: reading at full speed")
        return
    client.send(f"ok: reading at most {rate} bytes a second")


def _keep_to_the_rate(client: ServerClient) -> None:
    """Pause reading until the time spent pays for what was read (``/throttle``).

    Checked as each message arrives: one read may bring up to 256 KiB, so the
    rate holds on average, a read at a time.
    """
    state = _states.get(client)
    if state is None or state.throttle is None or state.resume_armed:
        return
    rate, start, start_bytes = state.throttle
    conn = client.conn
    owed = (conn.bytes_in - start_bytes) - rate * (time.monotonic() - start)
    if owed <= 0 or conn.transport is None:
        return
    transport, rule = conn.transport, state.reading_rule
    transport.pause_reading()
    state.resume_armed = True

    def resume() -> None:
        state.resume_armed = False
        if state.reading_rule == rule:
            transport.resume_reading()

    client.later(owed / rate, resume)


def _restart(client: ServerClient, rest: str) -> None:
    seconds = _number(
        _args(rest.split(), 1, "/restart SECONDS")[0], "SECONDS", 0, MAX_LAB_DELAY, integer=False
    )
    server = client.server
    config = server.config
    for member in server.clients():
        member.close_requested = True
        member.conn.close(*RESTART_CLOSE)
    server.context.runtime.spawn(_come_back(server, config, seconds))


async def _come_back(server: WebSocketServer, config: Any, seconds: float) -> None:
    try:
        await server.stop()
    except Exception:
        return  # stopped by someone else meanwhile: stay stopped
    await asyncio.sleep(seconds)
    if server.state.name != "STOPPED":
        return  # started again by someone else
    try:
        await server.start(config)
    except Exception as exc:
        logger.warning("the lab server did not come back after /restart: %s", exc)
        return
    logger.info("= back after /restart on %s", server.url)


def _request(client: ServerClient, rest: str) -> None:
    request = client.request
    if request is None:  # pragma: no cover - every admitted client has one
        raise LabError("no handshake request was kept")
    shown = request.masked()
    # Sec-WebSocket-Key is a random nonce, not a credential: show it, so the
    # Sec-WebSocket-Accept in the client's response headers can be checked.
    for name, value in request.headers.items():
        if name.lower() == "sec-websocket-key":
            shown["headers"][name] = value
    client.send(json.dumps(shown))


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
    "/ping": _ping,
    "/badclose": _badclose,
    "/masked": _masked,
    "/opcode": _opcode,
    "/rsv": _rsv,
    "/bigping": _bigping,
    "/splitping": _splitping,
    "/pause": _pause,
    "/throttle": _throttle,
    "/restart": _restart,
    "/request": _request,
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


# -- the opening handshake ---------------------------------------------------------------
_STATUS_HEADERS = {
    401: {"WWW-Authenticate": 'Bearer realm="lab"'},
    426: {"Upgrade": "websocket", "Sec-WebSocket-Version": "13"},
    503: {"Retry-After": "1"},
}


def _status(client: ServerClient, request: Request, arg: str) -> None:
    status = _number(arg, "CODE", 300, 599)
    try:
        refuse(client, request, status, headers=_STATUS_HEADERS.get(status))
    except ValueError:
        raise LabError(f"{status} is not an HTTP status") from None


def _redirect(client: ServerClient, request: Request, arg: str) -> None:
    query = client.request.query if client.request else {}
    target = "/" + arg
    if query:
        target += "?" + request.path.partition("?")[2]
    refuse(client, request, 302, f"moved to {target}\n", {"Location": target})


def _answer_101(client: ServerClient, request: Request, edit: Callable[[Any], None]) -> None:
    # A 101 that the client must refuse: the server does not admit this client
    # (no 'connect'); it goes when the client hangs up, or at the handshake deadline.
    def build(protocol: Any) -> None:
        response = protocol.accept(request)
        if response.status_code == 101:
            edit(response)
        protocol.send_response(response)

    client.conn.send_frames(build)


def _bad_accept(client: ServerClient, request: Request, arg: str) -> None:
    def edit(response: Any) -> None:
        del response.headers["Sec-WebSocket-Accept"]
        response.headers["Sec-WebSocket-Accept"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="

    _answer_101(client, request, edit)


def _subprotocol(client: ServerClient, request: Request, arg: str) -> None:
    name = arg.strip("/")
    if not name:
        raise LabError("usage: /subprotocol/NAME")
    if client.request is not None and name in client.request.protocols:
        # Offered: a normal handshake that picks it.
        client.conn.protocol.available_subprotocols = [Subprotocol(name)]
        client.respond(request)
        return

    def edit(response: Any) -> None:
        if "Sec-WebSocket-Protocol" in response.headers:
            del response.headers["Sec-WebSocket-Protocol"]
        response.headers["Sec-WebSocket-Protocol"] = name

    _answer_101(client, request, edit)


def _slow(client: ServerClient, request: Request, arg: str) -> None:
    seconds = _number(arg, "SECONDS", 0, MAX_LAB_HANDSHAKE_DELAY, integer=False)
    client.later(seconds, lambda: client.respond(request))


_HANDSHAKES: dict[str, Callable[[Any, Any, str], None]] = {
    "status": _status,
    "redirect": _redirect,
    "bad-accept": _bad_accept,
    "subprotocol": _subprotocol,
    "slow": _slow,
}


def run_handshake(mode: str | None, client: ServerClient, request: Request) -> bool:
    """The ``lab`` handshake misbehaviours; True if the request was (or will be) answered.

    Called on the I/O thread before the server accepts a handshake.
    """
    if mode != "lab" or client.request is None:
        return False
    name, _, arg = client.request.path.strip("/").partition("/")
    answer = _HANDSHAKES.get(name)
    if answer is None:
        return False
    try:
        answer(client, request, arg)
    except LabError as exc:
        refuse(client, request, 400, f"error: {exc}\n")
    return True
