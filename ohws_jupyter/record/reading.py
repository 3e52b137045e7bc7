"""Reading a saved transcript back, checked: what :meth:`Transcript.load` parses.

A transcript file may come from anywhere (a colleague, a browser's HAR export,
an editor), so every value is checked for its place before it is used. The
first thing out of place is reported as one :class:`TranscriptError` that
names it the way a path into the JSON reads::

    'run.har' is not a transcript ...: log.entries[3]: expected an object, got a string
    'run.jsonl' is not a transcript ...: line 1: expected an object (the header), got an array

Limits, so that a hostile file costs bounded time and memory and no
``RecursionError``: a file of at most :data:`MAX_FILE_BYTES` (256 MiB), JSON
nested at most :data:`MAX_DEPTH` (64) levels deep.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import math
import os
import re
from typing import Any, NoReturn

from ..core.errors import PARAMETER_ERROR, BusinessError
from ..core.events import Record

__all__ = ["FORMAT", "MAX_DEPTH", "MAX_FILE_BYTES", "TranscriptError", "read_transcript"]

#: The ``format`` value of a JSON-lines transcript's header line.
FORMAT = "ohws-transcript"
#: The largest transcript file :meth:`Transcript.load` reads, in bytes.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: How deeply a transcript's JSON may nest (a saved one nests 6 levels at most).
MAX_DEPTH = 64
_KINDS = ("connect", "open", "message", "closing", "close", "error")
_NESTS = (dict, list)


class TranscriptError(BusinessError):
    """A file is not a transcript :meth:`Transcript.load` can read (code 401).

    Attributes:
        file: The file, as given.
        where: The first bad place: ``'log.entries[3]'``, ``'line 2.time'``, or
            ``''`` for the file as a whole.
        problem: What is wrong there (``'expected an object, got a string'``).
    """

    def __init__(self, file: str, where: str, problem: str, *, read: bool = True) -> None:
        self.file, self.where, self.problem = file, where, problem
        place = f"{where}: " if where else ""
        heading = (
            f"{file!r} is not a transcript saved by Transcript.save (JSON lines or HAR)"
            if read
            else f"cannot read the transcript {file!r}"
        )
        super().__init__(PARAMETER_ERROR, f"{heading}: {place}{problem}")


class _Bad(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(where, problem)
        self.where, self.problem = where, problem


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class _Node:
    """One value of the file and where it is, with checked accessors."""

    __slots__ = ("value", "where")

    def __init__(self, value: Any, where: str) -> None:
        self.value, self.where = value, where

    def fail(self, problem: str) -> NoReturn:
        raise _Bad(self.where, problem)

    def expect(self, what: str, ok: bool) -> None:
        if not ok:
            self.fail(f"expected {what}, got {_kind(self.value)}")

    def obj(self) -> _Node:
        self.expect("an object", isinstance(self.value, dict))
        return self

    def items(self) -> list[_Node]:
        self.expect("an array", isinstance(self.value, list))
        return [_Node(v, f"{self.where}[{i}]") for i, v in enumerate(self.value)]

    def has(self, name: str) -> bool:
        return name in self.obj().value

    def key(self, name: str) -> _Node:
        if not self.has(name):
            self.fail(f"{name!r} is missing")
        sep = "." if self.where else ""
        return _Node(self.value[name], f"{self.where}{sep}{name}")

    def opt(self, name: str, default: Any = None) -> _Node:
        return self.key(name) if self.has(name) else _Node(default, self.where)

    def text(self) -> str:
        self.expect("a string", isinstance(self.value, str))
        return str(self.value)

    def number(self) -> float:
        value = self.value
        self.expect(
            "a number",
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value),
        )
        return float(value)

    def whole(self) -> int:
        value = self.value
        self.expect("a whole number", isinstance(value, int) and not isinstance(value, bool))
        return int(value)

    def maybe(self, read: str) -> Any:
        return None if self.value is None else getattr(self, read)()

    def one_of(self, *choices: Any) -> Any:
        if self.value not in choices or isinstance(self.value, bool):
            shown = ", ".join(json.dumps(c) for c in choices)
            self.fail(f"expected one of {shown}, got {json.dumps(self.value)[:40]}")
        return self.value

    def headers(self) -> dict[str, str] | None:
        if self.value is None:
            return None
        self.obj()
        for name, value in self.value.items():
            _Node(value, f"{self.where}.{name}").text()
        return dict(self.value)

    def base64(self) -> bytes:
        try:
            return base64.b64decode(self.text(), validate=True)
        except (binascii.Error, ValueError):
            self.fail("expected base64 data")


def _check_depth(value: Any, where: str) -> None:
    """Fail at the first value nested deeper than MAX_DEPTH (walks containers only)."""
    stack = [(value, 1, where)] if isinstance(value, _NESTS) else []
    while stack:
        item, depth, at = stack.pop()
        if depth > MAX_DEPTH:
            raise _Bad(at, f"JSON nested more than {MAX_DEPTH} levels deep")
        sep = "." if at else ""
        if isinstance(item, dict):
            places = [(f"{at}{sep}{k}", v) for k, v in item.items() if isinstance(v, _NESTS)]
        else:
            places = [(f"{at}[{i}]", v) for i, v in enumerate(item) if isinstance(v, _NESTS)]
        stack.extend((v, depth + 1, w) for w, v in places)


def _parse(text: str, where: str) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:  # deeper than the interpreter's limit: far past MAX_DEPTH
        raise _Bad(where, f"JSON nested more than {MAX_DEPTH} levels deep") from None
    _check_depth(value, where)
    return value


# -- one record ------------------------------------------------------------------------------
def _error_from(node: _Node) -> BusinessError:
    if isinstance(node.value, dict):
        code = node.opt("code").maybe("whole")
        message = node.opt("message", "").text()
        data = node.value.get("data")
    else:
        code, message, data = None, node.text(), None
    err = BusinessError(code if code is not None else 0)
    err.message = message
    err.args = (message,)
    err.data = data
    return err


def record_of(node: _Node) -> Record:
    """A record from its JSON object (a JSON-lines row, a HAR ``_webSocketEvents`` item)."""
    node.obj()
    kind = node.key("kind").one_of(*_KINDS)
    data = node.value.get("data")
    if kind == "message" and node.has("data"):
        payload = node.key("data")
        data = payload.key("base64").base64() if isinstance(payload.value, dict) else payload.text()
    return Record(
        time=node.key("time").number(),
        kind=kind,
        direction=node.key("direction").one_of(">", "<", "="),
        data=data,
        pieces=node.opt("pieces", 0).whole(),
        code=node.opt("code").maybe("whole"),
        reason=node.opt("reason").maybe("text"),
        error=_error_from(node.key("error")) if node.has("error") else None,
        headers=node.opt("headers").headers(),
    )


# -- the two formats ---------------------------------------------------------------------
RoundTripRow = tuple[int, int, Any, float]
Read = tuple[list[Record], list[RoundTripRow], str | None]


def _index(node: _Node, count: int) -> int:
    index = node.whole()
    if not 0 <= index < count:
        node.fail(
            f"expected the index of a record (0 to {count - 1}), got {index}"
            if count
            else f"expected the index of a record, got {index}, and there are no records"
        )
    return index


def _from_jsonl(text: str) -> Read:
    rows = []
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.strip():
            where = f"line {number}"
            try:
                rows.append(_Node(_parse(raw, where), where))
            except json.JSONDecodeError as exc:
                raise _Bad(where, f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not rows:
        raise _Bad("", "the file is empty")
    head = rows[0]
    head.expect(f"an object (the {FORMAT!r} header)", isinstance(head.value, dict))
    if head.value.get("format") != FORMAT:
        head.fail(f"not a {FORMAT!r} header (its 'format' is {head.value.get('format')!r})")
    records = [record_of(row) for row in rows[1:]]
    trips = [
        (
            _index(row.key("replyTo"), len(records)),
            i,
            row.value.get("key"),
            row.opt("rtt", 0.0).number(),
        )
        for i, row in enumerate(rows[1:])
        if "replyTo" in row.value
    ]
    return records, trips, head.opt("url").maybe("text")


def _epoch(node: _Node) -> float:
    try:
        return _dt.datetime.fromisoformat(node.text().replace("Z", "+00:00")).timestamp()
    except ValueError:
        node.fail("expected an ISO 8601 date and time")


def _name_values(node: _Node) -> dict[str, str]:
    return {item.key("name").text(): item.key("value").text() for item in node.items()}


def _har_messages(entry: _Node) -> list[Record]:
    out = []
    for msg in entry.key("_webSocketMessages").items():
        opcode = msg.key("opcode").one_of(1, 2)
        raw = msg.key("data")
        data: Any = raw.text() if opcode == 1 else raw.base64()
        if msg.has("_size") and not raw.value:
            data = None
        direction = ">" if msg.key("type").one_of("send", "receive") == "send" else "<"
        pieces = msg.opt("_pieces", 1).whole()
        out.append(Record(msg.key("time").number(), "message", direction, data, pieces))
    return out


def _har_entry(entry: _Node) -> list[Record]:
    extra = entry.opt("_ohws", {}).obj()
    start = (
        extra.key("time").number() if extra.has("time") else _epoch(entry.key("startedDateTime"))
    )
    part: list[Record] = []
    if extra.opt("connect", True).value:
        request = entry.key("request").obj()
        headers = _name_values(request.opt("headers", []))
        url = request.key("url").text()
        part.append(Record(start, "connect", "=", data=url, headers=headers))
    part.extend(_har_messages(entry))
    part.extend(record_of(event) for event in entry.opt("_webSocketEvents", []).items())
    if not entry.has("_webSocketEvents"):
        response = entry.opt("response", {}).obj()
        if response.opt("status").value == 101:
            # A HAR from a browser: no events of ours, but the handshake did succeed.
            headers = _name_values(response.opt("headers", []))
            wait = (entry.opt("timings", {}).obj().opt("wait", 0).maybe("number") or 0) / 1000
            part.append(Record(start + max(wait, 0.0), "open", "=", data="", headers=headers))
    # A stable sort: records of the same instant keep the order they were written in.
    head, rest = part[:1], part[1:]
    if head and head[0].kind != "connect":
        head, rest = [], part
    return [*head, *sorted(rest, key=lambda r: r.time)]


def _from_har(har: _Node) -> Read:
    log = har.key("log").obj()
    records: list[Record] = []
    for entry in log.key("entries").items():
        entry.obj()
        if entry.opt("_resourceType").value not in (None, "websocket"):
            continue
        if entry.has("_webSocketMessages"):
            records.extend(_har_entry(entry))
    trips = [
        (
            _index(trip.key("request"), len(records)),
            _index(trip.key("reply"), len(records)),
            trip.value.get("key"),
            trip.opt("rtt", 0.0).number(),
        )
        for trip in log.opt("_ohwsRoundTrips", []).items()
    ]
    return records, trips, None


def read_transcript(
    path: str | os.PathLike[str],
) -> tuple[list[Record], list[RoundTripRow], str | None]:
    """The records, round trips ``(request, reply, key, rtt)`` and URL of a saved transcript.

    JSON lines and HAR are told apart by content.

    Raises:
        TranscriptError: The file cannot be read, is too large, or is not a
            transcript; the message names the first bad place.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise TranscriptError(
                    name,
                    "",
                    f"{size} bytes, more than the {MAX_FILE_BYTES} a transcript may have",
                    read=False,
                )
            text = f.read(MAX_FILE_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TranscriptError(name, "", str(exc), read=False) from exc
    try:
        if _looks_like_jsonl(text):
            return _from_jsonl(text)
        try:
            whole = _parse(text, "")
        except json.JSONDecodeError as exc:
            raise _Bad("", f"neither JSON lines nor HAR ({exc.msg} at line {exc.lineno})") from None
        return _from_har(_Node(whole, ""))
    except _Bad as bad:
        raise TranscriptError(name, bad.where, bad.problem) from None


def _looks_like_jsonl(text: str) -> bool:
    """Whether the first line is JSON on its own (a header), not the start of a HAR."""
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        return True  # empty: _from_jsonl says so
    if len(first) > 100_000:  # not parsed twice: a long line is a HAR only if it starts as one
        return not re.match(r'\s*\{\s*"log"\s*:', first)
    try:
        head = json.loads(first)
    except (json.JSONDecodeError, RecursionError):
        return False
    return not (isinstance(head, dict) and "log" in head)
