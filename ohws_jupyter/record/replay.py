"""Replay: send a transcript's messages again and compare what comes back.

A recorded session becomes a regression test::

    report = replay("session.har", to=server.url).result(30)
    report            # a ✓/✗ table, message by message
    report.ok         # False when anything differs

For each connection in the transcript a new WebSocket connects (to ``to``, or
to the recorded URL), sends the recorded sent messages in order and takes the
received ones in order, comparing each with the recorded one. With
``timing='fast'`` a message is sent as soon as the replies recorded before it
have come back (or timed out); with ``timing='recorded'`` at the recorded
offset from the opening. A close the recording made is made again with its
code and reason; a close the server made is waited for and its code compared.

The replay runs on a thread of its own (in a browser, as a task of the page's
loop, which it lets run while it waits) and settles a
:class:`~ohws_jupyter.engine.promise.Promise`, so ``await`` and ``.result()`` both work.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.errors import PARAMETER_ERROR, BusinessError
from ..core.events import Record
from ..core.masking import mask_url
from ..core.options import WebSocketRequestOptions, check_request_options
from ..engine.promise import Promise
from ..engine.runtime import IN_BROWSER, Wakeup, get_runtime
from .transcript import Transcript, shown

__all__ = ["TIMINGS", "ReplayReport", "ReplayRow", "replay"]

#: The ways ``replay`` paces the sends.
TIMINGS = ("fast", "recorded")
_MASK = "***"
_CELL = 36


@dataclasses.dataclass(frozen=True)
class ReplayRow:
    """One step of a replay.

    Attributes:
        step: Its number, from 1.
        direction: ``'>'`` a sent message, ``'<'`` a received one, ``'='`` open or close.
        recorded: What the transcript holds.
        replayed: What happened this time (None: nothing).
        ok: Whether the two agree.
        note: Why not, or what else to know.
    """

    step: int
    direction: str
    recorded: Any
    replayed: Any
    ok: bool
    note: str = ""


class ReplayReport:
    """The outcome of a replay: one row per step, and whether all of them agree.

    Attributes:
        rows: The steps, in order.
        url: The (masked) URL replayed against.
        notes: Things the replay could not reproduce (e.g. masked headers left out).
    """

    def __init__(self, rows: list[ReplayRow], url: str, notes: list[str]) -> None:
        self.rows = rows
        self.url = url
        self.notes = notes

    @property
    def differences(self) -> list[ReplayRow]:
        return [r for r in self.rows if not r.ok]

    @property
    def ok(self) -> bool:
        """True when every step agrees with the recording."""
        return not self.differences

    @property
    def exit_code(self) -> int:
        """0 when everything agrees, 1 otherwise (for scripts and CI)."""
        return 0 if self.ok else 1

    def summary(self) -> str:
        bad = len(self.differences)
        if bad == 0:
            return f"replay of {self.url}: all {len(self.rows)} steps as recorded"
        return f"replay of {self.url}: {bad} of {len(self.rows)} steps differ"

    def table(self) -> str:
        """The ✓/✗ table as text."""
        head = f"{'#':>3}  dir  {'recorded':<{_CELL}}  {'replayed':<{_CELL}}  ok"
        out = [head]
        for row in self.rows:
            mark = "✓" if row.ok else "✗"
            note = f"  {row.note}" if row.note else ""
            out.append(
                f"{row.step:>3}  {row.direction:<3}  {_cell(row.recorded)}  "
                f"{_cell(row.replayed)}  {mark}{note}"
            )
        out += [f"note: {n}" for n in self.notes]
        out.append(self.summary())
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"<ReplayReport {self.summary()}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.table())


def _cell(value: Any) -> str:
    if value is None:
        text = "—"
    elif isinstance(value, _Event):
        text = str(value)
    else:
        text = shown(value, _CELL)
    if len(text) > _CELL:
        text = text[: _CELL - 1] + "…"
    return f"{text:<{_CELL}}"


@dataclasses.dataclass(frozen=True)
class _Event:
    """An open or a close, as a table cell shows it."""

    text: str

    def __str__(self) -> str:
        return self.text


def replay(
    source: Transcript | str | os.PathLike[str],
    to: str | None = None,
    *,
    timing: str = "fast",
    timeout: float = 5.0,
    options: Any = None,
    header: dict[str, str] | None = None,
    compare: Callable[[Any, Any], bool] | None = None,
) -> Promise[ReplayReport]:
    """Replay a transcript's sent messages and compare the replies with the recorded ones.

    Args:
        source: A :class:`Transcript`, or the path of one saved as JSON lines or HAR.
        to: The URL to replay against; default the recorded one (which must then
            have no masked parts).
        timing: ``'fast'`` or ``'recorded'`` (see the module docstring).
        timeout: Seconds to wait for each recorded reply and for a close.
        options: Request options for the connections; default the recorded
            headers (masked ones left out, with a note) and subprotocol.
        header: Headers to send on top of the recorded ones, e.g. the real value
            of one that was masked.
        compare: ``compare(recorded, replayed) -> bool`` for received messages;
            default ``==``.

    Returns:
        A promise of a :class:`ReplayReport`; it rejects only for bad arguments
        (401) or an unreadable file, never because something differs.
    """
    try:
        transcript = source if isinstance(source, Transcript) else Transcript.load(source)
        if timing not in TIMINGS:
            raise BusinessError(
                PARAMETER_ERROR, f"timing must be 'fast' or 'recorded', not {timing!r}"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise BusinessError(PARAMETER_ERROR, "timeout must be more than 0 seconds")
        if compare is not None and not callable(compare):
            raise BusinessError(PARAMETER_ERROR, "compare must be a callable or None")
        parts = [p for p in transcript.connections() if p.messages or _opened(p)]
        if not parts:
            raise BusinessError(
                PARAMETER_ERROR, "the transcript has no connection with messages to replay"
            )
        if to is None:
            for part in parts:
                url = part.url or ""
                if not url or _MASK in url:
                    raise BusinessError(
                        PARAMETER_ERROR,
                        f"the recorded URL {url or '(none)'} has masked or missing parts; "
                        "give the URL to replay against with to=...",
                    )
        if options is not None:
            options = check_request_options(options)
        if header:
            check_request_options({"header": header})
    except BusinessError as err:
        return Promise.rejected(err, "replay")
    promise: Promise[ReplayReport] = Promise("replay")
    job = _Replay(parts, to, timing, float(timeout), options, dict(header or {}), compare or _equal)
    if IN_BROWSER:
        get_runtime().spawn(_run_in_page(job, promise))
    else:
        threading.Thread(target=job.run, args=(promise,), name="ohws-replay", daemon=True).start()
    return promise


async def _run_in_page(job: _Replay, promise: Promise[ReplayReport]) -> None:
    # A task, so that its waits can suspend it while the page's loop goes on.
    job.run(promise)


def _equal(recorded: Any, replayed: Any) -> bool:
    return bool(recorded == replayed)


def _opened(part: Transcript) -> bool:
    return any(r.kind == "open" for r in part)


class _Replay:
    def __init__(
        self,
        parts: list[Transcript],
        to: str | None,
        timing: str,
        timeout: float,
        options: WebSocketRequestOptions | None,
        header: dict[str, str],
        compare: Callable[[Any, Any], bool],
    ) -> None:
        self.header = header
        self.parts = parts
        self.to = to
        self.timing = timing
        self.timeout = timeout
        self.options = options
        self.compare = compare
        self.rows: list[ReplayRow] = []
        self.notes: list[str] = []

    def run(self, promise: Promise[ReplayReport]) -> None:
        try:
            for part in self.parts:
                self._one(part)
        except Exception as exc:
            promise.reject(exc)
            return
        url = mask_url(self.to or self.parts[-1].url or "")
        promise.resolve(ReplayReport(self.rows, url, self.notes))

    def _row(self, direction: str, recorded: Any, replayed: Any, ok: bool, note: str = "") -> None:
        self.rows.append(ReplayRow(len(self.rows) + 1, direction, recorded, replayed, ok, note))

    def _options(self, part: Transcript) -> WebSocketRequestOptions:
        if self.options is not None:
            if not self.header:
                return self.options
            return check_request_options(
                dataclasses.replace(self.options, header={**self.options.header, **self.header})
            )
        connect = next((r for r in part if r.kind == "connect"), None)
        opened = next((r for r in part if r.kind == "open"), None)
        header = {}
        given = {name.lower() for name in self.header}
        for name, value in ((connect.headers if connect else None) or {}).items():
            if name.lower() in given:
                continue
            if value == _MASK:
                note = (
                    f"header {name} was masked in the recording and is left out; "
                    "give its value with header= (-H in %ws replay)"
                )
                if note not in self.notes:
                    self.notes.append(note)
            else:
                header[name] = value
        header.update(self.header)
        protocol = opened.data if opened is not None and opened.data else None
        return check_request_options({"header": header, "protocol": protocol})

    def _one(self, part: Transcript) -> None:
        from ..client.websocket import createWebSocket  # the replaying client is an ordinary one

        url = self.to or part.url or ""
        ws = createWebSocket()
        inbox = _Inbox()

        def observe(rec: Record) -> None:
            if (rec.kind == "message" and rec.direction == "<") or rec.kind in ("close", "error"):
                inbox.put(rec)

        stop = ws.watch(observe)
        try:
            self._steps(ws, url, part, inbox)
        finally:
            stop()
            if ws.readyState != 3:
                with contextlib.suppress(BusinessError, TimeoutError):
                    ws.close().result(self.timeout + 5)

    def _steps(self, ws: Any, url: str, part: Transcript, inbox: _Inbox) -> None:
        recorded_open = next((r for r in part if r.kind == "open"), None)
        try:
            ws.connect(url, self._options(part)).result(self.timeout + 10)
            opened, error = True, None
        except (BusinessError, TimeoutError) as err:
            opened, error = False, err
        if recorded_open is None or not opened:
            what = "opened" if recorded_open is not None else "failed"
            now = "opened" if opened else f"failed: {error}"
            agree = opened == (recorded_open is not None)
            self._row("=", _Event(f"connect {what}"), _Event(f"connect {now}"), agree)
            return
        records = list(part)
        start_rec, start = recorded_open.time, time.monotonic()
        closed: Record | None = None
        user_close = next((r for r in records if r.kind == "closing" and r.direction == ">"), None)
        for rec in records:
            if rec.kind != "message":
                continue
            if rec.direction == ">":
                if self.timing == "recorded":
                    _pause_until(start + (rec.time - start_rec))
                try:
                    ws.send(rec.data).result(self.timeout + 5)
                    self._row(">", rec.data, rec.data, True)
                except (BusinessError, TimeoutError) as err:
                    self._row(">", rec.data, None, False, f"not sent: {err}")
                continue
            got, closed = _next_message(inbox, 0 if closed else self.timeout, closed)
            if got is None:
                why = "the connection closed" if closed else f"nothing within {self.timeout:g} s"
                self._row("<", rec.data, None, False, f"missing: {why}")
                continue
            try:
                same = self.compare(rec.data, got.data)
            except Exception as exc:
                same = False
                self._row("<", rec.data, got.data, False, f"compare raised {exc!r}")
                continue
            self._row("<", rec.data, got.data, same)
        recorded_close = next((r for r in reversed(records) if r.kind == "close"), None)
        if user_close is not None:
            # The recording closed; close the same way once the replies are in.
            try:
                ws.close({"code": user_close.code, "reason": user_close.reason or ""}).result(
                    self.timeout + 10
                )
            except (BusinessError, TimeoutError) as err:
                self.notes.append(f"close failed: {err}")
        elif recorded_close is None:
            ws.close().result(self.timeout + 10)
        # Whatever else came back before the close is a difference too.
        while True:
            got, closed = _next_message(inbox, self.timeout if closed is None else 0, closed)
            if got is None:
                break
            self._row("<", None, got.data, False, "unexpected: not in the recording")
        if recorded_close is not None:
            want = _Event(f"close {recorded_close.code} {recorded_close.reason or ''}".rstrip())
            if closed is None:
                self._row("=", want, None, False, f"no close within {self.timeout:g} s")
            else:
                have = _Event(f"close {closed.code} {closed.reason or ''}".rstrip())
                self._row("=", want, have, closed.code == recorded_close.code)


class _Inbox:
    """What the replaying WebSocket received, for the replay to take in order.

    A queue with one reader that waits through :class:`~ohws_jupyter.engine.runtime.Wakeup`,
    so that in a browser the wait lets the page's loop deliver the records.
    """

    def __init__(self) -> None:
        self._items: collections.deque[Record] = collections.deque()
        self._ready = Wakeup()

    def put(self, rec: Record) -> None:
        self._items.append(rec)
        self._ready.set()

    def get(self, timeout: float) -> Record | None:
        """The next record, or None after ``timeout`` seconds (0: only one already there)."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(IndexError):
                return self._items.popleft()
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._ready.clear()
            if not self._items:  # a put() between popleft and clear() set it before
                self._ready.wait(left)


def _next_message(
    inbox: _Inbox, timeout: float, closed: Record | None
) -> tuple[Record | None, Record | None]:
    """The next received message (None once closed or timed out), and the close if seen."""
    deadline = time.monotonic() + timeout
    while True:
        rec = inbox.get(deadline - time.monotonic())
        if rec is None:
            return None, closed
        if rec.kind == "message":
            return rec, closed
        if rec.kind == "close":
            closed = rec
            deadline = time.monotonic()  # only what is already queued may still come


def _pause_until(when: float) -> None:
    """Wait for the recorded moment to send (the pacing the user asked for)."""
    left = when - time.monotonic()
    if left > 0:
        Wakeup().wait(left)  # never set: a sleep that, in a browser, lets the page go on
