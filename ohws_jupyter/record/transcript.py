"""Transcripts: everything that happened on a connection, to keep, load and compare.

A :class:`Transcript` is an immutable sequence of :class:`~ohws_jupyter.core.events.Record`
(sent and received whole messages, and every change of state) with the
request/reply pairs that :func:`~ohws_jupyter.record.expect.request` matched::

    t = transcript(ws)            # or ws.transcript()
    t.save("session.har")         # Chrome's HAR; "session.jsonl" for JSON lines
    Transcript.load("session.har").sent

Formats:

* JSON lines (``.jsonl``): a header line, then one object per record. Binary
  data is ``{"base64": ...}``; a reply carries ``replyTo`` (the index of its
  request), ``key`` and ``rtt`` (seconds).
* HAR 1.2 (``.har``): one entry per connection, with Chrome's
  ``_resourceType: "websocket"`` and ``_webSocketMessages`` (``type``
  send/receive, ``time`` in epoch seconds, ``opcode`` 1 text / 2 binary,
  ``data``, base64 for binary), so Chrome DevTools and HAR viewers open it.
  What HAR has no field for (close codes, errors, piece counts, pairs) goes in
  ``_webSocketEvents`` and ``_ohws`` custom fields, which viewers ignore and
  :meth:`Transcript.load` reads back.

A ``'closing'`` record is ``'>'`` when the user's ``close()`` started the
closing handshake and ``'<'`` when it did not (the peer closed, or this side
failed the connection): :func:`transcript` tells them apart with the times
:func:`note_close` kept, so a replay closes only where the user did.

Credentials are masked on the way in: URLs with :func:`~ohws_jupyter.core.masking.mask_url`,
handshake headers with :func:`~ohws_jupyter.core.masking.mask_headers`, URLs inside
error messages too. No I/O except reading and writing the files asked for.
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import datetime as _dt
import itertools
import json
import os
import threading
import time
import urllib.parse
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, cast, overload

from ..core.errors import PARAMETER_ERROR, BusinessError
from ..core.events import Record
from ..core.masking import mask_headers, mask_url, mask_urls_in
from .reading import FORMAT, MAX_DEPTH, MAX_FILE_BYTES, TranscriptError, read_transcript

__all__ = [
    "FORMAT",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "RoundTrip",
    "Transcript",
    "TranscriptError",
    "line",
    "note_close",
    "note_round_trip",
    "shown",
    "transcript",
]

_VERSION = 1
#: Request/reply pairs remembered per WebSocket for its transcript.
ROUND_TRIPS_KEPT = 10_000
#: Times of the user's close() calls remembered per WebSocket.
CLOSES_KEPT = 1000
# A pair's records found by content must lie this close in time (seconds).
_SAME_RECORD_SLACK = 1.0
_SHOWN_CHARS = 200
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".har": "har"}


@dataclasses.dataclass(frozen=True)
class RoundTrip:
    """A request and the reply it was paired with.

    Attributes:
        request: Index in the transcript of the sent message.
        reply: Index of the received reply.
        key: The value the two had in common (e.g. the ``id``), or None.
        rtt: Seconds from sending the request to receiving the reply.
    """

    request: int
    reply: int
    key: Any = None
    rtt: float = 0.0


# -- what the WebSocket cannot tell from its records -------------------------------------
_pairs: weakref.WeakKeyDictionary[Any, deque[tuple[Record, Record, Any]]] = (
    weakref.WeakKeyDictionary()
)
_closes: weakref.WeakKeyDictionary[Any, deque[float]] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def note_round_trip(ws: Any, sent: Record, reply: Record, key: Any = None) -> None:
    """Remember that ``reply`` answered ``sent`` on ``ws``, for its transcript."""
    with _registry_lock:
        pairs = _pairs.get(ws)
        if pairs is None:
            pairs = _pairs[ws] = deque(maxlen=ROUND_TRIPS_KEPT)
        pairs.append((sent, reply, key))


def note_close(ws: Any) -> None:
    """The client's hook in ``close()``: the user asked to close ``ws`` now."""
    now = time.time()
    with _registry_lock:
        asked = _closes.get(ws)
        if asked is None:
            asked = _closes[ws] = deque(maxlen=CLOSES_KEPT)
        asked.append(now)


def transcript(ws: Any, records: Iterable[Record] | None = None) -> Transcript:
    """The transcript of ``ws`` so far: every record it kept, and its request/reply pairs.

    Args:
        ws: The WebSocket.
        records: Its records, if kept elsewhere (default: ``ws.history()``).
    """
    records = list(ws.history() if records is None else records)
    with _registry_lock:
        pairs = list(_pairs.get(ws, ()))
        asked = sorted(_closes.get(ws, ()))
    records = _mark_closes(records, asked)
    return Transcript(records, _index_pairs(records, pairs), url=getattr(ws, "url", None))


def _mark_closes(records: list[Record], asked: list[float]) -> list[Record]:
    """``'closing'`` records the user's ``close()`` did not start, turned to ``'<'``.

    The connection reports its answer to the peer's close frame, and a close it
    sent to fail the connection, as ``'closing' '>'`` too. A close the user
    asked for was asked for after the connection's ``'connect'`` and before
    its ``'closing'`` record.
    """
    out = []
    since = float("-inf")
    for rec in records:
        if rec.kind in ("connect", "close"):
            since = rec.time
        elif rec.kind == "closing" and rec.direction == ">":
            first = bisect.bisect_left(asked, since)
            if first == len(asked) or asked[first] > rec.time:
                rec = dataclasses.replace(rec, direction="<")
        out.append(rec)
    return out


def _content(rec: Record) -> tuple[str, Any]:
    data = rec.data
    return rec.direction, data if isinstance(data, (str, bytes)) else repr(data)


def _index_pairs(
    records: Sequence[Record], pairs: Iterable[tuple[Record, Record, Any]]
) -> list[RoundTrip]:
    by_id = {id(r): i for i, r in enumerate(records)}
    # ws.history() makes its records anew on each call: find those by what they carry,
    # the nearest in time (the same time, as the WebSocket reports it to both).
    by_content: dict[tuple[str, Any], list[int]] = {}
    for i, r in enumerate(records):
        if r.kind == "message":
            by_content.setdefault(_content(r), []).append(i)

    def find(rec: Record) -> int | None:
        i = by_id.get(id(rec))
        if i is not None:
            return i
        near = min(
            by_content.get(_content(rec), ()),
            key=lambda k: abs(records[k].time - rec.time),
            default=None,
        )
        if near is not None and abs(records[near].time - rec.time) <= _SAME_RECORD_SLACK:
            return near
        return None

    out = []
    for sent, reply, key in pairs:
        at_sent, at_reply = find(sent), find(reply)
        if at_sent is not None and at_reply is not None:
            rtt = records[at_reply].time - records[at_sent].time
            out.append(RoundTrip(at_sent, at_reply, key, rtt))
    return out


# -- the transcript ---------------------------------------------------------------------
class Transcript(Sequence[Record]):
    """What happened on a connection: records in order, credentials masked.

    Args:
        records: The records, oldest first (``ws.history()``, ``ws.watch``).
        round_trips: Request/reply pairs, by index into ``records``.
        url: The connection's URL, used when no ``'connect'`` record is left.
    """

    def __init__(
        self,
        records: Iterable[Record] = (),
        round_trips: Iterable[RoundTrip] = (),
        *,
        url: str | None = None,
    ) -> None:
        self._records = tuple(_masked(r) for r in records)
        self.round_trips = tuple(round_trips)
        self._url = mask_url(url) if url else None

    # -- the sequence --------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> Transcript: ...
    def __getitem__(self, index: int | slice) -> Record | Transcript:
        if isinstance(index, slice):
            picked = range(len(self._records))[index]
            where = {old: new for new, old in enumerate(picked)}
            trips = [
                dataclasses.replace(t, request=where[t.request], reply=where[t.reply])
                for t in self.round_trips
                if t.request in where and t.reply in where
            ]
            return Transcript([self._records[i] for i in picked], trips, url=self.url)
        return self._records[index]

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records)

    def __repr__(self) -> str:
        sent, received = len(self.sent), len(self.received)
        where = f" {self.url}" if self.url else ""
        return f"<Transcript{where}: {len(self)} records, {sent} sent, {received} received>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("\n".join(line(r) for r in self) if self else "(no records)")

    # -- views -------------------------------------------------------------------------
    @property
    def url(self) -> str | None:
        """The (masked) URL of the last connect, or the one given."""
        for rec in reversed(self._records):
            if rec.kind == "connect" and rec.data:
                return cast(str, rec.data)  # a connect record carries its URL
        return self._url

    @property
    def messages(self) -> list[Record]:
        """The sent and received messages, in order."""
        return [r for r in self._records if r.kind == "message"]

    @property
    def sent(self) -> list[Record]:
        return [r for r in self._records if r.kind == "message" and r.direction == ">"]

    @property
    def received(self) -> list[Record]:
        return [r for r in self._records if r.kind == "message" and r.direction == "<"]

    def connections(self) -> list[Transcript]:
        """One transcript per ``connect`` (records before the first one make their own)."""
        starts = [i for i, r in enumerate(self._records) if r.kind == "connect"]
        if not starts or starts[0] != 0:
            starts.insert(0, 0)
        bounds = [*starts, len(self._records)]
        return [self[a:b] for a, b in itertools.pairwise(bounds) if b > a]

    def to_dicts(self, *, data: bool = True) -> list[dict[str, Any]]:
        """The records as JSON-ready dicts (the JSON-lines rows).

        Args:
            data: Include message data; with False only its size is kept.
        """
        rows = [_row(r, data) for r in self._records]
        for trip in self.round_trips:
            rows[trip.reply].update(replyTo=trip.request, key=trip.key, rtt=trip.rtt)
        return rows

    # -- files ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, data: bool = True) -> str:
        """Write the transcript in the format its suffix names (``.jsonl``, ``.har``).

        Returns:
            The format written, ``'jsonl'`` or ``'har'``.
        """
        kind = _kind_of(path)
        if kind == "har":
            self.to_har(path, data=data)
        else:
            self.to_jsonl(path, data=data)
        return kind

    def to_jsonl(self, path: str | os.PathLike[str] | None = None, *, data: bool = True) -> str:
        """The transcript as JSON lines; written to ``path`` if given. Returns the text."""
        head = {
            "format": FORMAT,
            "version": _VERSION,
            "url": self.url,
            "records": len(self),
            "created": _iso(time.time()),
        }
        rows = [head, *self.to_dicts(data=data)]
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        if path is not None:
            _write(path, text)
        return text

    def to_har(
        self, path: str | os.PathLike[str] | None = None, *, data: bool = True
    ) -> dict[str, Any]:
        """The transcript as a HAR 1.2 log; written to ``path`` if given. Returns the dict."""
        from .. import __version__

        entries = []
        offset = 0
        for part in self.connections():
            entries.append(_har_entry(part, offset, data, self.url))
            offset += len(part)
        har = {
            "log": {
                "version": "1.2",
                "creator": {"name": "ohws_jupyter", "version": __version__},
                "entries": entries,
            }
        }
        if self.round_trips:
            har["log"]["_ohwsRoundTrips"] = [dataclasses.asdict(t) for t in self.round_trips]
        if path is not None:
            _write(path, json.dumps(har, ensure_ascii=False, indent=1) + "\n")
        return har

    def to_dataframe(self) -> Any:
        """The records as a pandas ``DataFrame``, one row each (needs the ``pandas`` extra).

        Raises:
            ModuleNotFoundError: pandas is not installed; the message says how to add it.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ModuleNotFoundError(
                "Transcript.to_dataframe() needs pandas, which is not installed; "
                "install the extra with: pip install 'ohws_jupyter[pandas]'",
                name="pandas",
            ) from exc
        columns = ["time", "direction", "kind", "data", "size", "pieces", "code", "reason"]
        rows = []
        for rec in self._records:
            rows.append(
                {
                    "time": pd.Timestamp(rec.time, unit="s", tz="UTC"),
                    "direction": rec.direction,
                    "kind": rec.kind,
                    "data": rec.data,
                    "size": _size(rec.data) if rec.kind == "message" else None,
                    "pieces": rec.pieces if rec.kind == "message" else None,
                    "code": rec.code,
                    "reason": rec.reason,
                    "error": None if rec.error is None else _error_text(rec.error),
                }
            )
        return pd.DataFrame(rows, columns=[*columns, "error"])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Transcript:
        """Read a transcript saved as JSON lines or HAR (told apart by content).

        Every value is checked for its place; a file of at most
        :data:`MAX_FILE_BYTES` (256 MiB), nested at most :data:`MAX_DEPTH` (64)
        levels deep.

        Raises:
            TranscriptError: A ``BusinessError`` 401: the file is missing, too
                large, or not a transcript; the message names the first bad
                place (``log.entries[3]: expected an object, got a string``).
        """
        records, trips, url = read_transcript(path)
        return cls(records, [RoundTrip(*trip) for trip in trips], url=url)


# -- one record as text and as JSON ------------------------------------------------------
def _masked(rec: Record) -> Record:
    changes: dict[str, Any] = {}
    if rec.kind == "connect" and isinstance(rec.data, str):
        masked = mask_url(rec.data)
        if masked != rec.data:
            changes["data"] = masked
    if rec.headers:
        masked_headers = mask_headers(rec.headers)
        if masked_headers != rec.headers:
            changes["headers"] = masked_headers
    return dataclasses.replace(rec, **changes) if changes else rec


def _size(data: Any) -> int:
    if isinstance(data, str):
        return len(data.encode("utf-8", "surrogatepass"))
    if isinstance(data, (bytes, bytearray, memoryview)):
        return len(data)
    return 0


def shown(value: Any, limit: int = _SHOWN_CHARS) -> str:
    """A one-line view of a message, cut short when long."""
    text = repr(value)
    if len(text) <= limit:
        return text
    unit = "characters" if isinstance(value, str) else "bytes"
    return f"{text[: limit - 1]}… ({len(value)} {unit})"


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


def line(rec: Record) -> str:
    """One line for a record: time, direction, kind and what it carried."""
    head = f"{_clock(rec.time)} {rec.direction} {rec.kind:<7}"
    if rec.kind == "message":
        pieces = f"  ({rec.pieces} pieces)" if rec.pieces > 1 else ""
        return f"{head} {shown(rec.data)}{pieces}"
    if rec.kind in ("close", "closing"):
        return f"{head} {rec.code} {rec.reason!r}"
    if rec.kind == "error":
        return f"{head} {_error_text(rec.error)}"
    headers = f" headers {mask_headers(rec.headers)}" if rec.headers else ""
    if rec.kind == "connect":
        return f"{head} {mask_url(rec.data)}{headers}".rstrip()
    protocol = f" protocol {rec.data!r}" if rec.data else ""
    return f"{head}{protocol}{headers}".rstrip()


def _error_text(err: Any) -> str:
    return mask_urls_in(str(err))


def _error_dict(err: Any) -> dict[str, Any]:
    if isinstance(err, BusinessError):
        out = err.to_dict()
        out["message"] = mask_urls_in(out["message"])
        return out
    return {"code": None, "message": _error_text(err)}


def _encode(data: Any) -> Any:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(data)).decode("ascii")}
    return data


def _row(rec: Record, with_data: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"time": rec.time, "direction": rec.direction, "kind": rec.kind}
    if rec.kind == "message":
        if with_data:
            row["data"] = _encode(rec.data)
        row["binary"] = not isinstance(rec.data, str)
        row["size"] = _size(rec.data)
        row["pieces"] = rec.pieces
    elif rec.data is not None:
        row["data"] = rec.data
    if rec.code is not None:
        row["code"], row["reason"] = rec.code, rec.reason
    if rec.error is not None:
        row["error"] = _error_dict(rec.error)
    if rec.headers:
        row["headers"] = dict(rec.headers)
    return row


# -- HAR ------------------------------------------------------------------------------------
def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="microseconds")


def _name_values(headers: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in (headers or {}).items()]


def _har_entry(part: Transcript, offset: int, with_data: bool, url: str | None) -> dict[str, Any]:
    records = list(part)
    connect = records[0] if records[0].kind == "connect" else None
    opened = next((r for r in records if r.kind == "open"), None)
    start = records[0].time
    end = records[-1].time
    entry_url = (connect.data if connect else None) or url or "ws://unknown/"
    query = urllib.parse.parse_qsl(urllib.parse.urlsplit(entry_url).query, keep_blank_values=True)
    messages, events = [], []
    for rec in records:
        if rec.kind == "message":
            text = isinstance(rec.data, str)
            payload = rec.data if text else base64.b64encode(bytes(rec.data or b"")).decode()
            msg: dict[str, Any] = {
                "type": "send" if rec.direction == ">" else "receive",
                "time": rec.time,
                "opcode": 1 if text else 2,
                "data": payload if with_data else "",
            }
            if rec.pieces != 1:
                msg["_pieces"] = rec.pieces
            if not with_data:
                msg["_size"] = _size(rec.data)
            messages.append(msg)
        elif rec is not connect:
            event = _row(rec, True)
            events.append(event)
    failed = next((r for r in records if r.kind == "error" and opened is None), None)
    wait_ms = ((opened or records[-1]).time - start) * 1000
    entry: dict[str, Any] = {
        "startedDateTime": _iso(start),
        "time": (end - start) * 1000,
        "request": {
            "method": "GET",
            "url": entry_url,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _name_values(connect.headers if connect else None),
            "queryString": [{"name": k, "value": v} for k, v in query],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": 101 if opened else 0,
            "statusText": "Switching Protocols" if opened else "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _name_values(opened.headers if opened else None),
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": wait_ms, "receive": 0},
        "_resourceType": "websocket",
        "_webSocketMessages": messages,
        "_webSocketEvents": events,
        "_ohws": {"first": offset, "connect": connect is not None, "time": start},
    }
    if failed is not None:
        entry["_error"] = _error_text(failed.error)
    return entry


def _kind_of(path: str | os.PathLike[str]) -> str:
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    kind = _SUFFIXES.get(suffix)
    if kind is None:
        raise BusinessError(
            PARAMETER_ERROR,
            f"cannot tell the format of {os.fspath(path)!r} from its suffix; "
            "name it .jsonl (JSON lines) or .har (HAR)",
        )
    return kind


def _write(path: str | os.PathLike[str], text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise BusinessError(
            PARAMETER_ERROR, f"cannot write {os.fspath(path)!r}: {exc.strerror or exc}"
        ) from exc
