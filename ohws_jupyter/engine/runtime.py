"""The process-wide runtime: one I/O thread with an asyncio loop, and callback lanes.

Network I/O never runs on the caller's thread, so connections keep working while
a notebook cell blocks, while the kernel is idle, and in plain scripts.

User callbacks run in *lanes*: each ``WebSocket`` and each server owns one
:class:`Lane`, whose calls run one at a time and in the order they were queued.
Lanes are independent: a small pool of daemon worker threads runs whichever
lanes have work, and grows when every worker is busy, so a slow callback on one
object delays that object's later callbacks only, never another object's events
or any promise. Work crosses threads through queues, and a lane wakes a worker
only when it goes from empty to non-empty, so a burst costs one wake-up.

The threads are started on first use and restarted in a forked child. They are
daemon threads, so they never hold the interpreter up; at its exit, callbacks
already queued get a short, bounded chance to run (:data:`EXIT_CALLBACK_WAIT`),
so a script that waits for ``close()`` still sees its ``'close'`` callback.

In a browser (Pyodide, ``sys.platform == "emscripten"``) there are no threads:
the page's own running loop does the I/O, and each lane's calls run as loop
callbacks (one lane's in order, lanes interleaved). A blocking wait there
(:func:`block_on`, a promise's ``result()``, the ``%ws`` magics) suspends the
waiting Python call while the page's loop goes on, which needs the browser's
JavaScript Promise Integration (current Chromium has it); without it a wait
refuses and says to ``await`` instead. That loop also gets the page's
in-memory network (:mod:`ohws_jupyter.engine.inpage`), where the embedded server
listens.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import contextlib
import inspect
import logging
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar, cast

__all__ = [
    "IN_BROWSER",
    "Lane",
    "Runtime",
    "Wakeup",
    "block_on",
    "can_block",
    "create_task",
    "get_runtime",
    "live_tasks",
]

logger = logging.getLogger("ohws_jupyter")
T = TypeVar("T")

#: Most callback worker threads at once; past it, lanes wait for a free worker.
MAX_WORKERS = 64
#: Seconds an idle worker (other than the first) waits for work before it ends.
WORKER_IDLE_EXIT = 30.0
#: Seconds lanes may wait with every worker busy before another worker starts.
STUCK_AFTER = 0.05
#: Calls a lane runs before it lets other lanes have the worker (fairness).
LANE_SLICE = 256
#: Seconds the interpreter's exit waits for queued callbacks to run (see :meth:`Runtime.drain`).
EXIT_CALLBACK_WAIT = 1.0
#: In a browser (Pyodide): one thread, the page's loop, no blocking.
IN_BROWSER = sys.platform == "emscripten"


class Lane:
    """An ordered queue of calls for one object, run on the runtime's workers.

    Calls queued on one lane run one at a time, in order; different lanes run
    independently. ``call`` is safe from any thread and never blocks.
    """

    __slots__ = ("__weakref__", "_lock", "_queue", "_runtime", "_scheduled", "errors", "name")

    def __init__(
        self,
        runtime: Runtime,
        name: str = "lane",
        errors: Callable[[BaseException], BaseException] | None = None,
    ) -> None:
        self._runtime = runtime
        #: How the lane's object words the errors its promises reject with (its
        #: context's ``localize``); None leaves them as they are.
        self.errors = errors
        self._queue: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            collections.deque()
        )
        self._lock = threading.Lock()
        self._scheduled = False
        self.name = name
        runtime._track(self)

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` after everything queued on this lane before."""
        with self._lock:
            self._queue.append((fn, args))
            if self._scheduled:
                return
            self._scheduled = True
        self._runtime._schedule(self)

    def call_many(self, calls: Iterable[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
        """Queue several calls at once, with a single wake-up."""
        with self._lock:
            self._queue.extend(calls)
            if self._scheduled or not self._queue:
                return
            self._scheduled = True
        self._runtime._schedule(self)

    @property
    def runtime(self) -> Runtime:
        """The runtime this lane runs on."""
        return self._runtime

    def pending(self) -> int:
        """How many calls wait on this lane."""
        return len(self._queue)

    def _run(self) -> bool:
        """Run up to LANE_SLICE calls; True if the lane still has work."""
        q = self._queue
        for _ in range(LANE_SLICE):
            try:
                fn, args = q.popleft()
            except IndexError:
                break
            try:
                fn(*args)
            except BaseException:  # a callback's SystemExit must not end the worker
                logger.exception("internal error delivering %r", fn)
        with self._lock:
            if q:
                return True
            self._scheduled = False
            return False

    def __repr__(self) -> str:
        return f"<Lane {self.name} pending={len(self._queue)}>"


class Runtime:
    """The I/O loop thread and the callback workers of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._io_thread: threading.Thread | None = None
        self._incoming: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            collections.deque()
        )
        self._io_wake_pending = False
        # Lanes that have work; a C-level queue, so put() costs no Python frames.
        self._ready: queue.SimpleQueue[Lane] = queue.SimpleQueue()
        self._workers: set[threading.Thread] = set()
        self._idle = 0
        self._takes = 0  # lanes taken by workers, ever: progress for the stuck check
        self._serial = 0
        self._watch_armed = False
        self._local = threading.local()
        # Every lane, for drain(); a lane with work has _scheduled set until it runs dry.
        self._lanes: weakref.WeakSet[Lane] = weakref.WeakSet()
        self._lane_ran_dry: threading.Event | None = None
        # Made now, not on first use: a lazily made object would read as a leak.
        self._default_lane = Lane(self, "default")
        self._browser_lanes = 0  # lanes with work, in a browser
        #: In a browser: I/O calls and lane slices run so far (a measure of progress).
        self.activity = 0

    # -- threads -----------------------------------------------------------
    def _ensure(self) -> asyncio.AbstractEventLoop:
        loop = self.loop
        if loop is not None:
            return loop
        if IN_BROWSER:
            return self._adopt_page_loop()
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
                self.loop = loop
        return self.loop

    def _adopt_page_loop(self) -> asyncio.AbstractEventLoop:
        # Pyodide's loop runs for as long as the page does; it is ours too.
        from . import inpage

        loop = asyncio.get_event_loop()
        inpage.install(loop)
        self.loop = loop
        return loop

    @property
    def started(self) -> bool:
        return self.loop is not None

    def in_loop_thread(self) -> bool:
        """Whether the caller is the I/O thread (where blocking would deadlock).

        Always true in a browser, whose one thread runs the loop.
        """
        return IN_BROWSER or threading.current_thread() is self._io_thread

    def can_block(self) -> bool:
        """Whether the caller may wait for the I/O by blocking (see :func:`can_block`)."""
        if IN_BROWSER:
            return _page_can_suspend()
        return threading.current_thread() is not self._io_thread

    def in_callback_thread(self) -> bool:
        """Whether the caller is a callback worker."""
        return getattr(self._local, "worker", False)

    def current_lane(self) -> Lane | None:
        """The lane whose call is running on this thread, if any."""
        return getattr(self._local, "lane", None)

    def threads(self) -> list[threading.Thread]:
        with self._lock:
            workers = list(self._workers)
        return [t for t in (self._io_thread, *workers) if t is not None]

    # -- the I/O side -----------------------------------------------------
    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the I/O loop, in call order; safe from any thread."""
        loop = self._ensure()
        if IN_BROWSER:
            # Never inline: the caller (a cell, a callback) goes on first, as it
            # would beside an I/O thread.
            loop.call_soon(self._call_in_page, fn, args)
            return
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

    def _call_in_page(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.activity += 1
        try:
            fn(*args)
        except Exception:
            logger.exception("internal error in I/O task %r", fn)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the I/O loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure())

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Start a task on the I/O loop from any thread, without waiting for it."""
        self.call_soon(_create_task, coro)

    # -- the callback side --------------------------------------------------
    def lane(
        self, name: str = "lane", errors: Callable[[BaseException], BaseException] | None = None
    ) -> Lane:
        """A new lane: calls queued on it run in order, independently of other lanes.

        ``errors`` words the errors of the promises bound to it (see :class:`Lane`).
        """
        return Lane(self, name, errors)

    def deliver(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the shared default lane (for work owned by no object)."""
        self._default_lane.call(fn, *args)

    def _schedule(self, lane: Lane) -> None:
        if IN_BROWSER:
            self._browser_lanes += 1
            self._ensure().call_soon(self._run_lane_in_page, lane)
            return
        self._ready.put(lane)
        if self._idle > 0 and self._workers:
            return  # an idle worker takes it (see _work for the race with a taker)
        self._watch_if_busy()

    def _watch_if_busy(self) -> None:
        with self._lock:
            if not self._workers:
                self._start_worker()
                return
            if self._watch_armed or self._idle > 0:
                return
            # Most of the time a worker frees up within microseconds; a lane
            # left waiting with no progress for STUCK_AFTER means callbacks
            # block, and then another worker starts (see _check_stuck).
            self._watch_armed = True
        self.call_soon(self._arm_watch)

    def _arm_watch(self) -> None:
        assert self.loop is not None
        self.loop.call_later(STUCK_AFTER, self._check_stuck, self._takes)

    def _check_stuck(self, takes_then: int) -> None:
        with self._lock:
            if self._ready.empty():
                self._watch_armed = False
                return
            if self._takes == takes_then and self._idle == 0 and len(self._workers) < MAX_WORKERS:
                self._start_worker()
        # Runs on the loop (call_later scheduled it), so the loop is there.
        self.loop.call_later(STUCK_AFTER, self._check_stuck, self._takes)  # type: ignore[union-attr]

    def _start_worker(self) -> None:
        # Called with the lock held.
        worker = threading.Thread(
            target=self._work, name=f"ohws-callbacks-{self._serial}", daemon=True
        )
        self._serial += 1
        self._workers.add(worker)
        worker.start()

    def _work(self) -> None:
        self._local.worker = True
        me = threading.current_thread()
        get = self._ready.get
        lane: Lane | None
        while True:
            with self._lock:
                self._idle += 1
            try:
                lane = get(timeout=WORKER_IDLE_EXIT)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if len(self._workers) > 1 and self._ready.empty():
                        self._workers.discard(me)
                        return
                continue
            with self._lock:
                self._idle -= 1
                self._takes += 1
            if not self._ready.empty():
                # A lane scheduled while this worker still counted as idle may
                # now wait behind it: watch for that too.
                self._watch_if_busy()
            self._local.lane = lane
            try:
                again = lane._run()
            finally:
                self._local.lane = None
            if again:
                self._ready.put(lane)  # behind the other lanes that wait
            elif self._lane_ran_dry is not None:
                self._lane_ran_dry.set()
            # An idle worker must not keep the last lane it ran (and its object) alive.
            lane = None

    def _run_lane_in_page(self, lane: Lane) -> None:
        # The browser's worker: one slice of the lane, then the loop's other work.
        self._browser_lanes -= 1
        self.activity += 1
        self._local.lane = lane
        try:
            again = lane._run()
        finally:
            self._local.lane = None
        if again:
            self._browser_lanes += 1
            self._ensure().call_soon(self._run_lane_in_page, lane)

    def _track(self, lane: Lane) -> None:
        with self._lock:
            self._lanes.add(lane)

    def _busy_lanes(self) -> list[Lane]:
        with self._lock:
            lanes = list(self._lanes)
        return [lane for lane in lanes if lane._scheduled]

    def drain(self, timeout: float) -> bool:
        """Wait until no callback is queued or running; False if ``timeout`` seconds passed first.

        Each round first lets the I/O thread hand over the events it has read, then
        waits for every lane to run dry; it ends after a round in which no lane had
        work. Callbacks that queue more work are followed, within ``timeout``.
        Returns False at once where waiting would deadlock (the I/O thread, a
        callback) and True where nothing was started or in a browser.
        """
        if IN_BROWSER or self.loop is None:
            return True
        if self.in_loop_thread() or self.in_callback_thread():
            return False
        deadline = time.monotonic() + timeout
        try:
            while True:
                handed_over = threading.Event()
                self.call_soon(handed_over.set)
                if not handed_over.wait(max(deadline - time.monotonic(), 0.0)):
                    return False
                if not self._busy_lanes():
                    return True
                while True:
                    # Armed before the look, so a lane that runs dry after it wakes us.
                    ran_dry = self._lane_ran_dry = threading.Event()
                    if not self._busy_lanes():
                        break
                    if not ran_dry.wait(max(deadline - time.monotonic(), 0.0)):
                        return False
        finally:
            self._lane_ran_dry = None

    def pending_callbacks(self) -> int:
        """How many lanes wait for a worker (a measure of backlog across objects)."""
        if IN_BROWSER:
            return self._browser_lanes
        return self._ready.qsize()

    def _after_fork(self) -> None:
        # Threads do not survive fork(); the child starts its own on first use.
        self.__init__()  # type: ignore[misc]  # every field as a new Runtime has them


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


def can_block() -> bool:
    """Whether the caller may block until the network has done something.

    Anywhere but the I/O thread in CPython. In a browser, where the page's one
    thread runs the I/O, only where Pyodide can suspend the running Python
    call and let the page go on (``pyodide.ffi.can_run_sync()``: JavaScript
    Promise Integration, in a cell or a callback).
    """
    return _RUNTIME.can_block()


def block_on(awaitable: Awaitable[T], timeout: float | None = None, what: str = "the wait") -> T:
    """Wait for ``awaitable`` on the I/O loop and return its result, blocking the caller.

    In CPython the awaitable runs on the I/O thread while the caller's thread
    waits. In a browser the caller's Python call is suspended (never spun):
    the page's loop, and with it every connection, callback and timer, runs
    until the awaitable is done.

    Raises:
        TimeoutError: Not done within ``timeout`` seconds (the awaitable is cancelled).
        LoopThreadError: The caller cannot block here (see :func:`can_block`);
            ``what`` names the wait in its message.
    """
    if not _RUNTIME.can_block():
        from ..core.errors import LoopThreadError

        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never started: no "never awaited" warning
        raise LoopThreadError(what)
    limited = _limited(awaitable, timeout)
    if not IN_BROWSER:
        return _RUNTIME.submit(limited).result()
    from pyodide.ffi import run_sync

    # Other lanes run while this call is suspended; put back which lane this is.
    local = _RUNTIME._local
    lane = getattr(local, "lane", None)
    try:
        ok, value = run_sync(_outcome(limited))
    finally:
        local.lane = lane
    if not ok:
        raise value
    return cast(T, value)  # _outcome's value when ok is True


async def _outcome(awaitable: Awaitable[T]) -> tuple[bool, Any]:
    # What run_sync() awaits must not raise: the page would also report the
    # error as the cell's (an unhandled rejection), though the caller catches it.
    try:
        return True, await awaitable
    except BaseException as exc:
        return False, exc


class Wakeup:
    """A flag that code sets and a blocking caller waits for, in a thread or in a page.

    In CPython it is a ``threading.Event``. In a browser ``wait`` suspends the
    caller (see :func:`block_on`) until ``set`` is called from the page's loop:
    a callback, an event handler, a timer.
    """

    __slots__ = ("_event", "_futures")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._futures: list[asyncio.Future[None]] = []

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        self._event.set()
        if self._futures:  # only in a browser, where the page's one thread calls this
            futures, self._futures = self._futures, []
            for fut in futures:
                if not fut.done():
                    fut.set_result(None)

    def clear(self) -> None:
        """Clear the flag: the next ``wait`` waits for the next ``set``."""
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set; False if ``timeout`` seconds passed first.

        Raises:
            LoopThreadError: In a browser, where this call cannot be suspended.
        """
        if not IN_BROWSER:
            return self._event.wait(timeout)
        if self._event.is_set():
            return True
        fut: asyncio.Future[None] = _RUNTIME._ensure().create_future()
        self._futures.append(fut)
        try:
            block_on(fut, timeout, "Wakeup.wait()")
        except TimeoutError:
            return self._event.is_set()
        finally:
            with contextlib.suppress(ValueError):
                self._futures.remove(fut)
        return True


async def _limited(awaitable: Awaitable[T], timeout: float | None) -> T:
    if timeout is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, max(0.0, timeout))
    except asyncio.TimeoutError:
        raise TimeoutError(f"not done within {timeout:g} s") from None


def _page_can_suspend() -> bool:
    try:
        from pyodide.ffi import can_run_sync
    except ImportError:  # an old Pyodide: no way to suspend
        return False
    return bool(can_run_sync())


def _drain_at_exit() -> None:
    # Registered at import, before the modules that close connections at exit
    # register theirs: atexit runs last-registered first, so the 'close'
    # callbacks those closes queue get their chance here too.
    if _RUNTIME.started and not IN_BROWSER:
        _RUNTIME.drain(EXIT_CALLBACK_WAIT)


atexit.register(_drain_at_exit)

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RUNTIME._after_fork)
