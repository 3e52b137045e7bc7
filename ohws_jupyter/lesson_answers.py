"""The model answers to the lessons' exercises: for teachers, kept out of the notebooks.

A lesson's exercise cell holds a stub that raises ``NotImplementedError``. Until
the student replaces it, :meth:`ohws_jupyter.lessons.Lesson.check` runs the
exercise's test on the answer kept here, so a notebook still runs top to bottom,
and "Run All" shows no answer. ``docs/teaching.md`` (the teacher's guide) says
how to use them; CI runs every lesson once with these answers written into the
student's cells.

Each answer is registered under its lesson and exercise name with
:func:`answer`; :func:`reference` finds it. The answers use only the standard
library and the public API, and each is complete on its own once the
standard-library modules imported at the top of this file are imported.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import hashlib
import json
import os
import re
import secrets
import struct
import threading
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .core.errors import BusinessError

__all__ = ["answer", "names", "reference"]

_F = TypeVar("_F", bound=Callable[..., Any])
_ANSWERS: dict[tuple[str, str], Callable[..., Any]] = {}


def answer(lesson: str, exercise: str) -> Callable[[_F], _F]:
    """Register the decorated function or class as the answer to ``exercise`` of ``lesson``."""

    def register(fn: _F) -> _F:
        _ANSWERS[(lesson, exercise)] = fn
        return fn

    return register


def reference(lesson: str, exercise: str) -> Callable[..., Any]:
    """The model answer to ``exercise`` of ``lesson``.

    Raises:
        LookupError: the lesson has no exercise of that name here.
    """
    try:
        return _ANSWERS[(lesson, exercise)]
    except KeyError:
        known = ", ".join(e for (name, e) in _ANSWERS if name == lesson) or "none"
        raise LookupError(
            f"no model answer for exercise {exercise!r} of lesson {lesson!r} "
            f"(its exercises: {known})"
        ) from None


def names(lesson: str) -> list[str]:
    """The exercises of ``lesson`` that have a model answer, in lesson order."""
    return [exercise for (name, exercise) in _ANSWERS if name == lesson]


# -- 00-on-the-wire ------------------------------------------------------------------------
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


@answer("00-on-the-wire", "compute_accept")
def compute_accept(key: str) -> str:
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


@answer("00-on-the-wire", "client_frame")
def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return header + mask + masked


@answer("00-on-the-wire", "parse_frame")
def parse_frame(data: bytes) -> dict[str, Any] | None:
    if len(data) < 2:
        return None
    first, second = data[0], data[1]
    length, at = second & 0x7F, 2
    if length == 126:
        if len(data) < 4:
            return None
        (length,), at = struct.unpack("!H", data[2:4]), 4
    elif length == 127:
        if len(data) < 10:
            return None
        (length,), at = struct.unpack("!Q", data[2:10]), 10
    masked = bool(second & 0x80)
    mask = b""
    if masked:
        if len(data) < at + 4:
            return None
        mask, at = data[at : at + 4], at + 4
    if len(data) < at + length:
        return None
    payload = data[at : at + length]
    if masked:
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return {
        "fin": bool(first & 0x80),
        "rsv": (first >> 4) & 0x07,
        "opcode": first & 0x0F,
        "masked": masked,
        "payload": payload,
        "size": at + length,
    }


# The parser of 00 is the client that the lab misbehaves against in 04.
answer("04-protocol-lab", "parse_frame")(parse_frame)


# -- 05-arkts-to-python --------------------------------------------------------------------
@answer("05-arkts-to-python", "fetch_long")
def fetch_long(url: str, done: Callable[[str], object]) -> Any:
    from ohws_jupyter import webSocket

    ws = webSocket.createWebSocket()
    pieces: list[str] = []

    def on_data_end() -> None:
        done("".join(pieces))
        pieces.clear()
        ws.close({"code": 1000, "reason": "got it"}, lambda err: None)

    def on_message(err: BusinessError | None, value: object) -> None:
        if isinstance(value, str):
            pieces.append(value)

    ws.on("open", lambda err, value: ws.send("/text 10000", lambda err, ok: None))
    ws.on("message", on_message)
    ws.on("dataEnd", on_data_end)
    ws.connect(url, lambda err, value: None)
    return ws


@answer("05-arkts-to-python", "probe")
def probe(url: str, report: Callable[[str], object]) -> None:
    from ohws_jupyter import webSocket

    ws = webSocket.createWebSocket()

    def on_open(err: BusinessError | None, value: object) -> None:
        report("open")
        ws.close({"code": 1000, "reason": "probe done"}, lambda err: None)

    ws.on("open", on_open)
    ws.on("error", lambda err: report(f"error {err.code}"))
    ws.connect(url, lambda err, value: None)  # the outcome comes through 'open' or 'error'


@answer("05-arkts-to-python", "join_arkts")
def join_arkts() -> str:
    return """
import { webSocket } from '@kit.NetworkKit';
import { BusinessError } from '@kit.BasicServicesKit';

function join(url: string, token: string): webSocket.WebSocket {
  let ws: webSocket.WebSocket = webSocket.createWebSocket();
  ws.on('message', (err: BusinessError, value: string | ArrayBuffer) => {
    console.info('message: ' + value);
  });
  ws.on('open', (err: BusinessError, value: Object) => {
    ws.send('{"type": "join"}');
  });
  ws.on('error', (err: BusinessError) => {
    console.error('cannot connect: ' + err.code + ' ' + JSON.stringify(err));
  });
  let header: Record<string, string> = { 'authorization': 'Bearer ' + token };
  let options: webSocket.WebSocketRequestOptions = { header: header, protocol: 'chat' };
  ws.connect(url, options);
  return ws;
}
"""


@answer("05-arkts-to-python", "greeter_arkts")
def greeter_arkts() -> str:
    return """
import { webSocket } from '@kit.NetworkKit';
import { BusinessError } from '@kit.BasicServicesKit';

let greeter: webSocket.WebSocketServer = webSocket.createWebSocketServer();
greeter.on('connect', (connection: webSocket.WebSocketConnection) => {
  greeter.send('welcome', connection);
});
greeter.on('messageReceive', (message: webSocket.WebSocketMessage) => {
  if (message.data === 'quit') {
    let options: webSocket.WebSocketCloseOptions = { code: 1000, reason: 'bye' };
    greeter.close(message.clientConnection, options);
  } else {
    greeter.send(message.data, message.clientConnection);
  }
});
let config: webSocket.WebSocketServerConfig = {
  serverPort: 8080,
  maxConcurrentClientsNumber: 10,
  maxConnectionsForOneClient: 10,
};
greeter.start(config).catch((err: BusinessError) => {
  console.error('start fail, err: ' + JSON.stringify(err));
});
"""


# -- 07-heartbeats-and-reconnecting --------------------------------------------------------
@answer("07-heartbeats-and-reconnecting", "backoff")
def backoff(
    n: int,
    min_delay: float,
    max_delay: float,
    factor: float,
    uniform: Callable[[float, float], float],
) -> float:
    ceiling = min(max_delay, min_delay * factor ** (n - 1))
    low, high = max(min_delay, ceiling / 2), max(min_delay, ceiling)
    return low if high <= low else uniform(low, high)


@answer("07-heartbeats-and-reconnecting", "resume_after")
def resume_after(seen: list[int]) -> int:
    have = set(seen)
    last = 0
    while last + 1 in have:
        last += 1
    return last


# -- 08-security ---------------------------------------------------------------------------
@answer("08-security", "origin_allowed")
def origin_allowed(origin: str | None) -> bool:
    # An exact match on the whole origin: scheme, host and port. A prefix or
    # "contains" test lets https://app.example.evil.example through.
    return origin in {"https://app.example", "https://www.app.example"}


@answer("08-security", "TicketBook")
class TicketBook:
    def __init__(self, ttl: float = 30.0):
        self.ttl = ttl
        self.expires: dict[str, float] = {}

    def issue(self, now: float) -> str:
        ticket = secrets.token_urlsafe(16)  # unguessable, not a counter
        self.expires[ticket] = now + self.ttl
        return ticket

    def redeem(self, ticket: str, now: float) -> bool:
        expires = self.expires.pop(ticket, None)  # gone after the first use
        return expires is not None and now <= expires


# -- 09-application-protocol ---------------------------------------------------------------
@answer("09-application-protocol", "parse_envelope")
def parse_envelope(text: str) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(message, dict):
        raise ValueError(f"a JSON object is needed, not {type(message).__name__}")
    kind = message.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("'type' must be a non-empty string")
    ident = message.get("id")
    if ident is not None and not isinstance(ident, str):
        raise ValueError("'id' must be a string or null")
    payload = message.get("payload", {})
    if not isinstance(payload, dict):
        raise ValueError("'payload' must be an object")
    return {"type": kind, "id": ident, "payload": payload}


@answer("09-application-protocol", "Pending")
class Pending:
    def __init__(self) -> None:
        self.lock = threading.Lock()  # expect() and deliver() run on different threads
        self.waiting: dict[str, concurrent.futures.Future[dict[str, Any]]] = {}

    def expect(self, ident: str) -> concurrent.futures.Future[dict[str, Any]]:
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        with self.lock:
            self.waiting[ident] = future
        return future

    def deliver(self, envelope: dict[str, Any]) -> bool:
        with self.lock:
            future = self.waiting.pop(envelope["id"], None) if "id" in envelope else None
        if future is None:
            return False  # unknown, answered already, or given up: not ours
        future.set_result(envelope)
        return True

    def give_up(self, ident: str) -> None:
        with self.lock:
            self.waiting.pop(ident, None)


# -- 10-backpressure-and-broadcast ---------------------------------------------------------
@answer("10-backpressure-and-broadcast", "pump")
async def pump(ws: Any, chunks: list[Any], window: int) -> None:
    in_flight: collections.deque[Any] = collections.deque()
    for chunk in chunks:
        while len(in_flight) >= window:
            await in_flight.popleft()  # the oldest first: promises resolve in order
        in_flight.append(ws.send(chunk))
    for promise in in_flight:
        await promise


@answer("10-backpressure-and-broadcast", "Outbox")
class Outbox:
    def __init__(self, limit: int, policy: str):
        self.limit, self.policy = limit, policy
        self.queue: collections.deque[Any] = collections.deque()

    def put(self, message: Any) -> str:
        if len(self.queue) < self.limit:
            self.queue.append(message)
            return "queued"
        if self.policy == "drop-oldest":
            self.queue.popleft()
            self.queue.append(message)
            return "dropped-oldest"
        return "close"

    def take(self) -> Any:
        return self.queue.popleft() if self.queue else None


# -- 11-websocket-today --------------------------------------------------------------------
@answer("11-websocket-today", "extended_connect")
def extended_connect(url: str) -> list[tuple[str, str]]:
    parts = urllib.parse.urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}[parts.scheme]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = {"http": 80, "https": 443}[scheme]
    authority = parts.hostname or ""
    if parts.port is not None and parts.port != default:
        authority += f":{parts.port}"
    return [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", scheme),
        (":path", path),
        (":authority", authority),
        ("sec-websocket-version", "13"),
    ]


@answer("11-websocket-today", "parse_sse")
def parse_sse(stream: str) -> list[tuple[str, str]]:
    # The HTML standard's rules for an event stream, for a stream that has ended.
    events: list[tuple[str, str]] = []
    kind, data = "", ""
    for line in re.split(r"\r\n|\r|\n", stream)[:-1]:  # the last part is an unfinished line
        if not line:
            if data:  # an event with no data is not fired
                events.append((kind or "message", data[:-1]))
            kind, data = "", ""
            continue
        if line.startswith(":"):
            continue  # a comment
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data += value + "\n"
        elif field == "event":
            kind = value
    return events
