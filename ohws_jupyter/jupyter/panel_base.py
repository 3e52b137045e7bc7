"""What both panels share: the widget, its log window, batching, the list and its detail.

:class:`PanelBase` is the anywidget both :class:`~ohws_jupyter.jupyter.panel.WebSocketPanel`
and :class:`~ohws_jupyter.jupyter.server_panel.WebSocketServerPanel` are made of, with
one front end (``static/panel.js``, which draws the right panel for
``panel_kind``).

Data flow, and why it is shaped so:

* Records may come 20,000 times a second from the engine's threads, so taking
  one is an append to a bounded queue and a flag check that arms a flush.
* Flushes, and every other message to the front end, run on one panel thread
  (:class:`Scheduler`), at most every :attr:`PanelBase.flush_interval` seconds:
  one custom message with the *new* entries and the counters (append-only; the
  log is never sent again), so the browser gets at most ~10 updates a second;
  and they do not depend on the engine's threads.
* The log window is bounded (``max_entries``); what falls out is counted as
  dropped. Each view asks for a snapshot when it renders, which is how a second
  view, or a view after a browser reload, catches up. A whole message is sent
  only when it is selected, for the detail pane.
* Log entries and headers travel in custom messages only, never in traits, so
  none lands in a saved notebook. The saved messages (``saved``) are in the
  state on purpose: they are there to travel with the notebook.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import logging
import os
import pathlib
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import anywidget
import traitlets

from ..core.errors import BusinessError
from ..engine.runtime import IN_BROWSER
from ..engine.timers import Timer, call_later
from .panel_model import SAVED_MAX, LogWindow, saved_item

__all__ = [
    "DETAIL_LIMIT",
    "FILTERS",
    "PanelBase",
    "Scheduler",
    "entry_text",
    "matcher",
    "scheduler",
]

logger = logging.getLogger("ohws_jupyter.panel")

_STATIC = pathlib.Path(__file__).parent / "static"
#: Most of a message the detail pane receives (characters, or bytes of binary).
DETAIL_LIMIT = 1024 * 1024

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
    found: Callable[[str], object]
    try:
        found = re.compile(search, re.IGNORECASE).search
    except re.error:
        needle = search.lower()

        def contains(hay: str) -> bool:
            return needle in hay.lower()

        found = contains

    return lambda e: keep(e) and bool(found(f"{e['kind']} {entry_text(e)} {e.get('explain', '')}"))


class Scheduler:
    """One daemon thread that runs every panel's flushes and front-end messages.

    All messages a panel sends go through it, so they reach the browser in the
    order they were made, from one thread, whichever thread the records came
    from; nothing here depends on the connection engine's threads.

    In a browser (Pyodide), which has no threads, the page's loop runs them
    instead, from the same queue: one loop timer, armed for the earliest.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._pid = -1
        self._page_timer: tuple[float, Timer] | None = None  # in a browser: (when, timer)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the panel thread after ``delay`` seconds."""
        with self._cond:
            if IN_BROWSER:
                heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), fn, args))
                self._arm_in_page()
                return
            if self._pid != os.getpid():  # first use, or a forked child
                self._pid = os.getpid()
                self._heap = []
                threading.Thread(target=self._run, name="ohws-panel", daemon=True).start()
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), fn, args))
            self._cond.notify()

    def _arm_in_page(self) -> None:
        # Called with the lock held: one timer of the page's loop, for the earliest call.
        if not self._heap:
            return
        when = self._heap[0][0]
        if self._page_timer is not None:
            if self._page_timer[0] <= when:
                return
            self._page_timer[1].cancel()
        self._page_timer = (when, call_later(when - time.monotonic(), self._run_in_page))

    def _run_in_page(self) -> None:
        heap = self._heap
        with self._cond:
            self._page_timer = None
            now = time.monotonic()
            due = []
            while heap and heap[0][0] <= now:
                due.append(heapq.heappop(heap))
        for _, _, fn, args in due:
            try:
                fn(*args)
            except Exception:
                logger.exception("internal error in the panel (%r)", fn)
        with self._cond:
            self._arm_in_page()  # what is not due yet, and what the calls above added

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


scheduler = Scheduler()


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
    _views: tuple[str, ...] = ("messages",)

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
        self._arm_lock = threading.Lock()
        self._last_flush = 0.0
        self._traits_went_last = False
        self._closed = False
        self._last_error = ""
        self.on_msg(self._on_front_end)

    # -- the model the front end mirrors ---------------------------------------------
    @property
    def entries(self) -> list[dict[str, Any]]:
        """The log window, oldest first: every record observed before this call."""
        self._catch_up()
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
        """The arrows of the timeline view, oldest first: of :attr:`visible`, as the view
        draws them (``kind_filter`` and ``search`` apply to it too).

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
            for e in self.visible
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
                already :data:`~ohws_jupyter.jupyter.panel_model.SAVED_MAX` saved messages.
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

    def _catch_up(self) -> None:
        """Bring records still waiting for the next flush into the window (any thread)."""

    def _status(self) -> dict[str, Any]:
        raise NotImplementedError

    def _arm(self) -> None:
        """Schedule a refresh unless one is due (any thread)."""
        if self._flush_armed or self._closed:
            return
        with self._arm_lock:  # taken about once a refresh: the flag is rarely clear
            if self._flush_armed:
                return
            self._flush_armed = True
            delay = self._last_flush + self.flush_interval - time.monotonic()
        scheduler.call_later(max(delay, 0.0), self._flush)

    def _flush(self) -> None:
        """One refresh (panel thread): at most one widget message.

        Changed traits (state, URL) are one message and the batch of new
        entries and counters another, so a refresh that has both sends the
        traits and leaves the batch to the next refresh (and the other way
        round next time): under any flood the front end gets at most one
        message per ``flush_interval``.
        """
        with self._arm_lock:
            # The time first: a record arriving now arms the next refresh
            # flush_interval after this one, never at once.
            self._last_flush = time.monotonic()
            self._flush_armed = False
        if self._traits_went_last:
            self._traits_went_last = False
            if self._trait_changes():
                self._arm()  # their turn comes again at the next refresh
        elif self._sync_traits():
            self._traits_went_last = True
            self._arm()  # the batch goes at the next refresh
            return
        self._send_batch()

    def _send_batch(self) -> None:
        """Send the new entries, counters and whatever else changed (panel thread)."""
        raise NotImplementedError

    def _trait_changes(self) -> dict[str, Any]:
        """Synced traits whose value should change: name -> new value."""
        raise NotImplementedError

    def _sync_traits(self) -> bool:
        """Set the changed traits in one widget message; whether there was one."""
        changed = self._trait_changes()
        if not changed or self._closed:
            return False
        with self.hold_sync():  # one comm message for all changed traits
            for name, value in changed.items():
                setattr(self, name, value)
        return True

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
                scheduler.call_soon(self._snapshot, str(content.get("view", "")))
            elif kind == "clear":
                scheduler.call_soon(self._clear)
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
        view: str = proposal["value"]  # a Unicode trait's proposal
        return view

    @traitlets.observe("selected")
    def _selected_changed(self, _change: dict[str, Any]) -> None:
        scheduler.call_soon(self._send_detail)

    @traitlets.observe("paused")
    def _paused_changed(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            # Resuming: views skipped entries while paused; resend the window once.
            scheduler.call_soon(self._reset)

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
