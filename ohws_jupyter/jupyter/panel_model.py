"""What the panels show, without any widget: log entries, the window, rates.

:class:`~ohws_jupyter.jupyter.panel.WebSocketPanel` and
:class:`~ohws_jupyter.jupyter.server_panel.WebSocketServerPanel` turn ``Record``\\ s into
JSON-ready *entries* here and keep them in a :class:`LogWindow`. Everything the
front end draws is computed here once, so the Python model and the browser
agree by construction and tests can check it without a browser:

* an entry's one-line fields (direction, time, Δ since the previous entry, size,
  type ``text``/``json``/``binary``/``event``/``error``, a preview);
* its ``flow``: the arrows of the timeline diagram, between the client lane
  ``'c'`` and the server lane ``'s'`` (``'x'`` spans both);
* the whole message of the entries still in the window (within a byte budget),
  for the detail pane; :func:`hexdump` is the layout the detail pane uses;
* per-second message and byte rates over the last minute (:class:`Rates`).

No I/O and no Jupyter here.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from ..core.checks import COMPOSER_MODES, compose
from ..core.errors import BusinessError
from ..core.events import Record
from ..core.masking import mask_url, mask_urls_in

__all__ = [
    "CLOSE_CODE_TEXT",
    "MODES",
    "LogWindow",
    "PendingRecords",
    "Rates",
    "close_code_text",
    "hexdump",
    "parse_close_code",
    "parse_composer",
    "plural",
    "saved_item",
]

#: Plain-language meaning of the close codes people meet most.
CLOSE_CODE_TEXT: dict[int, str] = {
    1000: "Normal closure: the purpose of the connection was fulfilled.",
    1001: "Going away: the server is shutting down or the page was left.",
    1002: "Protocol error: a peer broke the WebSocket protocol.",
    1003: "Unsupported data: a peer got a kind of message it cannot accept "
    "(e.g. binary where only text is expected).",
    1005: "No status code: the close frame carried no code.",
    1006: "Abnormal closure: the connection was lost without a close frame "
    "(network drop, crash, or a timeout).",
    1007: "Invalid payload: a message did not match its type (e.g. text that is not UTF-8).",
    1008: "Policy violation: the peer refused a message against its rules "
    "(often authentication or authorization).",
    1009: "Message too big: a message exceeded the size the peer accepts.",
    1010: "Missing extension: the server did not negotiate an extension the client requires.",
    1011: "Internal error: the server hit an unexpected condition.",
    1012: "Service restart: the server is restarting; reconnect later.",
    1013: "Try again later: the server is overloaded.",
    1014: "Bad gateway: a gateway got an invalid response upstream.",
    1015: "TLS handshake failure.",
}

#: Composer modes: how typed text becomes a message.
MODES = COMPOSER_MODES

TEXT_PREVIEW = 4096  # characters of a text message kept in its entry
BINARY_PREVIEW = 1024  # bytes of a binary message kept (as hex) in its entry
JSON_SNIFF = 65536  # longest text checked for being JSON when its entry is made
#: Whole messages kept for the detail pane, in bytes; older ones keep their preview only.
FULL_BUDGET = 32 * 1024 * 1024
#: Saved messages: how many, and how long each may be (characters as typed).
SAVED_MAX = 100
SAVED_TEXT_MAX = 1024 * 1024
RATE_SECONDS = 60


def close_code_text(code: int | None) -> str:
    """Explain a close code in one plain sentence ('' for None)."""
    if code is None:
        return ""
    if code in CLOSE_CODE_TEXT:
        return CLOSE_CODE_TEXT[code]
    if 4000 <= code <= 4999:
        return "Application code (4000-4999): its meaning is defined by this server's application."
    if 3000 <= code <= 3999:
        return "Registered code (3000-3999): defined by a library, framework or application."
    return "Unknown close code."


def parse_close_code(code: Any) -> int:
    """The close code typed in a panel: empty means 1000, else a whole number.

    Raises:
        ValueError: Not a whole number (``1000.5``, ``0x3e8``, ``4OO1``, ``True``);
            the message says what to type. Whether the number is an allowed
            close code is ``close``'s own check (a 401).
    """
    if code is None or (isinstance(code, str) and not code.strip()):
        return 1000
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and code.strip().isdigit() and code.strip().isascii():
        return int(code.strip())
    raise ValueError(
        f"close code {code!r} is not a whole number; use 1000, or 3000-4999 for your own codes"
    )


def parse_composer(text: str, mode: str) -> str | bytes:
    """Composer input as the message to send: :func:`~ohws_jupyter.core.checks.compose`.

    Raises:
        ValueError: The input does not parse in that mode; the message says why.
    """
    try:
        return compose(text, mode)
    except BusinessError as err:
        raise ValueError(err.detail) from None


def saved_item(name: Any, text: Any, mode: Any = "text") -> dict[str, str]:
    """A checked saved message ``{'name', 'mode', 'text'}``.

    Raises:
        ValueError: Empty or long name, unknown mode, text that does not parse
            in its mode, or text over :data:`SAVED_TEXT_MAX` characters.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a saved message needs a name")
    name = name.strip()
    if len(name) > 80:
        raise ValueError("a saved message's name must be at most 80 characters")
    if not isinstance(text, str):
        raise ValueError(f"a saved message's text must be a str, not {type(text).__name__}")
    if len(text) > SAVED_TEXT_MAX:
        raise ValueError(f"a saved message may hold at most {SAVED_TEXT_MAX:,} characters")
    parse_composer(text, str(mode))  # refuses unknown modes and bad input now, not at send
    return {"name": name, "mode": str(mode), "text": text}


def hexdump(data: bytes, limit: int | None = None) -> str:
    """``data`` as ``hexdump -C`` lays it out: offset, 16 bytes, ASCII column.

    Args:
        data: The bytes.
        limit: Dump at most this many bytes (None: all).
    """
    view = data if limit is None else data[:limit]
    lines = []
    for start in range(0, len(view), 16):
        row = view[start : start + 16]
        left = " ".join(f"{b:02x}" for b in row[:8])
        right = " ".join(f"{b:02x}" for b in row[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{start:08x}  {left:<23}  {right:<23}  |{text}|")
    return "\n".join(lines)


def format_size(n: int) -> str:
    """A byte count for people: ``512 B``, ``4.9 KiB``, ``1.0 MiB``."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def plural(n: int, one: str, many: str | None = None) -> str:
    """A count and its word: ``1 attempt``, ``3 attempts``, ``1,200 messages``."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _message_type(data: Any) -> str:
    if not isinstance(data, str):
        return "binary"
    head = data[:1]
    if head in ("{", "[") and len(data) <= JSON_SNIFF and data.rstrip()[-1:] in ("}", "]"):
        try:
            json.loads(data)
        except ValueError:
            return "text"
        return "json"
    return "text"


def _size_of(data: Any) -> int:
    if isinstance(data, str):
        return len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
    return len(data)


class _Flow:
    """Draws one connection's timeline arrows, remembering who started the close.

    Args:
        server_side: The entries are the server's (``'<'`` means received from
            the client); otherwise the client's (``'<'`` means from the server).
    """

    def __init__(self, server_side: bool) -> None:
        self.server_side = server_side
        self.we_closed = False
        self.peer_closed = False
        self.path = "/"

    def steps(self, rec: Record, entry: dict[str, Any]) -> list[list[Any]]:
        """``[from, to, label, style, pieces]`` arrows of one entry."""
        kind = rec.kind
        out_ = ["s", "c"] if self.server_side else ["c", "s"]
        in_ = out_[::-1]
        if kind == "message":
            ends = out_ if rec.direction == ">" else in_
            label = f"{entry['type']} · {format_size(entry['size'])}"
            if rec.pieces > 1:
                label += f" · {rec.pieces} pieces"
            snippet = _snippet(entry)
            if snippet:
                label += f" · {snippet}"
            return [[*ends, label, "msg", rec.pieces]]
        if kind == "connect":
            self.we_closed = False
            self.peer_closed = False
            if isinstance(rec.data, str) and "://" in rec.data:  # the client's URL
                self.path = "/" + rec.data.split("://", 1)[1].partition("/")[2].split("#")[0]
            elif isinstance(rec.data, str) and rec.data.startswith("/"):  # the server's path
                self.path = rec.data
            steps = [["c", "s", f"GET {mask_url(self.path)} · Upgrade: websocket", "http", 0]]
            if self.server_side:  # the server learns of a client once it is open
                steps.append(["s", "c", "101 Switching Protocols", "http", 0])
            return steps
        if kind == "open":
            label = "101 Switching Protocols"
            if rec.data:
                label += f" · {rec.data}"
            return [["s", "c", label, "http", 0]]
        if kind in ("ping", "pong"):
            ends = out_ if rec.direction == ">" else in_
            label = kind.capitalize()
            if kind == "pong" and isinstance(rec.data, (int, float)):
                label += f" · {rec.data * 1000:.1f} ms"
            return [[*ends, label, "keepalive", 0]]
        if kind == "closing":
            if rec.direction == "<":  # the peer's close frame, and the echo it gets
                self.peer_closed = True
                return [
                    [*in_, _close_label(rec.code, rec.reason), "close", 0],
                    [*out_, f"Close {rec.code} (reply)", "close", 0],
                ]
            self.we_closed = True
            return [[*out_, _close_label(rec.code, rec.reason), "close", 0]]
        if kind == "close":
            if rec.code == 1006:
                return [["x", "x", "connection lost · 1006, no close frame", "lost", 0]]
            if self.we_closed:
                return [[*in_, f"Close {rec.code} (reply)", "close", 0]]
            if self.peer_closed:
                return []  # both frames are drawn already
            return [
                [*in_, _close_label(rec.code, rec.reason), "close", 0],
                [*out_, f"Close {rec.code} (reply)", "close", 0],
            ]
        if kind == "error":
            return [["x", "x", entry.get("text", "error"), "error", 0]]
        if kind == "reconnecting":  # the panel's note of a reconnect's wait, or of its end
            return [["x", "x", f"reconnecting · {entry.get('text', '')}", "reconnect", 0]]
        return [["x", "x", entry.get("text", kind), "note", 0]]


#: What a keepalive entry says: ours is a ping sent and its pong; the peer's, the other way.
_KEEPALIVE_TEXT = {
    ("ping", ">"): "keepalive sent",
    ("pong", "<"): "keepalive answered",
    ("ping", "<"): "from the peer",
    ("pong", ">"): "answer to the peer",
}


def _snippet(entry: dict[str, Any], width: int = 40) -> str:
    """The start of a message on one line, for a timeline arrow."""
    if entry["binary"]:
        head: str = entry["text"][: 8 * 3 - 1]
        return head + " …" if entry["size"] > 8 else head
    text = " ".join(entry["text"][: width * 4].split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _close_label(code: int | None, reason: str | None) -> str:
    label = f"Close {code}" if code is not None else "Close"
    return f"{label} {reason}" if reason else label


class LogWindow:
    """The bounded log of one connection, as entries, plus the whole recent messages.

    Not thread-safe by itself: the panel adds from one thread at a time and reads
    under its own lock.

    Args:
        max_entries: Entries kept; older ones are counted in :attr:`dropped`.
        server_side: Entries are a server's view of one client.
        full_budget: Bytes of whole messages kept for the detail pane.
    """

    def __init__(
        self, max_entries: int, *, server_side: bool = False, full_budget: int = FULL_BUDGET
    ) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self.dropped = 0
        self.seq = 0  # the last number given to a record of this window (by its owner)
        self._flow = _Flow(server_side)
        self._last_time: float | None = None
        self._full: OrderedDict[int, Any] = OrderedDict()
        self._full_bytes = 0
        self._full_budget = full_budget

    def add(self, seq: int, rec: Record) -> dict[str, Any]:
        """Make the entry of ``rec`` numbered ``seq`` and append it; returns it."""
        entry = self._entry(seq, rec)
        entries = self.entries
        if len(entries) == entries.maxlen:
            gone = entries[0]["seq"]
            self.dropped += 1
            self._forget(gone)
        entries.append(entry)
        if rec.kind == "message" and entry["size"] <= self._full_budget:
            self._full[seq] = rec.data
            self._full_bytes += entry["size"]
            while self._full_bytes > self._full_budget:
                _, data = self._full.popitem(last=False)
                self._full_bytes -= _size_of(data)
        return entry

    def skip(self, count: int) -> None:
        """Count ``count`` records that never became entries (they overflowed a queue)."""
        self.dropped += count

    def clear(self) -> None:
        """Empty the window and the dropped count; numbering goes on."""
        self.entries.clear()
        self._full.clear()
        self._full_bytes = 0
        self.dropped = 0

    def find(self, seq: int) -> dict[str, Any] | None:
        """The entry numbered ``seq`` if it is still in the window."""
        entries = self.entries
        if not entries or not entries[0]["seq"] <= seq <= entries[-1]["seq"]:
            return None
        # Numbers are increasing but may have gaps (records skipped in a flood).
        index = min(seq - entries[0]["seq"], len(entries) - 1)
        while index > 0 and entries[index]["seq"] > seq:
            index -= 1
        entry = entries[index]
        return entry if entry["seq"] == seq else None

    def whole(self, seq: int) -> Any:
        """The whole message of entry ``seq``, or None if only its preview is kept."""
        return self._full.get(seq)

    def detail(self, seq: int) -> dict[str, Any] | None:
        """The entry ``seq`` with its whole message (``data``) when still kept."""
        entry = self.find(seq)
        if entry is None:
            return None
        out = dict(entry)
        if entry["kind"] == "message":
            data = self._full.get(seq)
            out["complete"] = data is not None
            if data is None:  # fell out of the byte budget: the preview is all there is
                data = entry["text"] if not entry["binary"] else bytes.fromhex(entry["text"])
            out["data"] = data
        return out

    def _forget(self, seq: int) -> None:
        data = self._full.pop(seq, None)
        if data is not None:
            self._full_bytes -= _size_of(data)

    def _entry(self, seq: int, rec: Record) -> dict[str, Any]:
        """The JSON-ready entry of one record (previews only, headers already masked)."""
        delta = None if self._last_time is None else max(0.0, rec.time - self._last_time)
        self._last_time = rec.time
        out: dict[str, Any] = {
            "seq": seq,
            "time": rec.time,
            "delta": delta,
            "kind": rec.kind,
            "dir": rec.direction,
            "type": "event",
        }
        kind = rec.kind
        if kind == "message":
            data = rec.data
            out["type"] = _message_type(data)
            if isinstance(data, str):
                out.update(size=_size_of(data), binary=False, text=data[:TEXT_PREVIEW])
                out["truncated"] = len(data) > TEXT_PREVIEW
            else:
                data = bytes(data)
                out.update(size=len(data), binary=True, text=data[:BINARY_PREVIEW].hex(" "))
                out["truncated"] = len(data) > BINARY_PREVIEW
            out["pieces"] = rec.pieces
        elif kind in ("closing", "close"):
            out.update(code=rec.code, reason=rec.reason or "", explain=close_code_text(rec.code))
        elif kind == "error":
            err = rec.error
            out["type"] = "error"
            out["text"] = mask_urls_in(str(err))
            if isinstance(err, BusinessError):
                out["code"] = err.code
        elif kind == "connect":
            out["text"] = mask_url(rec.data) if isinstance(rec.data, str) else ""
        elif kind == "open":
            out["text"] = f"protocol: {rec.data}" if rec.data else ""
        elif kind in ("ping", "pong"):
            out["text"] = _KEEPALIVE_TEXT.get((kind, rec.direction), "")
            if kind == "pong" and isinstance(rec.data, (int, float)):
                out["rtt"] = float(rec.data)
                out["text"] = f"round trip {rec.data * 1000:.1f} ms"
        elif isinstance(rec.data, str):
            out["text"] = rec.data
        if rec.headers:
            out["headers"] = dict(rec.headers)
        out["flow"] = self._flow.steps(rec, out)
        return out


class PendingRecords:
    """Records waiting for a panel's next refresh: numbered, bounded, thread-safe.

    Records come from several threads at up to ~20,000 a second, so taking one
    is a number, an append and a count under one lock. At most ``max_records``
    wait (older ones are counted as skipped) and at most about ``max_bytes`` of
    whole messages: :meth:`put` says when that is passed, and the owner then
    moves them into its log window, which keeps its own byte budget.
    """

    def __init__(self, max_records: int, max_bytes: int) -> None:
        self._items: deque[tuple[int, Record, int]] = deque()
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._bytes = 0
        self._skipped = 0
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        #: The number given to the last record put.
        self.last_seq = 0

    def put(self, rec: Record) -> bool:
        """Number ``rec`` and keep it; True when the waiting messages pass ``max_bytes``."""
        # A message's memory, not its length: O(1), and what the budget is about.
        held = sys.getsizeof(rec.data) if rec.kind == "message" else 0
        with self._lock:
            seq = self.last_seq = next(self._numbers)
            items = self._items
            if len(items) == self._max_records:
                self._skipped += 1
                self._bytes -= items.popleft()[2]
            items.append((seq, rec, held))
            self._bytes += held
            return self._bytes > self._max_bytes

    def take(self) -> tuple[list[tuple[int, Record]], int]:
        """Everything waiting, oldest first, and how many were skipped since the last take."""
        with self._lock:
            items = [(seq, rec) for seq, rec, _ in self._items]
            self._items.clear()
            self._bytes = 0
            skipped, self._skipped = self._skipped, 0
        return items, skipped


class Rates:
    """Messages and bytes per second, in and out, over the last minute.

    Fed with running totals (``ws.stats``), so the rates stay exact however
    many records a flood skipped; each second holds what was counted in it.
    """

    FIELDS = ("messagesIn", "bytesIn", "messagesOut", "bytesOut")

    def __init__(self) -> None:
        self._last: tuple[int, ...] | None = None
        self._buckets: OrderedDict[int, list[int]] = OrderedDict()
        self.rtt: deque[tuple[float, float]] = deque(maxlen=RATE_SECONDS)

    def update(self, totals: Iterable[int], now: float | None = None) -> list[list[int]]:
        """Take new running totals; returns the buckets that changed, ``[second, *counts]``."""
        totals = tuple(totals)
        if self._last is None or any(t < last for t, last in zip(totals, self._last, strict=True)):
            self._last = totals  # the first sample, or counters that were reset
            return []
        delta = [t - last for t, last in zip(totals, self._last, strict=True)]
        self._last = totals
        if not any(delta):
            return []
        second = int(time.time() if now is None else now)
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = [0, 0, 0, 0]
        for i, d in enumerate(delta):
            bucket[i] += d
        while self._buckets and next(iter(self._buckets)) <= second - RATE_SECONDS:
            self._buckets.popitem(last=False)
        return [[second, *bucket]]

    def add_rtt(self, when: float, seconds: float) -> None:
        """A keepalive round trip measured at ``when``."""
        self.rtt.append((when, seconds))

    def buckets(self) -> list[list[int]]:
        """Every kept bucket, ``[second, messagesIn, bytesIn, messagesOut, bytesOut]``."""
        return [[s, *b] for s, b in self._buckets.items()]

    def series(self, now: float | None = None) -> dict[str, Any]:
        """The last minute, one value a second (zeros where nothing was counted)."""
        end = int(time.time() if now is None else now)
        seconds = list(range(end - RATE_SECONDS + 1, end + 1))
        out: dict[str, Any] = {"seconds": seconds}
        for i, name in enumerate(self.FIELDS):
            out[name] = [self._buckets.get(s, [0, 0, 0, 0])[i] for s in seconds]
        out["rtt"] = [[t, v] for t, v in self.rtt if t > end - RATE_SECONDS]
        return out
