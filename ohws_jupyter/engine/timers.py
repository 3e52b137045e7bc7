"""One daemon thread that runs short functions after a delay.

Expectations time out and reconnects wait out their backoff here. A thread per
timer would cost a thread for every pending ``request``; this keeps them all in
one heap. The functions run on the timer thread, so they must be quick (settle
a promise, start a connect) and must not block.

No asyncio here: the timers work whatever the I/O runtime is doing. In a
browser (Pyodide), which has no threads, the page's loop runs them instead.
"""

from __future__ import annotations

import heapq
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.events import report_callback_error

__all__ = ["Timer", "call_later"]


class Timer:
    """A pending call; ``cancel()`` stops it if it has not run yet."""

    __slots__ = ("args", "cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self.fn, self.args = _nothing, ()  # drop references held until the deadline


def _nothing() -> None:
    pass


class _Scheduler:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._cond = threading.Condition()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(time.monotonic() + max(0.0, delay), fn, args)
        with self._cond:
            if self._thread is None or self._pid != os.getpid():
                # First use, or a forked child: the parent's thread does not exist here.
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="ohws-timers", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (timer.when, next(self._order), timer))
            self._cond.notify()
        return timer

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    left = self._heap[0][0] - time.monotonic()
                    if left <= 0:
                        timer = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(left)
            if timer.cancelled:
                continue
            try:
                timer.fn(*timer.args)
            except Exception as exc:
                report_callback_error(f"timer {timer.fn!r}", exc)


_scheduler = _Scheduler()


def call_later(delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
    """Call ``fn(*args)`` on the timer thread after ``delay`` seconds."""
    if sys.platform == "emscripten":
        return _call_later_in_page(delay, fn, args)
    return _scheduler.call_later(delay, fn, *args)


def _call_later_in_page(delay: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> Timer:
    from .runtime import get_runtime

    timer = Timer(time.monotonic() + max(0.0, delay), fn, args)
    get_runtime().call_soon(_arm_in_page, timer)
    return timer


def _arm_in_page(timer: Timer) -> None:
    from .runtime import get_runtime

    def fire() -> None:
        if not timer.cancelled:
            try:
                timer.fn(*timer.args)
            except Exception as exc:
                report_callback_error(f"timer {timer.fn!r}", exc)

    loop = get_runtime().loop
    assert loop is not None
    loop.call_later(max(0.0, timer.when - time.monotonic()), fire)
