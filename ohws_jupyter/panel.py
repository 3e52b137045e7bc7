"""The live panel: watch and drive one ``WebSocket`` from a notebook widget.

``WebSocketPanel(ws)`` is an anywidget bound to the same object the user drives
from code; it sees everything through the public ``ws.watch()`` hook and acts
only through ``connect``/``send``/``close``.

Data flow, and why it is shaped so:

* The observer runs on the I/O thread for every record, possibly 20,000 times a
  second, so it only appends to a bounded deque and arms a timer.
* The timer flushes at most every :attr:`WebSocketPanel.flush_interval` seconds:
  one custom message with the *new* entries and the counters (append-only; the
  log is never sent again), so the browser gets at most ~10 updates a second.
* The log window is bounded (``max_entries``); what falls out is counted as
  dropped. Each view asks for a snapshot of the window when it renders, which
  is how a second view, or a view after a browser reload, catches up.
* Log entries and sent-message history travel in custom messages only, never
  in traits, so no message content and no header lands in a saved notebook.
  The URL trait is masked (``user:***@``, token query values).

The front end (``static/panel.js``) renders all server text with text nodes,
never as HTML.
"""

from __future__ import annotations

import base64
import binascii
import json
import pathlib
import threading
import time
from collections import deque
from typing import Any

import anywidget
import traitlets

from .client import WebSocket
from .errors import CONNECTION_ERROR, BusinessError
from .events import Record
from .options import mask_url, mask_urls_in
from .runtime import get_runtime

__all__ = ["CLOSE_CODE_TEXT", "WebSocketPanel", "close_code_text", "mask_url", "parse_composer"]

_STATIC = pathlib.Path(__file__).parent / "static"

#: Plain-language meaning of the close codes people meet most.
CLOSE_CODE_TEXT: dict[int, str] = {
    1000: "Normal closure: the purpose of the connection was fulfilled.",
    1001: "Going away: the server is shutting down or the page was left.",
    1002: "Protocol error: a peer broke the WebSocket protocol.",
    1003: "Unsupported data: a peer got a kind of message it cannot accept "
    "(e.g. binary where only text is expected).",
    1005: "No status code: the close frame carried no code.",
    1006: "Abnormal closure: the connection was lost without a close frame "
    "(network drop, crash, or a timeout).",
    1007: "Invalid payload: a message did not match its type (e.g. text that is not UTF-8).",
    1008: "Policy violation: the peer refused a message against its rules "
    "(often authentication or authorization).",
    1009: "Message too big: a message exceeded the size the peer accepts.",
    1010: "Missing extension: the server did not negotiate an extension the client requires.",
    1011: "Internal error: the server hit an unexpected condition.",
    1012: "Service restart: the server is restarting; reconnect later.",
    1013: "Try again later: the server is overloaded.",
    1014: "Bad gateway: a gateway got an invalid response upstream.",
    1015: "TLS handshake failure.",
}

#: Query parameters whose values the panel never shows.
_TEXT_PREVIEW = 4096  # characters kept per log entry; the size field says the rest
_BINARY_PREVIEW = 1024  # bytes shown as hex per log entry
_HISTORY = 20  # sent composer inputs kept for recall
_MODES = ("text", "json", "hex", "base64")


def close_code_text(code: int | None) -> str:
    """Explain a close code in one plain sentence ('' for None)."""
    if code is None:
        return ""
    if code in CLOSE_CODE_TEXT:
        return CLOSE_CODE_TEXT[code]
    if 4000 <= code <= 4999:
        return "Application code (4000-4999): its meaning is defined by this server's application."
    if 3000 <= code <= 3999:
        return "Registered code (3000-3999): defined by a library, framework or application."
    return "Unknown close code."


def parse_composer(text: str, mode: str) -> str | bytes:
    """Turn composer input into the message to send.

    Args:
        text: What the user typed.
        mode: ``'text'`` (sent as is), ``'json'`` (checked, sent compact),
            ``'hex'`` or ``'base64'`` (decoded, sent as binary).

    Raises:
        ValueError: The input does not parse in that mode; the message says why.
    """
    if mode == "text":
        return text
    if mode == "json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from exc
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if mode == "hex":
        digits = "".join(text.split())
        if digits[:2].lower() == "0x":
            digits = digits[2:]
        try:
            return bytes.fromhex(digits)
        except ValueError as exc:
            raise ValueError("not valid hex: use pairs of 0-9/a-f digits, spaces allowed") from exc
    if mode == "base64":
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"not valid base64: {exc}") from exc
    raise ValueError(f"unknown composer mode {mode!r}; use one of {', '.join(_MODES)}")


def _entry(seq: int, rec: Record) -> dict[str, Any]:
    """The JSON-ready log entry of one record (previews only, headers already masked)."""
    out: dict[str, Any] = {"seq": seq, "time": rec.time, "kind": rec.kind, "dir": rec.direction}
    kind = rec.kind
    if kind == "message":
        data = rec.data
        if isinstance(data, str):
            size = len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
            out.update(size=size, binary=False, text=data[:_TEXT_PREVIEW])
            out["truncated"] = len(data) > _TEXT_PREVIEW
        else:
            data = bytes(data)
            out.update(size=len(data), binary=True, text=data[:_BINARY_PREVIEW].hex(" "))
            out["truncated"] = len(data) > _BINARY_PREVIEW
        out["pieces"] = rec.pieces
    elif kind in ("closing", "close"):
        out.update(code=rec.code, reason=rec.reason or "", explain=close_code_text(rec.code))
    elif kind == "error":
        err = rec.error
        out["text"] = mask_urls_in(str(err))
        if isinstance(err, BusinessError):
            out["code"] = err.code
    elif kind == "connect":
        out["text"] = mask_url(rec.data)
    elif kind == "open":
        out["text"] = f"protocol: {rec.data}" if rec.data else ""
    if rec.headers:
        out["headers"] = dict(rec.headers)
    return out


class WebSocketPanel(anywidget.AnyWidget):
    """A live panel for one :class:`~ohws_jupyter.client.WebSocket`.

    Args:
        ws: The WebSocket to watch and drive (the same object code uses).
        max_entries: Log entries kept in view; older ones are counted as dropped.
    """

    _esm = _STATIC / "panel.js"
    _css = _STATIC / "panel.css"

    url = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Unicode("CLOSED").tag(sync=True)
    protocol = traitlets.Unicode("").tag(sync=True)
    max_entries = traitlets.Int(1000, read_only=True).tag(sync=True)
    paused = traitlets.Bool(False).tag(sync=True)
    kind_filter = traitlets.Unicode("all").tag(sync=True)
    search = traitlets.Unicode("").tag(sync=True)

    #: Seconds between two front-end updates, at most (~10 a second).
    flush_interval = 0.1

    def __init__(self, ws: WebSocket, max_entries: int = 1000, **kwargs: Any) -> None:
        if not isinstance(ws, WebSocket):
            raise TypeError(f"WebSocketPanel needs a WebSocket, not {type(ws).__name__}")
        if not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError("max_entries must be a positive int")
        super().__init__(**kwargs)
        self.set_trait("max_entries", max_entries)
        self.ws = ws
        self._lock = threading.Lock()
        # Raw records wait here for the next flush; bounded, so a flood costs
        # at most max_entries records of memory between two flushes.
        self._pending: deque[tuple[int, Record]] = deque(maxlen=max_entries)
        self._window: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._history: deque[dict[str, str]] = deque(maxlen=_HISTORY)
        self._seq = 0
        self._dropped = 0
        self._flush_armed = False
        self._last_flush = 0.0
        self._last_error = ""
        self._real_url = ws.url or ""
        self._sync_traits()
        self.on_msg(self._on_front_end)
        self._stop_watch = ws.watch(self._observe)

    # -- public view of the model -----------------------------------------------
    @property
    def entries(self) -> list[dict[str, Any]]:
        """The log window as the front end shows it (flushed entries, oldest first)."""
        with self._lock:
            return list(self._window)

    @property
    def dropped(self) -> int:
        """Entries that fell out of the bounded window since the last clear."""
        return self._dropped

    @property
    def history(self) -> list[dict[str, str]]:
        """Recently sent composer inputs (``{'mode', 'text'}``), newest last."""
        return list(self._history)

    @property
    def counters(self) -> dict[str, Any]:
        """Message and byte counts, connection times and the last error."""
        s = self.ws.stats
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

    # -- actions (also what the buttons do) -----------------------------------------
    def connect(self, url: str | None = None) -> None:
        """Connect ``ws`` to ``url`` (default: the URL field), reusing its last options."""
        target = self.url if url is None else url
        if target == mask_url(self._real_url) and self._real_url:
            target = self._real_url  # the field shows the masked form of the real URL
        args: list[Any] = [target]
        if self.ws.options is not None and target == self.ws.url:
            args.append(self.ws.options)

        def done(err: BusinessError | None, _value: Any = None) -> None:
            # A failed attempt already logged its 'error' record; log only the
            # refusals that never reach the network (bad URL, already open, ...).
            if err is not None and not (
                err.code == CONNECTION_ERROR and self.ws.stats.lastError is err
            ):
                self._local_error(err)

        self.ws.connect(*args, done)

    def send_input(self, text: str, mode: str = "text") -> None:
        """Send composer input (see :func:`parse_composer`); mistakes go to the log."""
        try:
            data = parse_composer(text, mode)
        except ValueError as exc:
            self._local_error(f"not sent: {exc}")
            return
        item = {"mode": mode, "text": text}
        if not self._history or self._history[-1] != item:
            self._history.append(item)
            get_runtime().call_soon(self._send_msg, {"type": "history", "history": self.history})
        self.ws.send(data, self._report)

    def close_connection(self, code: int | str | None = None, reason: str = "") -> None:
        """Close ``ws`` with ``code`` (default 1000) and ``reason``."""
        try:
            number = 1000 if code in (None, "") else int(code)
        except (TypeError, ValueError):
            self._local_error(f"not closed: close code {code!r} is not a number")
            return
        self.ws.close({"code": number, "reason": reason or ""}, self._report)

    def clear(self) -> None:
        """Empty the log window and the dropped count (counters stay)."""
        get_runtime().call_soon(self._clear)

    def close(self) -> None:
        """Stop watching the WebSocket and close the widget (the connection stays)."""
        stop = getattr(self, "_stop_watch", None)  # None if __init__ refused its arguments
        if stop is not None:
            stop()
        super().close()

    # -- front-end messages (kernel shell thread) --------------------------------
    def _on_front_end(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        kind = content.get("type")
        if kind == "hello":
            get_runtime().call_soon(self._snapshot, str(content.get("view", "")))
        elif kind == "connect":
            self.connect(str(content.get("url", "")))
        elif kind == "send":
            self.send_input(str(content.get("text", "")), str(content.get("mode", "text")))
        elif kind == "close":
            self.close_connection(content.get("code"), str(content.get("reason", "")))
        elif kind == "clear":
            self.clear()

    @traitlets.observe("paused")
    def _paused_changed(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            # Resuming: views skipped entries while paused; resend the window once.
            get_runtime().call_soon(self._reset)

    def _report(self, err: BusinessError | None, _value: Any = None) -> None:
        if err is not None:
            self._local_error(err)

    def _local_error(self, err: BusinessError | str) -> None:
        get_runtime().call_soon(self._observe, Record(time.time(), "error", "=", error=err))

    # -- the I/O thread ------------------------------------------------------------
    def _observe(self, rec: Record) -> None:
        # Called for every record: keep it to an append and a flag check.
        self._seq += 1
        pending = self._pending
        if len(pending) == pending.maxlen:
            self._dropped += 1
        pending.append((self._seq, rec))
        if rec.kind == "error":
            self._last_error = mask_urls_in(str(rec.error))
        if not self._flush_armed:
            self._flush_armed = True
            delay = self._last_flush + self.flush_interval - time.monotonic()
            loop = get_runtime().loop
            assert loop is not None
            loop.call_later(max(delay, 0.0), self._flush)

    def _take_pending(self) -> list[dict[str, Any]]:
        batch = [_entry(seq, rec) for seq, rec in self._pending]
        self._pending.clear()
        with self._lock:
            window = self._window
            overflow = len(window) + len(batch) - window.maxlen
            if overflow > 0:
                self._dropped += min(overflow, len(window))
            window.extend(batch)
        return batch

    def _flush(self) -> None:
        self._flush_armed = False
        self._last_flush = time.monotonic()
        batch = self._take_pending()
        self._sync_traits()
        self._send_msg(
            {
                "type": "batch",
                "entries": [] if self.paused else batch,
                **self._status(),
            }
        )

    def _status(self) -> dict[str, Any]:
        return {"seq": self._seq, "dropped": self._dropped, "counters": self.counters}

    def _sync_traits(self) -> None:
        ws = self.ws
        values = {"state": ws.state.name, "protocol": ws.protocol}
        if ws.url and (ws.url != self._real_url or not self.url):
            # Only a new connection target overwrites the field, never user typing.
            self._real_url = ws.url
            values["url"] = mask_url(ws.url)
        changed = {k: v for k, v in values.items() if getattr(self, k) != v}
        if changed:
            with self.hold_sync():  # one comm message for all changed traits
                for name, value in changed.items():
                    setattr(self, name, value)

    def _snapshot(self, view: str) -> None:
        # Flush first so the snapshot covers every record numbered up to seq.
        self._take_pending()
        self._send_msg(
            {"type": "snapshot", "view": view, "entries": self.entries, "history": self.history}
            | self._status()
        )

    def _reset(self) -> None:
        self._take_pending()
        self._send_msg({"type": "reset", "entries": self.entries} | self._status())

    def _clear(self) -> None:
        self._take_pending()
        with self._lock:
            self._window.clear()
            self._dropped = 0
        self._send_msg({"type": "reset", "entries": []} | self._status())

    def _send_msg(self, msg: dict[str, Any]) -> None:
        self.send(msg)
