"""What a ``WebSocket`` keeps of what happened on it, and who watches it live.

:class:`History` holds the records behind ``ws.history()`` and calls the
observers of ``ws.watch()``. It is written from several threads: the I/O
thread (received messages, state changes, writes), the sender's thread, and
whoever reads it. Sent messages cost neither a lock nor a clock call each:
the session appends ``(payload, is_text)`` to :attr:`History.outbox` under
the connection's lock, which orders every send, and the whole batch enters
the history, timed once, after each write (:meth:`History.flushed`) or
before anything else is kept or read, so the order stays the wire's.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.events import Record, report_callback_error
from .state import split_message

__all__ = ["HISTORY_BYTES", "HISTORY_LIMIT", "History"]

#: Most messages and state changes ``history()`` keeps (the oldest go first).
HISTORY_LIMIT = 10_000
#: Most message bytes ``history()`` keeps.
HISTORY_BYTES = 16 * 1024 * 1024

Observer = Callable[[Record], None]


class History:
    """Records kept oldest first, bounded by HISTORY_LIMIT and HISTORY_BYTES; observers."""

    def __init__(self) -> None:
        # Records, and batches of messages that become Records only when read:
        # (time, '<', messages, whole) received, (time, '>', notes, None) sent.
        self._entries: collections.deque[Any] = collections.deque()
        self._count = 0
        self._bytes = 0
        self._lock = threading.Lock()
        self._observers: list[Observer] = []
        #: Messages queued and not yet kept: ``(payload, is_text)``, in wire order.
        self.outbox: collections.deque[tuple[bytes, bool]] = collections.deque()

    # -- reading -------------------------------------------------------------
    def records(self) -> list[Record]:
        """Everything kept, oldest first, as ``Record``s (messages sent so far included)."""
        with self._lock:
            sent = self._take_outbox()
            observers = self._observers
            # Copied under the lock: a deque appended to meanwhile cannot be iterated.
            entries = list(self._entries)
        self._show(observers, sent)
        return _records(entries)

    def watch(self, observer: Observer, replay: bool) -> Callable[[], None]:
        """Add ``observer`` (after the kept records if ``replay``); returns its stop function."""
        with self._lock:
            # Under the lock that every new record takes: the replay and the live
            # records that follow have no gap and no repeat, in order.
            sent = self._take_outbox()
            for record in _records(list(self._entries)) if replay else ():
                _notify(observer, record)
            observers = self._observers
            self._observers = [*observers, observer]
        self._show(observers, sent)

        def stop() -> None:
            with self._lock:
                self._observers = [o for o in self._observers if o is not observer]

        return stop

    # -- writing -------------------------------------------------------------
    def record(self, record: Record) -> None:
        """Keep ``record`` and show it to the observers."""
        with self._lock:
            sent = self._take_outbox()
            self._keep(record, 1, _record_size(record))
            observers = self._observers
        self._show(observers, [*sent, record])

    def messages_in(self, messages: list[Any], whole: bool) -> None:
        """Keep received whole messages (one socket read's worth), timed once."""
        # One time for history() and the observers, so both report the same Record.
        now = time.time()
        with self._lock:
            sent = self._take_outbox()
            self._keep((now, "<", messages, whole), len(messages), sum(map(len, messages)))
            observers = self._observers
        self._show(observers, sent)
        if observers:
            for message in messages:
                pieces = 1 if whole else len(split_message(message))
                record = Record(now, "message", "<", data=message, pieces=pieces)
                for observer in observers:
                    _notify(observer, record)

    def message_out(self, data: Any) -> None:
        """Keep one sent message (a transport without an outbox)."""
        now = time.time()
        with self._lock:
            self._keep((now, ">", (data,), True), 1, len(data))
            observers = self._observers
        self._show(observers, [Record(now, "message", ">", data=data, pieces=1)])

    def flushed(self) -> None:
        """Sends went out (I/O thread): keep them, timed now, and show them."""
        if self.outbox:
            with self._lock:
                sent = self._take_outbox()
                observers = self._observers
            self._show(observers, sent)

    # -- inside ----------------------------------------------------------------
    def _take_outbox(self) -> list[Record]:
        """Move the messages sent so far into the history as one batch; lock held.

        Returns their Records if someone watches (shown once the lock is
        released, before what the caller keeps next), else an empty list.
        """
        outbox = self.outbox
        if not outbox:
            return []
        # popleft, not a copy and a clear: a sender may append meanwhile.
        notes = [outbox.popleft() for _ in range(len(outbox))]
        now = time.time()
        entry = (now, ">", notes, None)
        self._keep(entry, len(notes), _batch_size(entry))
        if not self._observers:
            return []
        return [Record(now, "message", ">", data=_sent_data(note), pieces=1) for note in notes]

    def _keep(self, entry: Any, count: int, size: int) -> None:
        entries = self._entries
        entries.append(entry)
        self._count += count
        self._bytes += size
        while entries and (self._count > HISTORY_LIMIT or self._bytes > HISTORY_BYTES):
            old = entries.popleft()
            if isinstance(old, Record):
                self._count -= 1
                self._bytes -= _record_size(old)
            else:
                self._count -= len(old[2])
                self._bytes -= _batch_size(old)

    @staticmethod
    def _show(observers: list[Observer], records: list[Record]) -> None:
        if observers:
            for record in records:
                for observer in observers:
                    _notify(observer, record)


def _notify(observer: Observer, record: Record) -> None:
    try:
        observer(record)
    except Exception as exc:
        report_callback_error(f"observer {observer!r}", exc)


def _records(entries: list[Any]) -> list[Record]:
    """The history's entries (Records and batches of messages) as Records."""
    out: list[Record] = []
    for entry in entries:
        if isinstance(entry, Record):
            out.append(entry)
            continue
        when, direction, messages, whole = entry
        if whole is None:  # sent: (payload, is_text) as queued
            out += [
                Record(when, "message", ">", data=_sent_data(note), pieces=1) for note in messages
            ]
            continue
        for message in messages:
            pieces = 1 if whole or direction == ">" else len(split_message(message))
            out.append(Record(when, "message", direction, data=message, pieces=pieces))
    return out


def _sent_data(note: tuple[bytes, bool]) -> Any:
    payload, text = note
    return payload.decode("utf-8") if text else payload


def _batch_size(entry: tuple[Any, ...]) -> int:
    if entry[3] is None:  # sent notes: (payload, is_text)
        return sum(len(payload) for payload, _ in entry[2])
    return sum(map(len, entry[2]))


def _record_size(record: Record) -> int:
    data = record.data
    return len(data) if isinstance(data, str | bytes) else 0
