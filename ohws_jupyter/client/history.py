"""What a ``WebSocket`` keeps of what happened on it, and who watches it live.

:class:`History` holds the records behind ``ws.history()`` and calls the
observers of ``ws.watch()``. It is written from several threads: the I/O
thread (received messages, state changes, writes), the sender's thread, and
whoever reads it. Sent messages cost neither a lock nor a clock call each:
the session appends ``(payload, is_text)`` to :attr:`History.outbox` under
the connection's lock, which orders every send, and the whole batch enters
the history, timed once, after each write (:meth:`History.flushed`) or
before anything else is kept or read, so the order stays the wire's.
Observers see records in the history's order: records are queued for them in
the same locked step that keeps them, and one thread at a time shows the queue.
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
        # Records waiting to be shown, with the observers of their time, in the
        # history's order; one thread at a time shows them (_drain).
        self._unshown: collections.deque[tuple[list[Observer], Record]] = collections.deque()
        self._showing = False
        #: Messages queued and not yet kept: ``(payload, is_text)``, in wire order.
        self.outbox: collections.deque[tuple[bytes, bool]] = collections.deque()

    # -- reading -------------------------------------------------------------
    def records(self) -> list[Record]:
        """Everything kept, oldest first, as ``Record``s (messages sent so far included)."""
        with self._lock:
            self._queue(self._take_outbox())
            # Copied under the lock: a deque appended to meanwhile cannot be iterated.
            entries = list(self._entries)
        self._drain()
        return _records(entries)

    def watch(self, observer: Observer, replay: bool) -> Callable[[], None]:
        """Add ``observer`` (after the kept records if ``replay``); returns its stop function."""
        with self._lock:
            # Under the lock that every new record takes: the replay and the live
            # records that follow have no gap and no repeat, in order.
            self._queue(self._take_outbox())
            replayed = _records(list(self._entries)) if replay else []
            # Behind what earlier observers still have to see, and before what
            # comes next: the new observer's first records are the replay.
            self._unshown.extend(([observer], record) for record in replayed)
            self._observers = [*self._observers, observer]
        self._drain()

        def stop() -> None:
            with self._lock:
                self._observers = [o for o in self._observers if o is not observer]

        return stop

    # -- writing -------------------------------------------------------------
    def record(self, record: Record) -> None:
        """Keep ``record`` and show it to the observers."""
        with self._lock:
            self._queue(self._take_outbox())
            self._keep(record, 1, _record_size(record))
            self._queue([record])
        self._drain()

    def messages_in(self, messages: list[Any], whole: bool) -> None:
        """Keep received whole messages (one socket read's worth), timed once."""
        with self._lock:
            self._queue(self._take_outbox())
            # One time for history() and the observers, so both report the same
            # Record; read under the lock, after the sends taken above were timed
            # (by this call or by a sender's own write), so a reply is never
            # timed before the message it answers.
            now = time.time()
            self._keep((now, "<", messages, whole), len(messages), sum(map(len, messages)))
            if self._observers:
                self._queue(
                    [
                        Record(
                            now,
                            "message",
                            "<",
                            data=message,
                            pieces=1 if whole else len(split_message(message)),
                        )
                        for message in messages
                    ]
                )
        self._drain()

    def message_out(self, data: Any) -> None:
        """Keep one sent message (a transport without an outbox)."""
        now = time.time()
        with self._lock:
            self._keep((now, ">", (data,), True), 1, len(data))
            if self._observers:
                self._queue([Record(now, "message", ">", data=data, pieces=1)])
        self._drain()

    def flushed(self) -> None:
        """Sends went out (on the I/O thread, or the sender's): keep them, timed now."""
        if self.outbox:
            with self._lock:
                self._queue(self._take_outbox())
            self._drain()

    # -- inside ----------------------------------------------------------------
    def _take_outbox(self) -> list[Record]:
        """Move the messages sent so far into the history as one batch; lock held.

        Returns their Records if someone watches (for :meth:`_queue`, before
        what the caller keeps next), else an empty list.
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

    def _queue(self, records: list[Record]) -> None:
        """Queue ``records`` for today's observers; lock held (the history's order)."""
        observers = self._observers
        if observers and records:
            self._unshown.extend((observers, record) for record in records)

    def _drain(self) -> None:
        """Show the queued records, in order, unless another thread is showing them.

        That thread shows what this one queued too, before it stops: records
        are never shown out of order, and an observer that records something
        (a send from a watch callback) does not recurse.
        """
        while True:
            with self._lock:
                if self._showing or not self._unshown:
                    return
                self._showing = True
                batch = list(self._unshown)
                self._unshown.clear()
            try:
                for observers, record in batch:
                    for observer in observers:
                        _notify(observer, record)
            finally:
                with self._lock:
                    self._showing = False


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
