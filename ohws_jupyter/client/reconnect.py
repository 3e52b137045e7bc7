"""Reconnect (an extension, off by default): open again after a close nobody asked for.

With the request option ``reconnect`` (``True`` or a
:class:`~ohws_jupyter.core.options.ReconnectPolicy`/dict), or with
:func:`enable_reconnect`, a connection that ends without the user's
``close()`` — the server went away, the network dropped — is opened again
with the same URL and options, after a wait that grows with each failed
attempt (exponential backoff with jitter). Before each wait a
``'reconnecting'`` value ``{'attempt': n, 'delay': seconds}`` is emitted;
``'open'`` fires again when an attempt succeeds, and the count starts over.
A user's ``close()`` (or :func:`cancel`) stops it, as does a connect the user
makes meanwhile, which then counts as the new start.

It is built on ``WebSocket.watch`` and ``connect``, and on :func:`cancel`,
which the client's ``close()`` calls: a ``'close'`` after ``'open'`` that no
``close()`` asked for is unexpected, whether the peer sent a close frame (a
server going away with 1001) or the connection dropped. The waits run on the
timer thread of :mod:`ohws_jupyter.engine.timers`.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ..core.errors import PARAMETER_ERROR, BusinessError
from ..core.events import Record, report_callback_error
from ..core.options import ReconnectPolicy, check_reconnect
from ..engine.timers import Timer, call_later

__all__ = [
    "Reconnector",
    "attach",
    "cancel",
    "disable_reconnect",
    "enable_reconnect",
    "reconnector_of",
]

_CLOSED = 3  # ReadyState.CLOSED, read through the public readyState


class Reconnector:
    """Watches one WebSocket and reconnects it as its policy says.

    Attributes:
        policy: The :class:`ReconnectPolicy` in force.
        attempt: Attempts since the connection last opened.
        history: Every ``'reconnecting'`` value so far, each with ``'at'``
            (``time.monotonic()`` when it was emitted).
        gave_up: True once ``policy.attempts`` attempts failed in a row.
    """

    def __init__(
        self,
        ws: Any,
        policy: ReconnectPolicy,
        emit: Callable[[dict[str, Any]], None] | None = None,
        source: str = "api",
    ) -> None:
        self._ws = weakref.ref(ws)
        self.policy = policy
        self.source = source
        self._emit = emit
        self._listeners: list[Callable[[dict[str, Any]], Any]] = []
        self._lock = threading.Lock()
        self._random = random.Random()
        self._timer: Timer | None = None
        self.attempt = 0
        self.history: list[dict[str, Any]] = []
        self.gave_up = False
        self.next_attempt_at: float | None = None
        self._in_flight = False  # one of our connects is under way
        self._opened = False  # the current connection reached 'open'
        self._user_closing = False  # the user's close() is under way, or done
        self._calling: int | None = None  # the thread inside our ws.connect()
        self._stop = ws.watch(self._observe)

    # -- what the user sees ---------------------------------------------------------
    def on_reconnecting(self, callback: Callable[[dict[str, Any]], Any]) -> None:
        """Also call ``callback(value)`` before each wait (on the timer thread)."""
        if not callable(callback):
            raise BusinessError(PARAMETER_ERROR, "on_reconnecting() needs a callable")
        self._listeners = [*self._listeners, callback]

    @property
    def waiting(self) -> bool:
        """Whether an attempt is scheduled and not yet started."""
        return self._timer is not None

    def cancel(self) -> None:
        """Stop the pending attempt, and do not reconnect after the close under way."""
        with self._lock:
            self._user_closing = True
            self._cancel_timer()

    def disable(self) -> None:
        """Cancel, and stop watching the WebSocket for good."""
        self.cancel()
        self._stop()
        ws = self._ws()
        if ws is not None:
            with _lock:
                if _reconnectors.get(ws) is self:
                    del _reconnectors[ws]

    def __repr__(self) -> str:
        state = "gave up" if self.gave_up else "waiting" if self.waiting else "watching"
        return f"<Reconnector {state}, attempt {self.attempt} of {self.policy.attempts}>"

    # -- the connection's life (I/O thread) ---------------------------------------------
    def _observe(self, rec: Record) -> None:
        kind = rec.kind
        if kind == "connect":
            with self._lock:
                if not self._in_flight:  # the user connected: a fresh start
                    self._cancel_timer()
                    self.attempt = 0
                    self.gave_up = False
                    self._user_closing = False
                self._opened = False
        elif kind == "open":
            with self._lock:
                # _user_closing stays: a close() may have come just before this record.
                self._opened = True
                self._in_flight = False
                self.attempt = 0
                self.gave_up = False
        elif kind == "close":
            with self._lock:
                was_open, self._opened = self._opened, False
                if not was_open and self._in_flight:
                    # Closed before it opened: only close() cancels a handshake.
                    self._user_closing = True
                expected = self._user_closing
            if was_open and not expected:
                self._schedule()

    def _schedule(self) -> None:
        with self._lock:
            if self._user_closing or self._timer is not None:
                return
            if self.attempt >= self.policy.attempts:
                self.gave_up = True
                return
            self.attempt += 1
            delay = self.policy.delay(self.attempt, self._random.uniform)
            value = {"attempt": self.attempt, "delay": delay}
            self.history.append({**value, "at": time.monotonic()})
            self.next_attempt_at = time.time() + delay
            self._timer = call_later(delay, self._try, self.attempt)
        if self._emit is not None:
            try:
                self._emit(dict(value))
            except Exception as exc:
                report_callback_error("the 'reconnecting' emitter", exc)
        if self._listeners:
            call_later(0, self._tell, dict(value))

    def _tell(self, value: dict[str, Any]) -> None:
        for callback in self._listeners:
            try:
                callback(value)
            except Exception as exc:
                report_callback_error(f"on_reconnecting callback {callback!r}", exc)

    def _try(self, attempt: int) -> None:
        # Timer thread.
        with self._lock:
            if self._timer is None or self._user_closing or attempt != self.attempt:
                return
            self._timer = None
            self.next_attempt_at = None
            ws = self._ws()
            if ws is None or ws.readyState != _CLOSED:
                return  # gone, or the user connected meanwhile
            self._in_flight = True
            self._calling = threading.get_ident()
        try:
            promise = ws.connect(ws.url, ws.options)
        finally:
            self._calling = None
        promise.add_callback(self._tried, "a reconnect attempt")

    def _tried(self, err: BaseException | None, ok: Any = None) -> None:
        # On the WebSocket's lane, after 'open' or after the attempt failed.
        with self._lock:
            self._in_flight = False
            # A device resolves connect() once the attempt starts and reports its
            # failure in 'error' alone: resolved without opening is a failure too.
            if self._user_closing or (err is None and self._opened):
                return
        ws = self._ws()
        if ws is not None and ws.readyState == _CLOSED:
            self._schedule()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self.next_attempt_at = None

    def _is_own_connect(self) -> bool:
        return self._calling == threading.get_ident()


_reconnectors: weakref.WeakKeyDictionary[Any, Reconnector] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def reconnector_of(ws: Any) -> Reconnector | None:
    """The :class:`Reconnector` of ``ws``, if reconnecting is on."""
    return _reconnectors.get(ws)


def enable_reconnect(
    ws: Any,
    policy: Any = True,
    *,
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> Reconnector:
    """Reconnect ``ws`` after every close it did not ask for, until disabled.

    Args:
        ws: The WebSocket.
        policy: ``True`` (the defaults), a dict with ``attempts``, ``minDelay``,
            ``maxDelay``, ``factor``, or a :class:`ReconnectPolicy`.
        emit: Called with ``{'attempt', 'delay'}`` before each wait; the client
            passes its ``'reconnecting'`` event here.

    Raises:
        BusinessError: 401 for a malformed policy.
    """
    return _install(ws, policy, emit, "api")


def disable_reconnect(ws: Any) -> None:
    """Stop reconnecting ``ws`` (a pending attempt is cancelled)."""
    rec = _reconnectors.get(ws)
    if rec is not None:
        rec.disable()


def _install(ws: Any, policy: Any, emit: Any, source: str) -> Reconnector:
    checked = check_reconnect(policy)
    if checked is False:
        raise BusinessError(PARAMETER_ERROR, "reconnect policy must be True, a dict or a policy")
    with _lock:
        old = _reconnectors.get(ws)
        if old is not None:
            old.policy, old.source = checked, source
            if emit is not None:
                old._emit = emit
            return old
        rec = _reconnectors[ws] = Reconnector(ws, checked, emit, source)
        return rec


def attach(ws: Any, options: Any, emit: Callable[[dict[str, Any]], None] | None = None) -> None:
    """The client's hook, called by every ``connect(url, options)`` once options are valid.

    A connect made by reconnecting itself is left alone. Otherwise the
    ``reconnect`` option turns reconnecting on (or updates its policy); a
    connect without it turns off what an earlier option turned on, and keeps
    what :func:`enable_reconnect` turned on.
    """
    rec = _reconnectors.get(ws)
    if rec is not None and rec._is_own_connect():
        return
    policy = getattr(options, "reconnect", False)
    if policy:
        _install(ws, policy, emit, "option")
    elif rec is not None and rec.source == "option":
        rec.disable()


def cancel(ws: Any) -> None:
    """The client's hook in ``close()``: the user asked for the close, so do not reconnect."""
    rec = _reconnectors.get(ws)
    if rec is not None:
        with contextlib.suppress(Exception):
            rec.cancel()
