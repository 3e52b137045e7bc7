"""The live panel: watch and drive one ``WebSocket`` from a notebook widget.

``WebSocketPanel(ws)`` is an anywidget bound to the same object the user drives
from code; it sees everything through the public ``ws.watch()`` hook and acts
only through ``connect``/``send``/``close``. It has four views (``view``):
``'messages'`` (a list and the selected entry in detail), ``'handshake'``,
``'timeline'`` (a sequence diagram) and ``'rates'``. What each view draws is
computed in :mod:`ohws_jupyter.panel_model`, so the Python model mirrors the
browser: ``panel.visible``, ``panel.select(i)``, ``panel.detail``,
``panel.handshake``, ``panel.timeline``, ``panel.rates``, ``panel.saved``.
Batching and the parts shared with the server panel are in
:mod:`ohws_jupyter.panel_base`.

The panel holds its ``WebSocket`` weakly: a panel left displayed does not keep a
connection alive, and when the ``WebSocket`` is collected (its connection then
closes with 1001) the panel closes too. Keep your own reference to the
``WebSocket`` for as long as you use it. The URL trait is masked.

The front end (``static/panel.js``) renders all server text with text nodes,
never as HTML.
"""

from __future__ import annotations

import inspect
import itertools
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import traitlets

from .client import WebSocket
from .errors import CONNECTION_ERROR, BusinessError
from .events import Record
from .options import mask_headers, mask_url, mask_urls_in, split_protocols
from .panel_base import PanelBase, matcher, scheduler
from .panel_model import (
    CLOSE_CODE_TEXT,
    LogWindow,
    Rates,
    close_code_text,
    parse_close_code,
    parse_composer,
)

__all__ = [
    "CLOSE_CODE_TEXT",
    "VIEWS",
    "WebSocketPanel",
    "close_code_text",
    "mask_url",
    "matcher",
    "parse_composer",
]

_HISTORY = 20  # sent composer inputs kept for recall
#: The client panel's views.
VIEWS = ("messages", "handshake", "timeline", "rates")
#: The request headers the client library adds itself (not reported by ``watch``).
_LIBRARY_HEADERS = "Host, Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version"


class WebSocketPanel(PanelBase):
    """A live panel for one :class:`~ohws_jupyter.client.WebSocket`.

    Args:
        ws: The WebSocket to watch and drive (the same object code uses). The
            panel holds it weakly: keep your own reference while you use it.
        max_entries: Log entries kept in view; older ones are counted as dropped.
        records: Records that happened before the panel was made (e.g. the log
            ``%ws`` keeps), or a function returning them; shown first. Not needed
            when ``ws.watch`` can replay its history itself.
        saved: Saved messages to start with (e.g. another panel's ``saved``).
    """

    url = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Unicode("CLOSED").tag(sync=True)
    protocol = traitlets.Unicode("").tag(sync=True)
    _views = VIEWS

    def __init__(
        self,
        ws: WebSocket,
        max_entries: int = 1000,
        *,
        records: Iterable[Record] | Callable[[], Iterable[Record]] | None = None,
        saved: Iterable[dict[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        if not isinstance(ws, WebSocket):
            raise TypeError(f"WebSocketPanel needs a WebSocket, not {type(ws).__name__}")
        super().__init__(max_entries, saved, **kwargs)
        self._ws = weakref.ref(ws)
        self._finalizer: weakref.finalize | None = None
        self._window = LogWindow(max_entries)
        # Raw records wait here for the next flush; bounded, so a flood costs
        # at most max_entries records of memory between two flushes.
        self._pending: deque[tuple[int, Record]] = deque(maxlen=max_entries)
        self._skipped = 0
        self._numbers = itertools.count(1)
        self._seq = 0
        self._history: deque[dict[str, str]] = deque(maxlen=_HISTORY)
        self._rates = Rates()
        self._handshake: dict[str, Any] = {}
        self._handshake_dirty = False
        self._stats = ws.stats  # the counters outlive the WebSocket, for the last view
        self._real_url = ws.url or ""
        self._early: list[Record] | None = []  # records that arrive while history is read
        self._rates.update(self._totals())
        self._sync_traits()
        self._observer = _Observer(self)
        self._start_watching(ws, records)
        # When the WebSocket is collected its connection closes; so does the panel.
        self._finalizer = weakref.finalize(ws, _ws_collected, weakref.ref(self))
        self._finalizer.atexit = False

    # -- the WebSocket ------------------------------------------------------------------
    @property
    def ws(self) -> WebSocket | None:
        """The WebSocket this panel shows, or None once it was garbage-collected."""
        return self._ws()

    def _start_watching(
        self, ws: WebSocket, records: Iterable[Record] | Callable[[], Iterable[Record]] | None
    ) -> None:
        # The function watch() returns to stop watching holds the WebSocket, so the
        # panel does not keep it (see _Observer).
        if _watch_replays(ws):
            # The engine hands over what happened so far, then live records, with
            # no gap and no repeat; nothing else to do here.
            self._early = None
            ws.watch(self._observer, replay=True)  # type: ignore[call-arg]
            return
        ws.watch(self._observer)
        past = list(records() if callable(records) else records or ())
        with self._lock:
            early, self._early = self._early or [], None
        for rec in _before(past, early):
            self._take(rec)
        if not past:
            self._note_missed_history(ws)
        for rec in early:
            self._take(rec)

    def _note_missed_history(self, ws: WebSocket) -> None:
        """Say what happened before the panel, when no one kept the records."""
        s = ws.stats
        if not (s.connects or s.messagesIn or s.messagesOut):
            return
        if ws.state.name in ("OPEN", "CLOSING") or s.openedAt:
            self._handshake = self._handshake_from_state(ws)
            self._handshake_dirty = True
        text = (
            f"before this panel: {s.connects} connection(s), {s.messagesIn} messages in "
            f"({s.bytesIn} bytes), {s.messagesOut} out ({s.bytesOut} bytes); "
            "their records were not kept"
        )
        self._take(Record(time.time(), "history", "=", data=text))

    def _handshake_from_state(self, ws: WebSocket) -> dict[str, Any]:
        extra = ws.options.sensitiveHeaders if ws.options is not None else ()
        opts = ws.options
        return {
            "url": mask_url(ws.url or ""),
            "requestHeaders": mask_headers(opts.header, extra) if opts is not None else {},
            "offered": split_protocols(opts.protocol) if opts is not None else [],
            "libraryHeaders": _LIBRARY_HEADERS,
            "status": "101 Switching Protocols" if ws.stats.openedAt else "",
            "responseHeaders": mask_headers(ws.responseHeaders, extra),
            "protocol": ws.protocol,
            "extensions": ws.extensions,
            "startedAt": None,
            "openedAt": ws.stats.openedAt,
            "timeToOpen": None,
            "error": "",
            "note": "opened before this panel: the time to open was not seen",
        }

    # -- public view of the model -------------------------------------------------------
    @property
    def history(self) -> list[dict[str, str]]:
        """Recently sent composer inputs (``{'mode', 'text'}``), newest last."""
        return list(self._history)

    @property
    def counters(self) -> dict[str, Any]:
        """Message and byte counts, connection times and the last error."""
        s = self._stats
        return {
            "messagesIn": s.messagesIn,
            "bytesIn": s.bytesIn,
            "piecesIn": s.piecesIn,
            "messagesOut": s.messagesOut,
            "bytesOut": s.bytesOut,
            "openedAt": s.openedAt,
            "closedAt": s.closedAt,
            "lastError": self._last_error,
            "now": time.time(),
        }

    @property
    def handshake(self) -> dict[str, Any]:
        """The opening handshake of the current or last connection, as the view shows it.

        Keys: ``url``, ``requestHeaders`` (credentials masked), ``offered``
        subprotocols, ``status``, ``responseHeaders`` (masked), ``protocol``,
        ``extensions``, ``startedAt``, ``openedAt``, ``timeToOpen`` (seconds),
        ``error`` (why it failed), ``note``. Empty before the first connect.
        """
        with self._lock:
            return dict(self._handshake)

    @property
    def rates(self) -> dict[str, Any]:
        """The last minute, one value a second: ``seconds``, ``messagesIn``, ``bytesIn``,
        ``messagesOut``, ``bytesOut``, and ``rtt`` (``[time, seconds]`` keepalive
        round trips, when the WebSocket reports them)."""
        with self._lock:
            return self._rates.series()

    def log_text(self) -> str:
        """The log window as plain text lines (for terminals and bug reports)."""
        lines = []
        for e in self.entries:
            stamp = time.strftime("%H:%M:%S", time.localtime(e["time"]))
            what = e.get("text", "")
            if "code" in e and e["kind"] != "error":
                what = f"{e['code']} {e['reason']} ({e['explain']})"
            lines.append(f"{stamp} {e['dir']} {e['kind']} {what}".rstrip())
        return "\n".join(lines)

    # -- actions (also what the buttons do) -------------------------------------------
    def connect(self, url: str | None = None) -> None:
        """Connect ``ws`` to ``url`` (default: the URL field), reusing its last options."""
        ws = self._need_ws()
        if ws is None:
            return
        target = self.url if url is None else url
        if target == mask_url(self._real_url) and self._real_url:
            target = self._real_url  # the field shows the masked form of the real URL
        args: list[Any] = [target]
        if ws.options is not None and target == ws.url:
            args.append(ws.options)
        stats = ws.stats

        def done(err: BusinessError | None, _value: Any = None) -> None:
            # A failed attempt already logged its 'error' record; log only the
            # refusals that never reach the network (bad URL, already open, ...).
            if err is not None and not (err.code == CONNECTION_ERROR and stats.lastError is err):
                self._local_error(err)

        ws.connect(*args, done)

    def send_input(self, text: str, mode: str = "text") -> None:
        """Send composer input (see :func:`parse_composer`); mistakes go to the log.

        An empty text message is a message like any other, and is sent.
        """
        try:
            data = parse_composer(text, mode)
        except ValueError as exc:
            self._local_error(f"not sent: {exc}")
            return
        ws = self._need_ws()
        if ws is None:
            return
        item = {"mode": mode, "text": text}
        if not self._history or self._history[-1] != item:
            self._history.append(item)
            scheduler.call_soon(self._send_msg, {"type": "history", "history": self.history})
        ws.send(data, self._report)

    def send_saved(self, name: str) -> None:
        """Send the saved message ``name``.

        Raises:
            KeyError: There is no saved message of that name.
        """
        item = self.saved_message(name)
        ws = self._need_ws()
        if ws is None:
            return
        try:
            data = parse_composer(item["text"], item["mode"])
        except ValueError as exc:
            self._local_error(f"not sent: {exc}")
            return
        ws.send(data, self._report)

    def close_connection(self, code: int | str | None = None, reason: str = "") -> None:
        """Close ``ws`` with ``code`` (default 1000) and ``reason``."""
        try:
            number = parse_close_code(code)
        except ValueError as exc:
            self._local_error(f"not closed: {exc}")
            return
        ws = self._need_ws()
        if ws is not None:
            ws.close({"code": number, "reason": reason or ""}, self._report)

    def clear(self) -> None:
        """Empty the log window and the dropped count (counters stay)."""
        scheduler.call_soon(self._clear)

    def close(self) -> None:
        """Stop showing the WebSocket and close the widget (the connection stays)."""
        observer = getattr(self, "_observer", None)  # None if __init__ refused its arguments
        if observer is not None:
            observer.panel = None
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer.detach()
        self._closed = True
        super().close()

    # -- front-end actions (kernel shell thread) ----------------------------------------
    def _on_action(self, kind: Any, content: dict[str, Any]) -> None:
        if kind == "connect":
            self.connect(str(content.get("url", "")))
        elif kind == "send":
            self.send_input(str(content.get("text", "")), str(content.get("mode", "text")))
        elif kind == "send_saved":
            self.send_saved(str(content.get("name", "")))
        elif kind == "close":
            self.close_connection(content.get("code"), str(content.get("reason", "")))

    def _need_ws(self) -> WebSocket | None:
        ws = self._ws()
        if ws is None:
            self._local_error("the WebSocket of this panel no longer exists")
        return ws

    def _report(self, err: BusinessError | None, _value: Any = None) -> None:
        if err is not None:
            self._local_error(err)

    def _local_error(self, err: BusinessError | str) -> None:
        self._observe(Record(time.time(), "error", "=", error=err))

    # -- records (any thread; the hot path) --------------------------------------------
    def _observe(self, rec: Record) -> None:
        # Called for every record: keep it to an append and a flag check.
        if self._early is not None:
            with self._lock:
                if self._early is not None:  # still reading the history
                    self._early.append(rec)
                    return
        self._take(rec)

    def _take(self, rec: Record) -> None:
        seq = next(self._numbers)
        self._seq = seq
        pending = self._pending
        if len(pending) == pending.maxlen:
            self._skipped += 1
        pending.append((seq, rec))
        kind = rec.kind
        if kind != "message" or rec.direction == ">":
            self._note(rec)
        if not self._flush_armed:
            self._arm()

    def _note(self, rec: Record) -> None:
        """Bookkeeping for the rarer records: last error, handshake, round trips."""
        kind = rec.kind
        if kind == "error":
            self._last_error = mask_urls_in(str(rec.error))
            if self._handshake and not self._handshake.get("status"):
                self._update_handshake(error=self._last_error)
        elif kind == "message" or kind == "open":
            # A later success clears an earlier mistake from "last error".
            self._last_error = ""
        if kind == "connect":
            ws = self._ws()
            opts = ws.options if ws is not None else None
            with self._lock:
                self._handshake = {
                    "url": mask_url(rec.data) if isinstance(rec.data, str) else "",
                    "requestHeaders": dict(rec.headers or {}),
                    "offered": split_protocols(opts.protocol) if opts is not None else [],
                    "libraryHeaders": "" if _has_key(rec.headers) else _LIBRARY_HEADERS,
                    "status": "",
                    "responseHeaders": {},
                    "protocol": "",
                    "extensions": "",
                    "startedAt": rec.time,
                    "openedAt": None,
                    "timeToOpen": None,
                    "error": "",
                    "note": "",
                }
                self._handshake_dirty = True
        elif kind == "open":
            ws = self._ws()
            started = self._handshake.get("startedAt")
            self._update_handshake(
                status="101 Switching Protocols",
                responseHeaders=dict(rec.headers or {}),
                protocol=rec.data or "",
                extensions=ws.extensions if ws is not None else "",
                openedAt=rec.time,
                timeToOpen=None if started is None else rec.time - started,
            )
        elif kind == "pong" and isinstance(rec.data, (int, float)):
            with self._lock:
                self._rates.add_rtt(rec.time, float(rec.data))

    def _update_handshake(self, **fields: Any) -> None:
        with self._lock:
            if not self._handshake:
                self._handshake = {"url": mask_url(self._real_url), "requestHeaders": {}}
            self._handshake.update(fields)
            self._handshake_dirty = True

    def _totals(self) -> tuple[int, int, int, int]:
        s = self._stats
        return (s.messagesIn, s.bytesIn, s.messagesOut, s.bytesOut)

    # -- the panel thread ----------------------------------------------------------------
    def _current_window(self) -> LogWindow:
        return self._window

    def _take_pending(self) -> list[dict[str, Any]]:
        pending = self._pending
        items = []
        while pending:
            items.append(pending.popleft())
        skipped, self._skipped = self._skipped, 0
        with self._lock:
            window = self._window
            window.skip(skipped)
            return [window.add(seq, rec) for seq, rec in items]

    def _flush(self) -> None:
        self._flush_armed = False
        self._last_flush = time.monotonic()
        batch = self._take_pending()
        with self._lock:
            changed = self._rates.update(self._totals())
        self._sync_traits()
        msg: dict[str, Any] = {
            "type": "batch",
            "entries": [] if self.paused else batch,
            "rates": changed,
            **self._status(),
        }
        if self._handshake_dirty:
            msg["handshake"] = self.handshake
            self._handshake_dirty = False
        self._send_msg(msg)

    def _status(self) -> dict[str, Any]:
        return {"seq": self._seq, "dropped": self._window.dropped, "counters": self.counters}

    def _sync_traits(self) -> None:
        ws = self._ws()
        if ws is None:
            values = {"state": "GONE"}
        else:
            values = {"state": ws.state.name, "protocol": ws.protocol}
            if ws.url and (ws.url != self._real_url or not self.url):
                # Only a new connection target overwrites the field, never user typing.
                self._real_url = ws.url
                values["url"] = mask_url(ws.url)
        changed = {k: v for k, v in values.items() if getattr(self, k) != v}
        if changed and not self._closed:
            with self.hold_sync():  # one comm message for all changed traits
                for name, value in changed.items():
                    setattr(self, name, value)

    def _snapshot(self, view: str) -> None:
        # Flush first so the snapshot covers every record numbered up to seq.
        self._take_pending()
        with self._lock:
            rates = self._rates.buckets()
            rtt = list(self._rates.rtt)
        self._send_msg(
            {
                "type": "snapshot",
                "view": view,
                "entries": self.entries,
                "history": self.history,
                "handshake": self.handshake,
                "rates": rates,
                "rtt": rtt,
                "detail": self._detail_msg(),
            }
            | self._status()
        )

    def _reset(self) -> None:
        self._take_pending()
        self._send_msg({"type": "reset", "entries": self.entries} | self._status())

    def _clear(self) -> None:
        self._take_pending()
        with self._lock:
            self._window.clear()
        self._send_msg({"type": "reset", "entries": []} | self._status())


class _Observer:
    """What ``ws.watch`` calls: passes records to its panel until the panel closes.

    ``watch`` returns a function that stops watching, but that function holds the
    WebSocket, and a panel must not: a panel left on screen would keep its
    connection open forever. So the panel keeps this observer instead and switches
    it off when it closes; the WebSocket drops it when the WebSocket goes.
    """

    __slots__ = ("panel",)

    def __init__(self, panel: WebSocketPanel) -> None:
        self.panel: WebSocketPanel | None = panel

    def __call__(self, rec: Record) -> None:
        panel = self.panel
        if panel is not None:
            panel._observe(rec)


def _ws_collected(panel_ref: weakref.ref[WebSocketPanel]) -> None:
    """The panel's WebSocket was collected: close the panel too (any thread)."""
    panel = panel_ref()
    if panel is not None and not panel._closed:
        scheduler.call_soon(panel.close)


def _watch_replays(ws: WebSocket) -> bool:
    """Whether ``ws.watch`` takes ``replay=True`` (hand over past records first)."""
    try:
        return "replay" in inspect.signature(ws.watch).parameters
    except (TypeError, ValueError):
        return False


def _has_key(headers: dict[str, str] | None) -> bool:
    return any(k.lower() == "sec-websocket-key" for k in headers or ())


def _before(past: list[Record], live: list[Record]) -> list[Record]:
    """The records of ``past`` that came before the first of ``live``.

    ``past`` and ``live`` overlap when a record arrived while the history was
    read; it is the same object in both (or, for a log that rewrote it, one with
    the same time, kind and direction).
    """
    if not live:
        return past
    first = live[0]
    for i, rec in enumerate(past):
        if rec is first:
            return past[:i]
    key = (first.time, first.kind, first.direction)
    for i, rec in enumerate(past):
        if (rec.time, rec.kind, rec.direction) == key:
            return past[:i]
    return past
