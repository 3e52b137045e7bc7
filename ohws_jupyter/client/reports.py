"""What a session reports to its WebSocket, the same way for every transport.

``ClientSession`` (sockets) and ``BrowserSession`` (the browser's ``WebSocket``)
both derive from :class:`SessionReports`: events go to the object's lane,
records to its history, and the end of a connection (or of an attempt that
never opened) is reported in one order: state, ``'error'`` if any, then
``'close'``, then the ``close()`` promises.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..core.device import CONNECT_FAILED_TEXT
from ..core.errors import SEND_FAILED, UNKNOWN_ERROR, BusinessError
from ..core.events import Record
from ..core.options import CloseResult
from .state import ReadyState

if TYPE_CHECKING:
    from ..engine.promise import Promise
    from ..engine.runtime import Lane
    from .state import Stats
    from .websocket import SessionLink, WebSocket

__all__ = ["SessionReports"]


class SessionReports:
    """The reporting half of a session; the subclass sets the attributes below."""

    link: SessionLink
    lane: Lane
    stats: Stats
    connect_promise: Promise[bool]
    close_waiters: list[Promise[bool]]
    keep_alive: WebSocket | None
    ended: bool
    #: The WebSocket follows the device profile.
    device: bool = False

    def _emit(self, event: str, args: tuple[Any, ...]) -> None:
        events = self.link.events()
        if events is not None and events.has(event):
            self.lane.call(events.emit, event, args)

    def _observe(self, kind: str, direction: str, **fields: Any) -> None:
        self.link.record(Record(time.time(), kind, direction, **fields))

    def _set_state(self, state: ReadyState) -> None:
        self.link.state(self, state)

    def _report_end(self, result: CloseResult, err: BusinessError | None) -> None:
        """The connection is over: CLOSED, then ``'error'`` (if any) and ``'close'``."""
        self.ended = True
        stats = self.stats
        stats.closedAt = time.time()
        stats.lastClose = result
        self._set_state(ReadyState.CLOSED)
        if err is not None:
            self.link.context.localize(err)  # worded once, for the history and 'error' alike
            stats.lastError = err
            self._observe("error", "=", error=err)
            self._emit("error", (err,))
        self._observe("close", "=", code=result.code, reason=result.reason)
        self._emit("close", (None, result))
        self._resolve_closers()

    def _end_before_open(self, err: BusinessError | None) -> None:
        """The attempt ended before ``'open'``: ``err``, or None when ``close()`` cancelled it."""
        if self.ended:
            return
        self.ended = True
        self._abandon_attempt()
        self._set_state(ReadyState.CLOSED)
        if err is None:
            err = BusinessError(
                UNKNOWN_ERROR, "connect() was cancelled by close() before it opened"
            )
            result = CloseResult(1006, "closed before the connection opened")
            self.stats.lastClose = result
            self._observe("close", "=", code=result.code, reason=result.reason)
            self._emit("close", (None, result))
        else:
            self.link.context.localize(err)
            self.stats.lastError = err
            self._observe("error", "=", error=err)
            self._emit("error", (err,))
        self.connect_promise.reject(err)
        self.keep_alive = None
        self._resolve_closers()

    def _end_failed(self, err: BusinessError, at_once: bool = False) -> None:
        """The attempt failed before ``'open'``; ``at_once``: the system refused it
        before any packet left (a host that does not resolve)."""
        if self.device:
            self._end_as_device(err, at_once)
        else:
            self._end_before_open(err)

    def _end_as_device(self, err: BusinessError, at_once: bool) -> None:
        """Device: an attempt that failed before ``'open'`` ends as it does there.

        A failure the system reports at once (``at_once``: the host does not
        resolve, no route) makes ``connect`` itself fail with −1 after two
        ``'error'`` events; any later one (refused, TLS, an answer other than
        101) comes after ``connect`` resolved ``True``, as one ``'error'``.
        Neither is followed by ``'close'`` (``websocket_exec.cpp``).
        """
        if self.ended:
            return
        self.ended = True
        self._abandon_attempt()
        self._set_state(ReadyState.CLOSED)
        self.stats.lastError = err
        self._observe("error", "=", error=err)
        if at_once:
            self._emit("error", (err,))
            self._emit("error", (err,))
            failed = BusinessError(SEND_FAILED, err.detail, device_text=CONNECT_FAILED_TEXT)
            failed.__cause__ = err.__cause__
            self.connect_promise.reject(failed)
        else:
            self.connect_promise.resolve(True)
            self._emit("error", (err,))
        self.keep_alive = None
        self._resolve_closers()

    def _abandon_attempt(self) -> None:
        """Let go of the transport of an attempt that ends before opening (a hook)."""

    def _resolve_closers(self) -> None:
        waiters, self.close_waiters = self.close_waiters, []
        for promise in waiters:
            promise.resolve(True)
