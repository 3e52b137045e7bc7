"""The named connections of one shell, and what ``%ws`` shows of them.

Each connection is an ordinary ``createWebSocket()`` object watched with
``WebSocket.watch``, so ``%ws wait`` and ``%ws log`` see whole messages; its
records are bounded (``LOG_SIZE`` records, ``LOG_BYTES`` of data).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
from collections import deque
from typing import Any

from IPython.core.error import UsageError

from ...client.websocket import WebSocket
from ...core.errors import BusinessError
from ...core.events import Record
from ...core.masking import mask_url
from ...core.options import CloseResult
from ...engine.promise import Promise
from ...engine.runtime import IN_BROWSER, Wakeup, can_block
from ...record.transcript import line

__all__ = [
    "LOG_BYTES",
    "LOG_SIZE",
    "POLL",
    "WAIT_EVENTS",
    "JsonLogView",
    "LogView",
    "NamedConnection",
    "check_can_wait",
    "json_record",
    "settle",
    "value_of",
]

#: Events ``%ws wait`` can wait for.
WAIT_EVENTS = ("message", "open", "close", "error")
#: Records kept per connection for ``%ws log``, ``%ws wait`` and the export ...
LOG_SIZE = 2000
#: ... and the most message data they may hold, in bytes (characters for text).
LOG_BYTES = 64 * 1024 * 1024
# Blocking waits wake this often, so a Ctrl-C delivered without a real signal
# (a kernel's interrupt_main, an embedding host) is honoured promptly.
POLL = 0.05


def settle(promise: Promise[Any], timeout: float | None) -> Any:
    """``promise.result(timeout)``, in short steps so that Ctrl-C gets through."""
    if IN_BROWSER:
        # The page's loop settles it while this call is suspended: one wait, no steps.
        check_can_wait()
        return promise.result(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic()))
        try:
            return promise.result(step)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise


def check_can_wait() -> None:
    """Raise a UsageError where a ``%ws`` command cannot wait (a browser without JSPI)."""
    if not can_block():
        raise UsageError(
            "the %ws magics wait for the network, and this browser cannot suspend Python "
            "to wait (it lacks JavaScript Promise Integration); use the API with await, "
            "or a current Chromium"
        )


class NamedConnection:
    """One named connection of a shell: its WebSocket and what has happened on it."""

    def __init__(self, name: str, ws: WebSocket) -> None:
        self.name = name
        self.ws = ws
        self.cond = threading.Condition()
        self.records: deque[tuple[int, Record]] = deque()
        self.size = 0
        self.seq = 0
        # Per event kind, the sequence number of the last record %ws wait returned.
        self.taken = dict.fromkeys(WAIT_EVENTS, 0)
        self.opened = False
        self.ended = False
        self._arrived = Wakeup()  # for %ws wait in a browser
        self.stop = ws.watch(self._observe)

    def _observe(self, record: Record) -> None:
        # Runs on the I/O thread: only bookkeeping under the lock, then wake waiters.
        if record.kind == "connect":
            # A password in the URL travels as Basic credentials: mask it like one.
            record = dataclasses.replace(record, data=mask_url(record.data))
        with self.cond:
            self.seq += 1
            self.records.append((self.seq, record))
            self.size += _size(record)
            # Oldest first out, so a long lesson or a flood of big messages stays bounded.
            while len(self.records) > LOG_SIZE or (self.size > LOG_BYTES and len(self.records) > 1):
                self.size -= _size(self.records.popleft()[1])
            if record.kind == "connect":
                self.opened = self.ended = False
            elif record.kind == "open":
                self.opened = True
            elif record.kind == "close" or (record.kind == "error" and not self.opened):
                # An error before 'open' is the last record of a failed connect;
                # after 'open' an error is followed by 'close'.
                self.ended = True
            self.cond.notify_all()
        if IN_BROWSER:
            self._arrived.set()

    def pause(self, seconds: float | None) -> None:
        """With ``cond`` held: wait until a record arrives or ``seconds`` pass (None: no limit)."""
        if not IN_BROWSER:
            self.cond.wait(POLL if seconds is None else min(POLL, seconds))
            return
        # In a page the records arrive on its loop, which runs while this call is
        # suspended: wait for the next one, not in steps.
        check_can_wait()
        self._arrived.clear()
        self.cond.release()
        try:
            self._arrived.wait(seconds)
        finally:
            self.cond.acquire()

    def pending(self, kind: str) -> list[tuple[int, Record]]:
        """Records of ``kind`` not yet returned by ``%ws wait`` (call with the lock held)."""
        after = self.taken[kind]
        return [(seq, r) for seq, r in self.records if seq > after and _is(r, kind)]

    def take_all(self, *kinds: str) -> None:
        """Mark every record of ``kinds`` so far as seen by ``%ws wait``."""
        with self.cond:
            for kind in kinds:
                self.taken[kind] = self.seq

    def log(self) -> list[Record]:
        # Sends reach watchers in batches, once written;
        # reading the history hands the batch over now, so a line run right
        # after a send (%ws export, %ws log) sees it.
        self.ws.history()
        with self.cond:
            return [r for _, r in self.records]


def _size(record: Record) -> int:
    return len(record.data) if isinstance(record.data, (str, bytes)) else 0


def _is(record: Record, kind: str) -> bool:
    if kind == "message":
        return record.kind == "message" and record.direction == "<"
    return record.kind == kind


def value_of(record: Record) -> Any:
    """What ``%ws wait`` returns for a record: the message, CloseResult, error, ..."""
    if record.kind == "message":
        return record.data
    if record.kind == "close":
        return CloseResult(record.code or 0, record.reason or "")
    if record.kind == "error":
        return record.error
    return {"protocol": record.data or "", "headers": dict(record.headers or {})}


def json_record(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time": record.time,
        "kind": record.kind,
        "direction": record.direction,
    }
    if isinstance(record.data, (bytes, bytearray)):
        out["data"] = {"base64": base64.b64encode(bytes(record.data)).decode("ascii")}
    elif record.data is not None:
        out["data"] = record.data
    if record.kind == "message":
        out["pieces"] = record.pieces
    if record.code is not None:
        out["code"], out["reason"] = record.code, record.reason
    if record.error is not None:
        err = record.error
        out["error"] = err.to_dict() if isinstance(err, BusinessError) else str(err)
    if record.headers:
        out["headers"] = record.headers
    return out


class LogView(list[Record]):
    """The records of ``%ws log``; shown one line per record."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("\n".join(line(r) for r in self) if self else "(no records)")


class JsonLogView(list[dict[str, Any]]):
    """The records of ``%ws log --json`` as dicts; shown as JSON lines."""

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("\n".join(json.dumps(r, ensure_ascii=False) for r in self))
