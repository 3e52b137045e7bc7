"""The live panel: watch and drive one ``WebSocket`` from a notebook widget.

``WebSocketPanel(ws)`` is an anywidget bound to the same object the user drives
from code; it sees everything through the public ``ws.watch()`` hook and acts
only through ``connect``/``send``/``close``. It has four views (``view``):
``'messages'`` (a list and the selected entry in detail), ``'handshake'``,
``'timeline'`` (a sequence diagram) and ``'rates'``. What each view draws is
computed in :mod:`ohws_jupyter.jupyter.panel_model`, so the Python model mirrors
the browser: ``panel.visible``, ``panel.select(i)``, ``panel.detail``,
``panel.handshake``, ``panel.timeline``, ``panel.rates``, ``panel.saved``.
Batching and the parts shared with the server panel are in
:mod:`ohws_jupyter.jupyter.panel_base`; the tool bar (reconnect countdown,
Export, Save transcript, Replay, Expect) is in :mod:`ohws_jupyter.jupyter.panel_tools`.

The panel holds its ``WebSocket`` weakly: a panel left displayed does not keep a
connection alive, and when the ``WebSocket`` is collected (its connection then
closes with 1001) the panel closes too. Keep your own reference to the
``WebSocket`` for as long as you use it. The URL trait is masked.

The front end (``static/panel.js``) renders all server text with text nodes,
never as HTML.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import traitlets

from ..client.websocket import HISTORY_BYTES, HISTORY_LIMIT, WebSocket
from ..core.errors import CONNECTION_ERROR, BusinessError
from ..core.events import Record
from ..core.masking import mask_headers, mask_url, mask_urls_in
from ..core.options import split_protocols
from .panel_base import matcher, scheduler
from .panel_model import (
    CLOSE_CODE_TEXT,
    FULL_BUDGET,
    RATE_SECONDS,
    LogWindow,
    PendingRecords,
    Rates,
    close_code_text,
    parse_close_code,
    parse_composer,
    plural,
)
from .panel_tools import ClientTools

__all__ = [
    "CLOSE_CODE_TEXT",
    "PENDING_BYTES",
    "VIEWS",
    "WebSocketPanel",
    "close_code_text",
    "mask_url",
    "matcher",
    "parse_composer",
]

_HISTORY = 20  # sent composer inputs kept for recall
#: Bytes of whole messages that may wait for the next refresh; past it they go
#: into the log window at once. With the window's share (FULL_BUDGET less this),
#: the panel holds at most FULL_BUDGET (32 MiB) of whole messages.
PENDING_BYTES = 8 * 1024 * 1024
#: The client panel's views.
VIEWS = ("messages", "handshake", "timeline", "rates")


class WebSocketPanel(ClientTools):
    """A live panel for one :class:`~ohws_jupyter.client.WebSocket`.

    A panel opened on a connection that already talked shows what the
    WebSocket kept of it first (``ws.history()``, handed over by
    ``ws.watch(..., replay=True)``), then live records: no gap, no repeat.

    Args:
        ws: The WebSocket to watch and drive (the same object code uses). The
            panel holds it weakly: keep your own reference while you use it.
        max_entries: Log entries kept in view; older ones are counted as dropped.
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
        saved: Iterable[dict[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        if not isinstance(ws, WebSocket):
            raise TypeError(f"WebSocketPanel needs a WebSocket, not {type(ws).__name__}")
        super().__init__(max_entries, saved, **kwargs)
        self._ws = weakref.ref(ws)
        self._finalizer: weakref.finalize[..., WebSocket] | None = None
        self._window = LogWindow(max_entries, full_budget=FULL_BUDGET - PENDING_BYTES)
        # Raw records wait here for the next flush; bounded, so a flood costs
        # at most max_entries records, and PENDING_BYTES of whole messages, of
        # memory between two flushes.
        self._pending = PendingRecords(max_entries, PENDING_BYTES)
        # Entries made from pending records outside a flush (a read of
        # ``entries``, too many bytes waiting), for the next flush to send.
        self._unsent: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._drain_lock = threading.RLock()  # keeps entries in record order
        self._history: deque[dict[str, str]] = deque(maxlen=_HISTORY)
        self._rates = Rates()
        self._rates_unsent: dict[int, list[int]] = {}  # changed seconds, for the next flush
        self._rtt_new: list[list[float]] = []  # round trips not yet sent to the front end
        self._handshake: dict[str, Any] = {}
        self._handshake_dirty = False
        self._stats = ws.stats  # the counters outlive the WebSocket, for the last view
        self._real_url = ws.url or ""
        self._replay_thread: int | None = None
        self._stop_watch: Callable[[], None] | None = None
        self._rates.update(self._totals())
        self._sync_traits()
        self._observer = _Observer(self)
        self._skip_old_attempts(ws)
        self._start_watching(ws)
        # When the WebSocket is collected its connection closes; so does the panel.
        self._finalizer = weakref.finalize(ws, _ws_collected, weakref.ref(self))
        self._finalizer.atexit = False
        self._show_wait_under_way(ws)

    # -- the WebSocket ------------------------------------------------------------------
    @property
    def ws(self) -> WebSocket | None:
        """The WebSocket this panel shows, or None once it was garbage-collected."""
        return self._ws()

    def _start_watching(self, ws: WebSocket) -> None:
        # The replay runs on this thread, inside watch(), before any live record
        # can reach the observer: that is how the first replayed record is known.
        # The stop function holds the WebSocket weakly, so keeping it is safe.
        self._replay_thread = threading.get_ident()
        try:
            self._stop_watch = ws.watch(self._observer, replay=True)
        finally:
            self._replay_thread = None

    def _replayed_first(self, rec: Record) -> None:
        """The first record of the replay: say so if older ones were not kept.

        A history that was kept whole starts with the first ``connect``.
        """
        self._replay_thread = None
        if rec.kind == "connect":
            return
        ws = self._ws()
        if ws is None:
            return
        s = ws.stats
        text = (
            f"earlier records were not kept (a WebSocket keeps its last {HISTORY_LIMIT:,} "
            f"records and {HISTORY_BYTES // (1024 * 1024)} MiB of messages); in all: "
            f"{plural(s.connects, 'connection')}, {plural(s.messagesIn, 'message')} in "
            f"({plural(s.bytesIn, 'byte')}), {plural(s.messagesOut, 'message')} out "
            f"({plural(s.bytesOut, 'byte')})"
        )
        self._take(Record(rec.time, "history", "=", data=text))
        if s.openedAt:
            # The 'connect' and 'open' of the connection were among the records
            # not kept: its handshake is what the WebSocket still knows of it.
            self._handshake = self._handshake_from_state(ws)
            self._handshake_dirty = True

    def _handshake_from_state(self, ws: WebSocket) -> dict[str, Any]:
        opts = ws.options
        extra = opts.sensitiveHeaders if opts is not None else ()
        return {
            "url": mask_url(ws.url or ""),
            "requestHeaders": ws.requestHeaders,  # masked by the WebSocket
            "headersAsSent": True,
            "userHeaders": sorted(opts.masked_header()) if opts is not None else [],
            "offered": split_protocols(opts.protocol) if opts is not None else [],
            "status": "101 Switching Protocols",
            "responseHeaders": mask_headers(ws.responseHeaders, extra),
            "protocol": ws.protocol,
            "extensions": ws.extensions,
            "startedAt": None,
            "openedAt": ws.stats.openedAt,
            "timeToOpen": None,
            "error": "",
            "note": "opened before the oldest record the WebSocket kept: "
            "the time to open is not known",
        }

    # -- public view of the model -------------------------------------------------------
    @property
    def history(self) -> list[dict[str, str]]:
        """Recently sent composer inputs (``{'mode', 'text'}``), newest last."""
        return list(self._history)

    @property
    def counters(self) -> dict[str, Any]:
        """Message and byte counts, connection times, the last keepalive round trip
        (seconds, None before the first) and the last error."""
        s = self._stats
        return {
            "messagesIn": s.messagesIn,
            "bytesIn": s.bytesIn,
            "piecesIn": s.piecesIn,
            "messagesOut": s.messagesOut,
            "bytesOut": s.bytesOut,
            "openedAt": s.openedAt,
            "closedAt": s.closedAt,
            "pingRoundTrip": s.pingRoundTrip,
            "lastError": self._last_error,
            "now": time.time(),
        }

    @property
    def handshake(self) -> dict[str, Any]:
        """The opening handshake of the current or last connection, as the view shows it.

        Keys: ``url``; ``requestHeaders``, every header of the request as sent
        (``ws.requestHeaders``; until the handshake ends, the headers you gave);
        ``userHeaders``, the names of the headers you gave; ``offered``
        subprotocols; ``status``; ``responseHeaders``; ``protocol``;
        ``extensions``; ``startedAt``, ``openedAt``, ``timeToOpen`` (seconds);
        ``error`` (why it failed); ``note``. Credentials are masked. Empty
        before the first connect.
        """
        with self._lock:
            return dict(self._handshake)

    @property
    def rates(self) -> dict[str, Any]:
        """The last minute, one value a second: ``seconds``, ``messagesIn``, ``bytesIn``,
        ``messagesOut``, ``bytesOut``, and ``rtt``: ``[time, seconds]``, each
        keepalive round trip (one per ``pingInterval``)."""
        with self._lock:
            self._count_rates()
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
        options = ws.options if ws.options is not None and target == ws.url else None
        stats = ws.stats

        def done(err: BusinessError | None, _value: Any = None) -> None:
            # A failed attempt already logged its 'error' record; log only the
            # refusals that never reach the network (bad URL, already open, ...).
            if err is not None and not (err.code == CONNECTION_ERROR and stats.lastError is err):
                self._local_error(err)

        if options is None:
            ws.connect(target, done)
        else:
            ws.connect(target, options, done)

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
        stop = getattr(self, "_stop_watch", None)
        if stop is not None:
            stop()
            self._stop_watch = None
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
        else:
            self._on_tool(kind, content)

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
        if self._replay_thread is not None and self._replay_thread == threading.get_ident():
            self._replayed_first(rec)
        if rec.kind == "connect":
            self._log_attempts()  # a reconnect's wait goes before its attempt
        self._take(rec)

    def _take(self, rec: Record) -> None:
        if self._pending.put(rec):
            self._drain()  # big messages: into the window, which keeps a budget
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
                self._update_handshake(error=self._last_error, **self._sent_headers())
        elif kind == "message" or kind == "open":
            # A later success clears an earlier mistake from "last error".
            self._last_error = ""
        if kind in ("connect", "open", "close", "error"):
            self._reconnect_record(rec)
        if kind == "connect":
            ws = self._ws()
            opts = ws.options if ws is not None else None
            user = dict(rec.headers or {})
            with self._lock:
                self._handshake = {
                    "url": mask_url(rec.data) if isinstance(rec.data, str) else "",
                    # ws.requestHeaders is set just after this record, and still
                    # holds the last connection's now: until the handshake ends
                    # the view shows the headers the user gave.
                    "requestHeaders": user,
                    "userHeaders": sorted(user),
                    "offered": split_protocols(opts.protocol) if opts is not None else [],
                    "status": "",
                    "responseHeaders": {},
                    "protocol": "",
                    "extensions": "",
                    "startedAt": rec.time,
                    "openedAt": None,
                    "timeToOpen": None,
                    "error": "",
                    "note": "",
                    "headersAsSent": False,
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
                **self._sent_headers(),
            )
        elif kind == "pong" and rec.direction == "<" and isinstance(rec.data, (int, float)):
            point = [rec.time, float(rec.data)]
            with self._lock:
                self._rates.add_rtt(rec.time, point[1])
                self._rtt_new.append(point)
                del self._rtt_new[:-RATE_SECONDS]

    def _sent_headers(self) -> dict[str, Any]:
        """Every request header as sent, once the handshake of a connect has ended."""
        ws = self._ws()
        if ws is None or self._handshake.get("headersAsSent", True):
            return {}
        # Set when the request of the connect this handshake shows went out.
        return {"requestHeaders": ws.requestHeaders, "headersAsSent": True}

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

    def _catch_up(self) -> None:
        self._drain()

    def _count_rates(self) -> None:
        """Bring the rates up to the counters now; with the lock held (any thread)."""
        for row in self._rates.update(self._totals()):
            self._rates_unsent[row[0]] = row

    def _drain(self) -> None:
        """Move the pending records into the log window (any thread), in order."""
        with self._drain_lock:
            items, skipped = self._pending.take()
            with self._lock:
                window = self._window
                window.skip(skipped)
                self._unsent.extend(window.add(seq, rec) for seq, rec in items)

    def _take_pending(self) -> list[dict[str, Any]]:
        """The entries not yet sent to the front end, pending records included."""
        with self._drain_lock:
            self._drain()
            batch = list(self._unsent)
            self._unsent.clear()
            return batch

    def _send_batch(self) -> None:
        batch = self._take_pending()
        with self._lock:
            self._count_rates()
            changed = list(self._rates_unsent.values())
            self._rates_unsent.clear()
        msg: dict[str, Any] = {
            "type": "batch",
            "entries": [] if self.paused else batch,
            "rates": changed,
            **self._status(),
        }
        if self._handshake_dirty:
            msg["handshake"] = self.handshake
            self._handshake_dirty = False
        if self._rtt_new:
            with self._lock:
                msg["rtt"], self._rtt_new = self._rtt_new, []
        self._send_msg(msg)

    def _status(self) -> dict[str, Any]:
        return {"seq": self._seq, "dropped": self._window.dropped, "counters": self.counters}

    @property
    def _seq(self) -> int:
        return self._pending.last_seq

    def _trait_changes(self) -> dict[str, Any]:
        ws = self._ws()
        if ws is None:
            values = {"state": "GONE"}
        else:
            values = {"state": ws.state.name, "protocol": ws.protocol}
            if ws.url and (ws.url != self._real_url or not self.url):
                # Only a new connection target overwrites the field, never user typing.
                values["url"] = mask_url(ws.url)
        changed = {k: v for k, v in values.items() if getattr(self, k) != v}
        if ws is not None and ws.url and "url" in values and "url" not in changed:
            self._real_url = ws.url  # the field shows it already
        return changed

    def _sync_traits(self) -> bool:
        ws = self._ws()
        url = ws.url if ws is not None else None
        if not super()._sync_traits():
            return False
        if url and self.url == mask_url(url):
            self._real_url = url
        return True

    def _snapshot(self, view: str) -> None:
        # Flush first so the snapshot covers every record numbered up to seq.
        self._take_pending()
        with self._lock:
            self._count_rates()
            self._rates_unsent.clear()  # the snapshot has them all
            rates = self._rates.buckets()
            rtt = [list(point) for point in self._rates.rtt]
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
                "tools": self.tool_results(),
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

    Switched off when the panel closes, so a record already on its way when the
    panel stops watching reaches no closed widget.
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
