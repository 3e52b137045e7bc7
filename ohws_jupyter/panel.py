"""The live panel: watch and drive one ``WebSocket`` from a notebook widget.

``WebSocketPanel(ws)`` is an anywidget bound to the same object the user drives
from code; it sees everything through the public ``ws.watch()`` hook and acts
only through ``connect``/``send``/``close``. It has four views (``view``):
``'messages'`` (a list and the selected entry in detail), ``'handshake'``,
``'timeline'`` (a sequence diagram) and ``'rates'``. What each view draws is
computed in :mod:`ohws_jupyter.panel_model`, so the Python model mirrors the
browser: ``panel.visible``, ``panel.select(i)``, ``panel.detail``,
``panel.handshake``, ``panel.timeline``, ``panel.rates``, ``panel.saved``.

Data flow, and why it is shaped so:

* The observer may run for every record, 20,000 times a second, on the I/O
  thread, so it only appends to a bounded deque and arms a flush.
* Flushes, and every other message to the front end, run on one panel thread
  (:class:`_Scheduler`), at most every :attr:`flush_interval` seconds: one
  custom message with the *new* entries and the counters (append-only; the log
  is never sent again), so the browser gets at most ~10 updates a second.
* The log window is bounded (``max_entries``); what falls out is counted as
  dropped. Each view asks for a snapshot when it renders, which is how a second
  view, or a view after a browser reload, catches up. A whole message is sent
  only when it is selected, for the detail pane.
* Log entries, handshake headers and sent-message history travel in custom
  messages only, never in traits, so no message content and no header lands in
  a saved notebook. The exceptions are the saved messages (``saved``), which
  are there to travel with the notebook; the URL trait is masked.
* The panel holds its ``WebSocket`` weakly: a panel left displayed does not keep
  a connection alive, and when the ``WebSocket`` is collected (its connection
  then closes with 1001) the panel closes too. Keep your own reference to the
  ``WebSocket`` for as long as you use it.

The front end (``static/panel.js``) renders all server text with text nodes,
never as HTML.
"""

from __future__ import annotations

import base64
import heapq
import inspect
import itertools
import logging
import os
import pathlib
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import anywidget
import traitlets

from .client import WebSocket
from .errors import CONNECTION_ERROR, BusinessError
from .events import Record
from .options import mask_headers, mask_url, mask_urls_in, split_protocols
from .panel_model import (
    CLOSE_CODE_TEXT,
    SAVED_MAX,
    LogWindow,
    Rates,
    close_code_text,
    parse_close_code,
    parse_composer,
    saved_item,
)

__all__ = [
    "CLOSE_CODE_TEXT",
    "VIEWS",
    "WebSocketPanel",
    "close_code_text",
    "mask_url",
    "parse_composer",
]

logger = logging.getLogger("ohws_jupyter.panel")

_STATIC = pathlib.Path(__file__).parent / "static"
_HISTORY = 20  # sent composer inputs kept for recall
#: The client panel's views.
VIEWS = ("messages", "handshake", "timeline", "rates")
#: Most of a message the detail pane receives (characters, or bytes of binary).
DETAIL_LIMIT = 1024 * 1024
#: The request headers the client library adds itself (not reported by ``watch``).
_LIBRARY_HEADERS = "Host, Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version"

#: Filters of the message list; the front end has the same table.
FILTERS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "all": lambda e: True,
    "in": lambda e: e["kind"] == "message" and e["dir"] == "<",
    "out": lambda e: e["kind"] == "message" and e["dir"] == ">",
    "text": lambda e: e["type"] == "text",
    "json": lambda e: e["type"] == "json",
    "binary": lambda e: e["type"] == "binary",
    "events": lambda e: e["type"] == "event",
    "errors": lambda e: e["type"] == "error",
}


def entry_text(entry: dict[str, Any]) -> str:
    """The text an entry shows in the list (and that the search looks at)."""
    if entry["kind"] in ("close", "closing"):
        return f"{entry.get('code', '')} {entry.get('reason', '')}".strip()
    return str(entry.get("text", ""))


def matcher(kind_filter: str, search: str) -> Callable[[dict[str, Any]], bool]:
    """The test the message list applies: a kind filter and a regex search.

    The search is a case-insensitive regular expression over the kind, the text
    and the explanation; if it does not compile it is matched as plain text.
    """
    keep = FILTERS.get(kind_filter, FILTERS["all"])
    if not search:
        return keep
    try:
        pattern = re.compile(search, re.IGNORECASE)
        found = pattern.search
    except re.error:
        needle = search.lower()

        def found(hay: str) -> bool:  # type: ignore[misc]
            return needle in hay.lower()

    return lambda e: keep(e) and bool(found(f"{e['kind']} {entry_text(e)} {e.get('explain', '')}"))


class _Scheduler:
    """One daemon thread that runs every panel's flushes and front-end messages.

    All messages a panel sends go through it, so they reach the browser in the
    order they were made, from one thread, whichever thread the records came
    from; nothing here depends on the connection engine's threads.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[..., Any], tuple]] = []
        self._order = itertools.count()
        self._pid = -1

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the panel thread after ``delay`` seconds."""
        with self._cond:
            if self._pid != os.getpid():  # first use, or a forked child
                self._pid = os.getpid()
                self._heap = []
                threading.Thread(target=self._run, name="ohws-panel", daemon=True).start()
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), fn, args))
            self._cond.notify()

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the panel thread, after everything called before."""
        self.call_later(0.0, fn, *args)

    def _run(self) -> None:
        heap = self._heap
        while True:
            with self._cond:
                while True:
                    wait = heap[0][0] - time.monotonic() if heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                _, _, fn, args = heapq.heappop(heap)
            try:
                fn(*args)
            except Exception:
                logger.exception("internal error in the panel (%r)", fn)
            del fn, args  # a closed panel must not stay referenced by this idle loop


_scheduler = _Scheduler()


class PanelBase(anywidget.AnyWidget):
    """What the client and the server panel share: the log window, the list and
    its detail, saved messages, batching to the front end.

    Subclasses provide :meth:`_current_window` and :meth:`_status`, and feed
    records with :meth:`_push`.
    """

    # The files' text, not their paths: for a path anywidget connects every new
    # widget to a file watcher, which then holds the widget forever (and with it
    # everything a panel shows).
    _esm = (_STATIC / "panel.js").read_text(encoding="utf-8")
    _css = (_STATIC / "panel.css").read_text(encoding="utf-8")

    panel_kind = traitlets.Unicode("client", read_only=True).tag(sync=True)
    max_entries = traitlets.Int(1000, read_only=True).tag(sync=True)
    view = traitlets.Unicode("messages").tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)
    paused = traitlets.Bool(False).tag(sync=True)
    kind_filter = traitlets.Unicode("all").tag(sync=True)
    search = traitlets.Unicode("").tag(sync=True)
    #: Named messages, ``{'name', 'mode', 'text'}``; kept in the widget state.
    saved = traitlets.List(traitlets.Dict()).tag(sync=True)

    #: Seconds between two front-end updates, at most (~10 a second).
    flush_interval = 0.1
    _views: tuple[str, ...] = VIEWS

    def __init__(
        self, max_entries: int, saved: Iterable[dict[str, str]] = (), **kwargs: Any
    ) -> None:
        if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1:
            raise ValueError("max_entries must be a positive int")
        # Checked before the widget exists, so a mistake leaves no half-made widget.
        items: dict[str, dict[str, str]] = {}
        for item in saved:
            checked = saved_item(item.get("name"), item.get("text"), item.get("mode", "text"))
            items[checked["name"]] = checked
        if len(items) > SAVED_MAX:
            raise ValueError(f"at most {SAVED_MAX} saved messages")
        super().__init__(**kwargs)
        self.set_trait("max_entries", max_entries)
        self.saved = list(items.values())
        self._lock = threading.Lock()
        self._flush_armed = False
        self._last_flush = 0.0
        self._closed = False
        self._last_error = ""
        self.on_msg(self._on_front_end)

    # -- the model the front end mirrors ---------------------------------------------
    @property
    def entries(self) -> list[dict[str, Any]]:
        """The log window as the front end has it (flushed entries, oldest first)."""
        with self._lock:
            return list(self._current_window().entries)

    @property
    def dropped(self) -> int:
        """Entries that fell out of the bounded window since the last clear."""
        return self._current_window().dropped

    @property
    def visible(self) -> list[dict[str, Any]]:
        """The entries the message list shows: ``kind_filter`` and ``search`` applied."""
        keep = matcher(self.kind_filter, self.search)
        return [e for e in self.entries if keep(e)]

    @property
    def detail(self) -> dict[str, Any] | None:
        """The selected entry, whole: its fields and, for a message, ``data``.

        ``data`` is the whole message (``str`` or ``bytes``) while it is within the
        kept byte budget (``complete`` True), else the preview the entry kept.
        None when nothing is selected or the entry left the window.
        """
        if self.selected < 0:
            return None
        with self._lock:
            return self._current_window().detail(self.selected)

    @property
    def timeline(self) -> list[dict[str, Any]]:
        """The arrows of the timeline view, oldest first.

        Each is ``{'seq', 'time', 'from', 'to', 'label', 'style', 'pieces'}``;
        ``from``/``to`` is ``'c'`` (client lane), ``'s'`` (server lane) or ``'x'``
        (a mark across both lanes: an error, a lost connection).
        """
        return [
            {
                "seq": e["seq"],
                "time": e["time"],
                "from": f,
                "to": t,
                "label": label,
                "style": style,
                "pieces": pieces,
            }
            for e in self.entries
            for f, t, label, style, pieces in e["flow"]
        ]

    def select(self, index: int | None) -> dict[str, Any] | None:
        """Select the entry at ``index`` of :attr:`visible` (negative counts from
        the end; None clears), as a click in the list does; returns :attr:`detail`.

        Raises:
            IndexError: No such visible entry.
        """
        if index is None:
            self.selected = -1
            return None
        shown = self.visible
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"select() takes an int index, not {type(index).__name__}")
        if not -len(shown) <= index < len(shown):
            raise IndexError(f"no entry {index}: the list shows {len(shown)}")
        self.selected = shown[index]["seq"]
        return self.detail

    # -- saved messages ------------------------------------------------------------
    def save_message(self, name: str, text: str, mode: str = "text") -> dict[str, str]:
        """Keep a named message (it replaces one of the same name); returns it.

        Raises:
            ValueError: Bad name, mode or text (see ``panel_model.saved_item``), or
                already :data:`~ohws_jupyter.panel_model.SAVED_MAX` saved messages.
        """
        item = saved_item(name, text, mode)
        others = [s for s in self.saved if s.get("name") != item["name"]]
        if len(others) >= SAVED_MAX:
            raise ValueError(f"at most {SAVED_MAX} saved messages; delete one first")
        replaced = len(others) < len(self.saved)
        if replaced:
            self.saved = [item if s.get("name") == item["name"] else s for s in self.saved]
        else:
            self.saved = [*self.saved, item]
        return item

    def save_entry(self, name: str, seq: int | None = None) -> dict[str, str]:
        """Save the message of entry ``seq`` (default: the selected one) under ``name``.

        Text is kept as text (JSON as JSON), binary as base64.

        Raises:
            ValueError: No such message in the window.
        """
        seq = self.selected if seq is None else seq
        with self._lock:
            found = self._current_window().detail(seq)
        if found is None or found["kind"] != "message":
            raise ValueError("select a message to save first")
        data = found["data"]
        if isinstance(data, bytes):
            return self.save_message(name, base64.b64encode(data).decode("ascii"), "base64")
        return self.save_message(name, data, "json" if found["type"] == "json" else "text")

    def delete_saved(self, name: str) -> None:
        """Forget the saved message ``name`` (nothing happens if there is none)."""
        self.saved = [s for s in self.saved if s.get("name") != name]

    def saved_message(self, name: str) -> dict[str, str]:
        """The saved message ``name``.

        Raises:
            KeyError: There is none.
        """
        for item in self.saved:
            if item.get("name") == name:
                return item
        raise KeyError(f"no saved message {name!r}")

    # -- for subclasses ------------------------------------------------------------
    def _current_window(self) -> LogWindow:
        raise NotImplementedError

    def _status(self) -> dict[str, Any]:
        raise NotImplementedError

    def _arm(self) -> None:
        """Schedule a flush unless one is due (any thread)."""
        if self._flush_armed or self._closed:
            return
        self._flush_armed = True
        delay = self._last_flush + self.flush_interval - time.monotonic()
        _scheduler.call_later(max(delay, 0.0), self._flush)

    def _flush(self) -> None:
        raise NotImplementedError

    def _send_msg(self, msg: dict[str, Any]) -> None:
        if not self._closed:
            self.send(msg)

    def _local_error(self, err: BusinessError | str) -> None:
        raise NotImplementedError

    # -- front-end messages (kernel shell thread) --------------------------------------
    def _on_front_end(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        kind = content.get("type")
        try:
            if kind == "hello":
                _scheduler.call_soon(self._snapshot, str(content.get("view", "")))
            elif kind == "clear":
                _scheduler.call_soon(self._clear)
            elif kind == "save":
                name = str(content.get("name", ""))
                if "seq" in content:
                    self.save_entry(name, int(content["seq"]))
                else:
                    self.save_message(
                        name, str(content.get("text", "")), str(content.get("mode", "text"))
                    )
            elif kind == "delete_saved":
                self.delete_saved(str(content.get("name", "")))
            else:
                self._on_action(kind, content)
        except (ValueError, KeyError, TypeError) as exc:
            self._local_error(f"not done: {exc}")

    def _on_action(self, kind: Any, content: dict[str, Any]) -> None:
        raise NotImplementedError

    @traitlets.validate("view")
    def _check_view(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in self._views:
            known = ", ".join(map(repr, self._views))
            raise traitlets.TraitError(f"view must be one of {known}, not {proposal['value']!r}")
        return proposal["value"]

    @traitlets.observe("selected")
    def _selected_changed(self, _change: dict[str, Any]) -> None:
        _scheduler.call_soon(self._send_detail)

    @traitlets.observe("paused")
    def _paused_changed(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            # Resuming: views skipped entries while paused; resend the window once.
            _scheduler.call_soon(self._reset)

    # -- the panel thread ------------------------------------------------------------
    def _detail_msg(self) -> dict[str, Any]:
        seq = self.selected
        with self._lock:
            found = self._current_window().detail(seq) if seq >= 0 else None
        msg: dict[str, Any] = {"type": "detail", "seq": seq, "entry": None}
        if found is None:
            return msg
        data = found.pop("data", None)
        msg["entry"] = found
        if isinstance(data, str):
            msg["text"] = data[:DETAIL_LIMIT]
            msg["shown"] = len(msg["text"])
            msg["length"] = len(data)
        elif isinstance(data, bytes):
            msg["b64"] = base64.b64encode(data[:DETAIL_LIMIT]).decode("ascii")
            msg["shown"] = min(len(data), DETAIL_LIMIT)
            msg["length"] = len(data)
        return msg

    def _send_detail(self) -> None:
        self._send_msg(self._detail_msg())

    def _snapshot(self, view: str) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError


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
            _scheduler.call_soon(self._send_msg, {"type": "history", "history": self.history})
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
        _scheduler.call_soon(self._clear)

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
        _scheduler.call_soon(panel.close)


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
