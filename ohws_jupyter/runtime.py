"""The process-wide runtime: one I/O thread with an asyncio loop, one callback thread.

Network I/O never runs on the caller's thread, so connections keep working while
a notebook cell blocks, while the kernel is idle, and in plain scripts. User
callbacks run on a second thread, one at a time and in the order events
happened; a slow callback therefore delays later callbacks but never the
network (keepalive pings and close handshakes go on).

Both threads are daemons, started on first use and restarted in a forked child.
Work crosses threads through queues; a thread is woken only when it may be
asleep, so a burst of messages costs one wake-up, not one per message.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["Runtime", "create_task", "get_runtime", "live_tasks"]

logger = logging.getLogger("ohws_jupyter")


class Runtime:
    """The I/O loop thread and the callback thread of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._io_thread: threading.Thread | None = None
        self._incoming: collections.deque[tuple[Callable[..., Any], tuple]] = collections.deque()
        self._io_wake_pending = False
        # A C-level queue: put() costs no Python frames and wakes the callback
        # thread only when it is blocked in get(); threading.Event's Python-level
        # Condition cost several microseconds on both sides for every wake-up.
        self._calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple]] = queue.SimpleQueue()
        self._cb_thread: threading.Thread | None = None

    # -- threads -----------------------------------------------------------
    def _ensure(self) -> asyncio.AbstractEventLoop:
        loop = self.loop
        if loop is not None:
            return loop
        with self._lock:
            if self.loop is None:
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._io_thread = threading.Thread(target=run, name="ohws-io", daemon=True)
                self._io_thread.start()
                ready.wait()
                self._cb_thread = threading.Thread(
                    target=self._run_callbacks, name="ohws-callbacks", daemon=True
                )
                self._cb_thread.start()
                self.loop = loop
        return self.loop

    @property
    def started(self) -> bool:
        return self.loop is not None

    def in_loop_thread(self) -> bool:
        """Whether the caller is the I/O thread (where blocking would deadlock)."""
        return threading.current_thread() is self._io_thread

    def in_callback_thread(self) -> bool:
        return threading.current_thread() is self._cb_thread

    def threads(self) -> list[threading.Thread]:
        return [t for t in (self._io_thread, self._cb_thread) if t is not None]

    # -- the I/O side -----------------------------------------------------
    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the I/O loop, in call order; safe from any thread."""
        loop = self._ensure()
        if threading.current_thread() is self._io_thread:
            fn(*args)
            return
        self._incoming.append((fn, args))
        if not self._io_wake_pending:
            self._io_wake_pending = True
            with contextlib.suppress(RuntimeError):  # loop closed at interpreter exit
                loop.call_soon_threadsafe(self._drain_incoming)

    def _drain_incoming(self) -> None:
        # Clear the flag before draining: a producer that appends after this
        # point either sees False and wakes us again, or is drained below.
        self._io_wake_pending = False
        incoming = self._incoming
        while incoming:
            fn, args = incoming.popleft()
            try:
                fn(*args)
            except Exception:
                logger.exception("internal error in I/O task %r", fn)

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run a coroutine on the I/O loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure())

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Start a task on the I/O loop from any thread, without waiting for it."""
        self.call_soon(_create_task, coro)

    # -- the callback side --------------------------------------------------
    def deliver(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the callback thread, after everything delivered before."""
        if self.loop is None:
            self._ensure()
        self._calls.put((fn, args))

    def _run_callbacks(self) -> None:
        get = self._calls.get
        while True:
            fn, args = get()
            try:
                fn(*args)
            except BaseException:
                logger.exception("internal error delivering %r", fn)

    def pending_callbacks(self) -> int:
        return self._calls.qsize()

    def _after_fork(self) -> None:
        # Threads do not survive fork(); the child starts its own on first use.
        self.__init__()  # type: ignore[misc]


def _create_task(coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
    task = asyncio.ensure_future(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task


def create_task(coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
    """Start a task on the running (I/O) loop and keep it referenced until it ends."""
    return _create_task(coro)


def live_tasks() -> int:
    """How many tasks started through the runtime are still running."""
    return len(_TASKS)


# Strong references to fire-and-forget tasks (asyncio keeps only weak ones).
_TASKS: set[asyncio.Future[Any]] = set()
_RUNTIME = Runtime()


def get_runtime() -> Runtime:
    """The runtime of this process."""
    return _RUNTIME


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RUNTIME._after_fork)
