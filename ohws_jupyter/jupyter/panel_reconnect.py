"""The client panel's reconnect countdown (the first of its tools).

While a connection with the ``reconnect`` option waits, ``reconnect_status``
is ``{'state': 'waiting', 'attempt', 'attempts', 'delay', 'at'}`` (``at``:
when the attempt starts, as ``time.time()``), then ``'connecting'``, and
``'gave up'`` or ``'cancelled'`` at the end; :attr:`ReconnectView.reconnect_text`
is the line the panel shows and :meth:`ReconnectView.cancel_reconnect` is its
Cancel button (the public ``ws.close()``). Each wait also goes into the log and
the timeline as a ``'reconnecting'`` entry. The state is read from the public
``reconnector_of(ws)``.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

import traitlets

from ..client.reconnect import reconnector_of
from ..core.errors import BusinessError
from ..core.events import Record
from .panel_base import PanelBase, scheduler
from .panel_model import plural

__all__ = ["ReconnectView", "reconnect_line"]

_CONNECTING, _CLOSED = 0, 3  # ReadyState values, read through the public readyState
# After a connect, close or error record, how long the panel keeps looking at the
# reconnector: a close is followed by the reconnector's decision a moment later.
_FOLLOW = 1.0
_POLL = 0.1


def reconnect_line(status: dict[str, Any], now: float | None = None) -> str:
    """The line the panel shows for ``reconnect_status`` at ``now`` (``time.time()``).

    The front end draws the same line every 100 ms.
    """
    state = status.get("state")
    attempt = status.get("attempt", 0)
    if state == "waiting":
        left = status.get("at", 0.0) - (time.time() if now is None else now)
        if left > 0:
            # Rounded up: the line reads 0.1 s until the attempt starts, never 0.0.
            return f"reconnecting: attempt {attempt} in {-(-round(left * 1000) // 100) / 10:.1f} s"
        return f"reconnecting: attempt {attempt} now"
    if state == "connecting":
        return f"reconnecting: attempt {attempt}, connecting…"
    if state == "gave up":
        return f"reconnecting gave up after {plural(attempt, 'attempt')}"
    if state == "cancelled":
        return "reconnecting cancelled"
    return ""


class ReconnectView(PanelBase):
    """The countdown and Cancel of a reconnecting connection; the base of the tools.

    Subclasses provide ``_ws`` (a weak reference to the WebSocket), :meth:`_take`
    and :meth:`_need_ws`.
    """

    reconnect_status = traitlets.Dict().tag(sync=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rc_lock = threading.Lock()
        self._rc_source: Any = None  # the Reconnector whose history the log follows
        self._rc_seen = 0  # its 'reconnecting' values already in the log
        self._rc_polling = False
        self._rc_until = 0.0  # follow the reconnector until then (time.monotonic())
        self._rc_cancelled = False  # Cancel was pressed since the last connect

    # -- reconnecting ----------------------------------------------------------------------
    @property
    def reconnect_text(self) -> str:
        """What the panel shows of reconnecting now, e.g. ``reconnecting: attempt 2 in 1.3 s``."""
        return reconnect_line(self.reconnect_status)

    def cancel_reconnect(self) -> None:
        """Stop a pending reconnect (the Cancel button): the public ``ws.close()``.

        ``close()`` tells the reconnector the user wants the connection closed;
        on a closed WebSocket its "not open" answer is expected and not shown.
        """
        ws = self._need_ws()
        if ws is None:
            return
        self._rc_cancelled = True

        def done(err: BusinessError | None, _value: Any = None) -> None:
            if err is not None and ws.readyState != _CLOSED:
                self._local_error(err)
            self._follow_reconnect()

        ws.close(done)

    def _follow_reconnect(self) -> None:
        """Look at the reconnector for a while (any thread; after connect, open, close, error)."""
        ws = self._ws()
        if ws is None or (reconnector_of(ws) is None and not self.reconnect_status):
            return  # no reconnecting here: nothing to follow
        with self._rc_lock:
            self._rc_until = time.monotonic() + _FOLLOW
            if self._rc_polling:
                return
            self._rc_polling = True
        scheduler.call_soon(self._poll_reconnect)

    def _log_attempts(self) -> None:
        """Put the reconnector's new ``'reconnecting'`` values in the log (any thread).

        Called before each ``connect`` record too, so the wait comes before its attempt.
        """
        ws = self._ws()
        rec = reconnector_of(ws) if ws is not None else None
        if rec is None:
            return
        with self._rc_lock:
            fresh = rec is not self._rc_source
            if fresh:
                self._rc_source, self._rc_seen = rec, 0
            history = rec.history
            new = history[self._rc_seen :]
            self._rc_seen = len(history)
        if fresh:
            self._listen_to(rec)
        attempts = rec.policy.attempts
        for value in new:
            # 'at' is time.monotonic(): the log's times are time.time().
            when = time.time() - (time.monotonic() - value["at"])
            text = f"attempt {value['attempt']} of {attempts} in {value['delay']:.1f} s"
            self._take(Record(when, "reconnecting", "=", data=text))

    def _skip_old_attempts(self, ws: Any) -> None:
        """Before a new panel replays the history: its older waits are not logged.

        The ``'reconnecting'`` values are not records, so they cannot take their
        places among the replayed ones.
        """
        rec = reconnector_of(ws)
        if rec is not None:
            with self._rc_lock:
                self._rc_source, self._rc_seen = rec, len(rec.history)
            self._listen_to(rec)

    def _listen_to(self, rec: Any) -> None:
        """Hear of each wait as it starts, from the reconnector's ``'reconnecting'`` values.

        Looking at the reconnector only after records could miss a wait shorter
        than a look; this way each one shows. The listener holds the panel weakly
        and does nothing once the panel is closed (a reconnector keeps its listeners).
        """
        me = weakref.ref(self)

        def told(_value: dict[str, Any]) -> None:
            panel = me()
            if panel is not None and not panel._closed:
                panel._follow_reconnect()

        rec.on_reconnecting(told)

    def _show_wait_under_way(self, ws: Any) -> None:
        """After the replay: a wait under way goes into the log, and the countdown starts."""
        rec = reconnector_of(ws)
        if rec is not None and rec.waiting:
            with self._rc_lock:
                if rec is self._rc_source and self._rc_seen == len(rec.history):
                    self._rc_seen -= 1
            self._log_attempts()
        self._follow_reconnect()

    def _poll_reconnect(self) -> None:
        # Panel thread; runs while something is going on, then stops.
        if self._closed:
            self._rc_polling = False
            return
        self._log_attempts()
        before = self.reconnect_status
        status = self._reconnect_state(before)
        if status != before:
            ending = status.get("state") in ("gave up", "cancelled")
            if ending and before.get("state") != status["state"]:
                what = status["state"]
                if what == "gave up":
                    what = f"gave up after {plural(status['attempt'], 'attempt')}"
                self._take(Record(time.time(), "reconnecting", "=", data=what))
            self.reconnect_status = status
        with self._rc_lock:
            busy = status.get("state") in ("waiting", "connecting")
            if not busy and time.monotonic() >= self._rc_until:
                self._rc_polling = False
                return
        scheduler.call_later(_POLL, self._poll_reconnect)

    def _reconnect_state(self, before: dict[str, Any]) -> dict[str, Any]:
        """``reconnect_status`` as the reconnector and the WebSocket are now."""
        ws = self._ws()
        rec = reconnector_of(ws) if ws is not None else None
        if rec is None:
            return {}
        attempts = rec.policy.attempts
        if rec.waiting:
            last = rec.history[-1] if rec.history else {"delay": 0.0, "at": time.monotonic()}
            at = getattr(rec, "next_attempt_at", None)
            if at is None:
                at = time.time() - (time.monotonic() - last["at"]) + last["delay"]
            return {
                "state": "waiting",
                "attempt": rec.attempt,
                "attempts": attempts,
                "delay": last["delay"],
                "at": at,
            }
        if rec.gave_up:
            return {"state": "gave up", "attempt": rec.attempt, "attempts": attempts}
        state = ws.readyState
        was = before.get("state")
        if was in ("waiting", "connecting") and state == _CONNECTING:
            return {"state": "connecting", "attempt": before["attempt"], "attempts": attempts}
        if was in ("waiting", "connecting") and state == _CLOSED:
            cancelled = {"state": "cancelled", "attempt": before["attempt"], "attempts": attempts}
            if self._rc_cancelled:
                return cancelled
            if was == "waiting":
                now = time.time()
                if now < before["at"] - 0.05:
                    return cancelled  # the wait ended before its time: a close() stopped it
                if now < before["at"] + _FOLLOW:
                    return before  # the attempt is starting
            elif time.monotonic() < self._rc_until:
                return before  # the attempt failed: the reconnector decides what next
        if was in ("gave up", "cancelled") and state == _CLOSED:
            return before  # shown until the next connect
        return {}

    def _reconnect_record(self, rec: Record) -> None:
        """Bookkeeping of a connect, open, close or error record (any thread)."""
        if rec.kind == "connect":
            # A cancelled reconnect makes no attempt: this connect is the user's.
            self._rc_cancelled = False
        self._follow_reconnect()

    # -- what the panes show -------------------------------------------------------------------
