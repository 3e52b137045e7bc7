"""The client panel's tools: reconnect countdown, copy as code, transcripts, replay, expect.

Each button of the panel's tool bar is a method of :class:`ClientTools` that
calls the public API — ``reconnector_of``, ``ws.close()``, ``copy_as_code``,
``ws.transcript()``, ``replay`` and ``ws.expect`` — and keeps what the front
end shows in the model, so a reload shows it again and tests (or keyboard
users) drive the buttons from code. The tools' settings and states are synced
traits; what carries message data (the exported code, the replay's rows, the
matching message) travels like the log, in messages to the front end and in
each view's snapshot, so the widget state a saved notebook keeps has none of it:

* reconnecting: ``reconnect_status`` is ``{'state': 'waiting', 'attempt',
  'attempts', 'delay', 'at'}`` while a connection with the ``reconnect`` option
  waits (``at``: when the attempt starts, as ``time.time()``), then
  ``'connecting'``, and ``'gave up'`` or ``'cancelled'`` at the end;
  :attr:`~ClientTools.reconnect_text` is the line the panel shows and
  :meth:`~ClientTools.cancel_reconnect` is its Cancel button. Each wait also
  goes into the log and the timeline as a ``'reconnecting'`` entry.
* :meth:`~ClientTools.export` (Export): ``export_format``; :attr:`~ClientTools.export_text`.
* :meth:`~ClientTools.save_transcript` (Save transcript): ``transcript_format``,
  ``transcript_file``; the button's browser view downloads the file.
* :meth:`~ClientTools.replay` (Replay): ``replay_url``, ``replay_timing``;
  :attr:`~ClientTools.replay_result` with its ✓/✗ rows.
* :meth:`~ClientTools.expect` (Expect): ``expect_text``, ``expect_kind``,
  ``expect_timeout``; :attr:`~ClientTools.expect_result`, ✓ or ✗.

``tool`` is the tool whose pane is open (``''`` for none). Server text reaches
the front end as plain strings; ``static/panel.js`` shows them as text only.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import traitlets

from ..core.errors import PARAMETER_ERROR, BusinessError
from ..core.events import Record
from ..core.masking import mask_url
from ..engine.promise import Promise
from ..record import ReplayReport, copy_as_code, replay
from ..record.expect import describe, parse_match
from ..record.export import FORMATS
from ..record.replay import TIMINGS
from .panel_base import scheduler
from .panel_reconnect import ReconnectView

if TYPE_CHECKING:
    from ..client.websocket import WebSocket

__all__ = [
    "EXPECT_KINDS",
    "TOOLS",
    "TRANSCRIPT_FORMATS",
    "ClientTools",
]

#: The tool panes, by the ``tool`` trait's value.
TOOLS = ("", "export", "transcript", "replay", "expect")
#: How the Expect field is read: a regular expression, or a JSON object the message contains.
EXPECT_KINDS = ("regex", "json")
#: Save transcript's formats, with the file suffix and type of each.
TRANSCRIPT_FORMATS = {
    "jsonl": ("jsonl", "application/x-ndjson"),
    "har": ("har", "application/json"),
}
#: Rows of a replay the front end gets; past this only the differing rows are kept.
REPLAY_ROWS = 500
_CELL = 200  # characters of a message shown in a replay cell or an expect result
_SHOWN = 4000


def _shown(data: Any, limit: int = _SHOWN) -> str:
    """A message as the panel shows it: text as is, binary as hex; cut at ``limit``."""
    if isinstance(data, str):
        return data if len(data) <= limit else data[:limit] + "…"
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        head = raw[: limit // 3].hex(" ")
        more = " …" if len(raw) > limit // 3 else ""
        return f"{head}{more} ({len(raw)} bytes)"
    if data is None:
        return "—"
    return str(data)  # an open or a close of a replay row


def _cells(report: ReplayReport) -> tuple[list[dict[str, Any]], int]:
    """The rows of a replay for the front end, and how many were left out."""
    rows = report.rows
    if len(rows) > REPLAY_ROWS:
        rows = report.differences[:REPLAY_ROWS]
    out = [
        {
            "step": r.step,
            "dir": r.direction,
            "recorded": _shown(r.recorded, _CELL),
            "replayed": _shown(r.replayed, _CELL),
            "ok": r.ok,
            "note": r.note,
        }
        for r in rows
    ]
    return out, len(report.rows) - len(out)


def _expect_match(text: Any, kind: str) -> Any:
    """The match of the Expect field: ``text`` read as ``kind`` says (:func:`parse_match`).

    Anything but a ``str`` (a dict, a compiled pattern, a callable) is passed
    on to ``ws.expect`` as it is.
    """
    if not isinstance(text, str):
        return text
    if kind not in EXPECT_KINDS:
        raise BusinessError(PARAMETER_ERROR, f"expect kind must be 'regex' or 'json', not {kind!r}")
    return parse_match(text, kind)


def _seconds(value: Any, what: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not 0 < seconds < float("inf"):
        raise BusinessError(PARAMETER_ERROR, f"{what} must be more than 0 seconds, not {value!r}")
    return seconds


class ClientTools(ReconnectView):
    """The tool bar of :class:`~ohws_jupyter.jupyter.panel.WebSocketPanel` (module docstring).

    Subclasses provide ``_ws`` (a weak reference to the WebSocket), ``_real_url``,
    :meth:`_take` and :meth:`_need_ws`.
    """

    tool = traitlets.Unicode("").tag(sync=True)
    export_format = traitlets.Unicode("js").tag(sync=True)
    transcript_format = traitlets.Unicode("jsonl").tag(sync=True)
    transcript_file = traitlets.Dict().tag(sync=True)
    replay_url = traitlets.Unicode("").tag(sync=True)
    replay_timing = traitlets.Unicode("fast").tag(sync=True)
    expect_text = traitlets.Unicode("").tag(sync=True)
    expect_kind = traitlets.Unicode("regex").tag(sync=True)
    expect_timeout = traitlets.Float(5.0).tag(sync=True)

    _ws: Callable[[], WebSocket | None]
    _real_url: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runs = itertools.count(1)  # tells a superseded expect or replay from the current
        self._expect_run = 0
        self._replay_run = 0
        self._replay_target = ""  # the last URL replayed against, unmasked
        # What the Export, Replay and Expect panes show (see tool_results).
        self._results: dict[str, dict[str, Any]] = {"export": {}, "replay": {}, "expect": {}}

    @property
    def export_text(self) -> str:
        """The code the Export pane shows ('' before the first export)."""
        return str(self._results["export"].get("text", ""))

    @property
    def replay_result(self) -> dict[str, Any]:
        """What the Replay pane shows: ``{}``; ``{'state': 'running', 'url'}``;
        ``{'state': 'done', 'url', 'ok', 'summary', 'rows', 'leftOut', 'notes'}``
        (each row ``{'step', 'dir', 'recorded', 'replayed', 'ok', 'note'}``); or
        ``{'state': 'error', 'message'}``."""
        return dict(self._results["replay"])

    @property
    def expect_result(self) -> dict[str, Any]:
        """What the Expect pane shows: ``{}``; ``{'state': 'waiting', 'what', 'timeout'}``;
        ``{'state': 'ok', 'what', 'message', 'binary', 'took'}``; ``{'state':
        'failed', 'what', 'message'}`` (the "expected …, last received …" text); or
        ``{'state': 'error', 'message'}`` (bad input)."""
        return dict(self._results["expect"])

    def tool_results(self) -> dict[str, dict[str, Any]]:
        """What the Export, Replay and Expect panes show, for a view's snapshot."""
        return {name: dict(value) for name, value in self._results.items()}

    def _publish(self, name: str, value: dict[str, Any]) -> None:
        """Keep a pane's content and send it to the front end (any thread)."""
        self._results[name] = value
        scheduler.call_soon(self._send_msg, {"type": "tool", "name": name, "value": value})

    # -- Export ------------------------------------------------------------------------------
    def export(self, fmt: str | None = None) -> str:
        """The connection and its sent messages as code (the Export button).

        Args:
            fmt: ``'js'``, ``'python'``, ``'wscat'``, ``'websocat'`` or ``'arkts'``
                (default: ``export_format``).

        Returns:
            The code, also in :attr:`export_text`. Credentials stay ``***``, flagged
            in a comment for filling in.

        Raises:
            BusinessError: 401 for an unknown format.
        """
        fmt = self.export_format if fmt is None else fmt
        code = str(copy_as_code(self._live_ws(), fmt))  # a 401 for an unknown format
        self.export_format = fmt
        self._publish("export", {"format": fmt, "text": code})
        return code

    # -- Save transcript -------------------------------------------------------------------
    def save_transcript(self, fmt: str | None = None) -> str:
        """The connection's transcript as a file's text (the Save transcript button).

        To write a file from code, ``ws.transcript().save(path)`` does it directly.

        Args:
            fmt: ``'jsonl'`` or ``'har'`` (default: ``transcript_format``).

        Returns:
            The file's text, credentials masked (``ws.transcript()``). The button
            downloads it in the browser; ``transcript_file`` says what was made.

        Raises:
            BusinessError: 401 for an unknown format.
        """
        fmt = self.transcript_format if fmt is None else fmt
        if fmt not in TRANSCRIPT_FORMATS:
            raise BusinessError(
                PARAMETER_ERROR, f"cannot save a transcript as {fmt!r}; use 'jsonl' or 'har'"
            )
        record = self._live_ws().transcript()
        if fmt == "har":
            text = json.dumps(record.to_har(), ensure_ascii=False, indent=1) + "\n"
        else:
            text = record.to_jsonl()
        suffix, mime = TRANSCRIPT_FORMATS[fmt]
        name = time.strftime(f"websocket-%Y%m%d-%H%M%S.{suffix}")
        with self.hold_sync():
            self.transcript_format = fmt
            self.transcript_file = {
                "name": name,
                "format": fmt,
                "mime": mime,
                "size": len(text.encode("utf-8")),
                "records": len(record),
                "messages": len(record.messages),
            }
        return text

    # -- Replay ---------------------------------------------------------------------------------
    def replay(
        self, to: str | None = None, timing: str | None = None, timeout: float = 5.0
    ) -> Promise[ReplayReport]:
        """Replay this connection's transcript against ``to`` (the Replay button).

        Args:
            to: The URL (default: ``replay_url``, else the connection's own; its
                masked form as the field shows it means the real one).
            timing: ``'fast'`` or ``'recorded'`` (default: ``replay_timing``).
            timeout: Seconds to wait for each recorded reply.

        Returns:
            The promise of ``replay``'s report; :attr:`replay_result` shows its
            ✓/✗ rows (``running`` until then, ``error`` if it cannot run).
        """
        target = (self.replay_url if to is None else to).strip()
        real = self._real_url
        # The field shows URLs masked: its masked text stands for the real URL.
        if not target or (real and target == mask_url(real)):
            target = real
        elif self._replay_target and target == mask_url(self._replay_target):
            target = self._replay_target
        self._replay_target = target
        timing = self.replay_timing if timing is None else timing
        run = self._replay_run = next(self._runs)
        with self.hold_sync():
            self.replay_url = "" if target == real else mask_url(target)
            if timing in TIMINGS:
                self.replay_timing = timing
        self._publish("replay", {"state": "running", "url": mask_url(target), "timing": timing})
        try:
            if not target:
                raise BusinessError(PARAMETER_ERROR, "type the URL to replay against")
            job = replay(self._live_ws().transcript(), target, timing=timing, timeout=timeout)
        except BusinessError as err:
            job = Promise.rejected(err, "replay")

        def done(err: BaseException | None, report: ReplayReport | None = None) -> None:
            if run != self._replay_run:
                return  # a newer replay shows instead
            result: dict[str, Any]
            if err is not None or report is None:
                result = {"state": "error", "url": mask_url(target), "message": str(err)}
            else:
                rows, left_out = _cells(report)
                result = {
                    "state": "done",
                    "url": report.url,
                    "timing": timing,
                    "ok": report.ok,
                    "summary": report.summary(),
                    "rows": rows,
                    "leftOut": left_out,
                    "notes": list(report.notes),
                }
            self._publish("replay", result)

        job.add_callback(done, "the panel's replay")
        return job

    # -- Expect ---------------------------------------------------------------------------------
    def expect(
        self, match: Any = None, kind: str | None = None, timeout: float | None = None
    ) -> Promise[Any]:
        """Wait for the next received message that matches (the Expect button).

        Args:
            match: A regular expression or a JSON object as text, read as ``kind``
                says (default: ``expect_text``); or anything ``ws.expect`` takes
                (a dict, a compiled pattern, a callable).
            kind: ``'regex'`` or ``'json'`` (default: ``expect_kind``).
            timeout: Seconds to wait (default: ``expect_timeout``).

        Returns:
            The promise of ``ws.expect``. :attr:`expect_result` shows ``waiting``, then
            ✓ ``ok`` with the message, or ✗ ``failed`` with "expected …, last
            received …"; a 401 for bad input shows as ``error``.
        """
        run = self._expect_run = next(self._runs)
        text = self.expect_text if match is None else match
        kind = self.expect_kind if kind is None else kind
        # The fields keep what was typed, also when it cannot be a match.
        with self.hold_sync():
            if isinstance(text, str):
                self.expect_text = text
            if kind in EXPECT_KINDS:
                self.expect_kind = kind
        try:
            seconds = _seconds(self.expect_timeout if timeout is None else timeout, "timeout")
            test = _expect_match(text, kind)
            ws = self._live_ws()
        except BusinessError as err:
            self._publish("expect", {"state": "error", "message": str(err)})
            return Promise.rejected(err, "expect")
        what = describe(test)
        self.expect_timeout = seconds
        self._publish("expect", {"state": "waiting", "what": what, "timeout": seconds})
        started = time.monotonic()
        promise = ws.expect(test, seconds)

        def done(err: BaseException | None, message: Any = None) -> None:
            if run != self._expect_run:
                return
            if err is None:
                result = {
                    "state": "ok",
                    "what": what,
                    "message": _shown(message),
                    "binary": not isinstance(message, str),
                    "took": round(time.monotonic() - started, 3),
                }
            else:
                # An ExpectationError (no match in time) is an AssertionError too.
                state = "failed" if isinstance(err, AssertionError) else "error"
                result = {"state": state, "what": what, "message": str(err)}
            self._publish("expect", result)

        promise.add_callback(done, "the panel's expect")
        return promise

    # -- plumbing ------------------------------------------------------------------------------
    def _live_ws(self) -> WebSocket:
        """The panel's WebSocket; a 401 once it was collected."""
        ws = self._ws()
        if ws is None:
            raise BusinessError(PARAMETER_ERROR, "the WebSocket of this panel no longer exists")
        return ws

    def _on_tool(self, kind: Any, content: dict[str, Any]) -> bool:
        """A tool button's message from the front end; False if it is none of them.

        Mistakes show in the tool's own pane, not as the panel's last error.
        """
        if kind == "cancel_reconnect":
            self.cancel_reconnect()
        elif kind == "export":
            try:
                self.export(str(content.get("format", self.export_format)))
            except BusinessError as err:
                self._publish("export", {"format": self.export_format, "error": str(err)})
        elif kind == "save_transcript":
            try:
                text = self.save_transcript(str(content.get("format", self.transcript_format)))
            except BusinessError as err:
                self.transcript_file = {"error": str(err)}
            else:
                file = self.transcript_file
                download = {"type": "download", "view": content.get("view"), "text": text}
                scheduler.call_soon(self._send_msg, download | file)
        elif kind == "replay":
            self.replay(
                str(content.get("url", "")),
                str(content.get("timing", self.replay_timing)),
            )
        elif kind == "expect":
            self.expect(
                str(content.get("text", "")),
                str(content.get("kind", self.expect_kind)),
                content.get("timeout", self.expect_timeout),
            )
        else:
            return False
        return True

    @traitlets.validate("tool")
    def _check_tool(self, proposal: dict[str, Any]) -> str:
        return _one_of(proposal["value"], TOOLS, "tool")

    @traitlets.validate("export_format")
    def _check_export_format(self, proposal: dict[str, Any]) -> str:
        return _one_of(proposal["value"], tuple(FORMATS), "export_format")

    @traitlets.validate("transcript_format")
    def _check_transcript_format(self, proposal: dict[str, Any]) -> str:
        return _one_of(proposal["value"], tuple(TRANSCRIPT_FORMATS), "transcript_format")

    @traitlets.validate("replay_timing")
    def _check_replay_timing(self, proposal: dict[str, Any]) -> str:
        return _one_of(proposal["value"], TIMINGS, "replay_timing")

    @traitlets.validate("expect_kind")
    def _check_expect_kind(self, proposal: dict[str, Any]) -> str:
        return _one_of(proposal["value"], EXPECT_KINDS, "expect_kind")

    # -- for the subclass ----------------------------------------------------------------------
    def _take(self, rec: Record) -> None:
        raise NotImplementedError

    def _need_ws(self) -> WebSocket | None:
        raise NotImplementedError


def _one_of(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        known = ", ".join(map(repr, allowed))
        raise traitlets.TraitError(f"{name} must be one of {known}, not {value!r}")
    return value
