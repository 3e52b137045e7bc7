"""The awaitable result of one operation, with JS-style ``then``/``catch``.

Every ``connect``/``send``/``close`` creates one :class:`Promise`. The callback
form is the same promise with the user's callback attached, so both call forms
share one code path. A promise is settled from any thread (usually the I/O
thread) and can be consumed in four ways:

* ``await promise`` on any asyncio loop (a notebook's, a script's, ours);
* ``promise.then(on_ok, on_err)`` / ``.catch(fn)`` / ``.finally_(fn)``, chaining
  like JS; handlers run on the callback thread, in the caller's context;
* ``promise.result(timeout)`` to block plain synchronous code;
* ``promise.add_callback(cb)``, the Node-style ``cb(err, value)`` of the callback form.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
import types
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar, cast

from ..core.errors import BusinessError, LoopThreadError
from ..core.events import adapt, report_callback_error
from .runtime import IN_BROWSER, Lane, Runtime, block_on, get_runtime

__all__ = ["Promise", "deliver_result"]

logger = logging.getLogger("ohws_jupyter")
T = TypeVar("T")

_PENDING, _FULFILLED, _REJECTED = "pending", "fulfilled", "rejected"
# How long a notebook's display of a pending promise waits for it to settle.
DISPLAY_WAIT = 2.0


class Promise(Generic[T]):
    """The result of one operation: pending, then fulfilled with a value or rejected.

    Args:
        label: What the operation was, for ``repr``, e.g. ``"send"``.
    """

    __slots__ = (
        "__weakref__",
        "_done_event",
        "_handled",
        "_label",
        "_lane",
        "_listeners",
        "_lock",
        "_needs_callback_thread",
        "_state",
        "_value",
    )

    def __init__(self, label: str = "operation", lane: Lane | None = None) -> None:
        self._label = label
        # Where callback-form callbacks and then() handlers run: the lane of the
        # object the operation belongs to, so they keep its order.
        self._lane = lane
        self._state = _PENDING
        self._value: Any = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Promise[T]], object]] | None = []
        self._done_event: threading.Event | None = None
        self._handled = False
        self._needs_callback_thread = False

    # -- construction ----------------------------------------------------------
    @classmethod
    def resolved(cls, value: T, label: str = "operation", lane: Lane | None = None) -> Promise[T]:
        p: Promise[T] = cls(label, lane)
        p._settle(_FULFILLED, value)
        return p

    @classmethod
    def rejected(cls, error: BaseException, label: str = "operation") -> Promise[Any]:
        p: Promise[Any] = cls(label)
        p._settle(_REJECTED, error)
        return p

    def resolve(self, value: T) -> None:
        """Fulfil the promise (ignored if already settled)."""
        self._settle(_FULFILLED, value)

    def reject(self, error: BaseException) -> None:
        """Reject the promise (ignored if already settled)."""
        self._settle(_REJECTED, error)

    def _settle(self, state: str, value: Any) -> bool:
        if state is _REJECTED and self._lane is not None and self._lane.errors is not None:
            value = self._lane.errors(value)  # worded by the object it belongs to
        with self._lock:
            if self._state is not _PENDING:
                return False
            self._state, self._value = state, value
            listeners, self._listeners = self._listeners, None
            if self._done_event is not None:
                self._done_event.set()
        for listener in listeners or ():
            listener(self)
        return True

    def _on_settle(self, listener: Callable[[Promise[T]], object]) -> None:
        """Call ``listener(self)`` once settled, on the settling thread (or now)."""
        with self._lock:
            if self._listeners is not None:
                self._listeners.append(listener)
                return
        listener(self)

    # -- inspection --------------------------------------------------------------
    @property
    def state(self) -> str:
        """``'pending'``, ``'fulfilled'`` or ``'rejected'``."""
        return self._state

    def done(self) -> bool:
        return self._state is not _PENDING

    def reword(self, errors: Callable[[BaseException], BaseException]) -> None:
        """Word an error this promise already rejected with by ``errors`` (in place).

        For a promise rejected before it reached the object it belongs to (a
        malformed call); a promise bound to the object's lane is worded when it
        settles.
        """
        if self._state is _REJECTED:
            errors(self._value)

    def exception(self) -> BaseException | None:
        """The rejection error of a settled promise, or None."""
        self._handled = True
        return self._value if self._state is _REJECTED else None

    # -- consumption ----------------------------------------------------------
    def result(self, timeout: float | None = None) -> T:
        """Block until settled; return the value or raise the rejection error.

        Raises:
            TimeoutError: Not settled within ``timeout`` seconds.
            LoopThreadError: Called on the I/O thread, or on the callback thread for a
                promise that only the callback thread can settle: it would deadlock. In
                a browser, called where Python cannot be suspended (no JavaScript
                Promise Integration).
        """
        self._handled = True
        if self._state is _PENDING:
            rt = self._runtime()
            if not rt.can_block():
                raise LoopThreadError(f"{self._label}.result()")
            if self._needs_callback_thread and (
                rt.current_lane() is self._lane
                if self._lane is not None
                else rt.in_callback_thread()
            ):
                raise LoopThreadError(f"{self._label}.result() inside a callback")
            if IN_BROWSER:
                self._suspend_until_settled(timeout)
            else:
                self._block_until_settled(timeout)
        if self._state is _REJECTED:
            raise self._value
        return cast(T, self._value)  # fulfilled: the value it was resolved with

    def _block_until_settled(self, timeout: float | None) -> None:
        with self._lock:
            if self._done_event is None:
                self._done_event = threading.Event()
                if self._state is not _PENDING:
                    self._done_event.set()
            event = self._done_event
        if not event.wait(timeout):
            raise self._still_pending(timeout)

    def _suspend_until_settled(self, timeout: float | None) -> None:
        # A browser: the page's loop settles the promise while this call is suspended.
        try:
            block_on(self._settled(), timeout, f"{self._label}.result()")
        except TimeoutError:
            raise self._still_pending(timeout) from None

    async def _settled(self) -> None:
        """Return once settled, whichever way (no error raised: result() raises it)."""
        if self._state is _PENDING:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            self._on_settle(lambda _: loop.call_soon_threadsafe(_resolve_future, fut))
            await fut

    def _still_pending(self, timeout: float | None) -> TimeoutError:
        return TimeoutError(f"{self._label} did not finish within {timeout} s; it is still pending")

    def __await__(self) -> Generator[Any, None, T]:
        self._handled = True
        if self._state is _PENDING:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()

            def wake(_: Promise[T]) -> None:
                if loop.is_closed():
                    return
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve_future, fut)

            self._on_settle(wake)
            yield from fut
        if self._state is _REJECTED:
            raise self._value
        return cast(T, self._value)  # fulfilled: the value it was resolved with

    def add_callback(self, callback: Callable[..., Any], label: str | None = None) -> None:
        """Call ``callback(err, value)`` once settled, on the callback thread.

        The callback is adapted like JS: a one-parameter callback gets ``err``.
        """
        self._handled = True
        call = _adapt_cached(callback)
        context = contextvars.copy_context()
        what = label or f"callback of {self._label}"

        def run(p: Promise[T]) -> None:
            args = (p._value, None) if p._state is _REJECTED else (None, p._value)
            context.run(_guarded, call, args, what)

        self._on_settle(lambda p: self._call_on_lane(run, p))

    def then(
        self,
        on_fulfilled: Callable[[T], Any] | None = None,
        on_rejected: Callable[[BaseException], Any] | None = None,
    ) -> Promise[Any]:
        """Chain handlers like JS ``then``; returns the promise of the handler's result.

        A handler's return value fulfils the new promise (a returned promise or
        awaitable is followed); a handler's exception rejects it.
        """
        self._handled = True
        for name, fn in (("on_fulfilled", on_fulfilled), ("on_rejected", on_rejected)):
            if fn is not None and not callable(fn):
                raise BusinessError(401, f"then(): {name} must be callable or None")
        child: Promise[Any] = Promise(f"{self._label}.then()", self._lane)
        child._needs_callback_thread = True
        context = contextvars.copy_context()

        def run(p: Promise[T]) -> None:
            handler = on_fulfilled if p._state is _FULFILLED else on_rejected
            if handler is None:
                child._settle(p._state, p._value)
                return
            try:
                out = context.run(handler, p._value)
            except Exception as exc:
                child.reject(exc)
                return
            child._adopt(out)

        self._on_settle(lambda p: self._call_on_lane(run, p))
        return child

    def _call_on_lane(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._lane is not None:
            self._lane.call(fn, *args)
        else:
            get_runtime().deliver(fn, *args)

    def _runtime(self) -> Runtime:
        # The runtime of the object the promise belongs to; the process's for one of none.
        return self._lane.runtime if self._lane is not None else get_runtime()

    def catch(self, on_rejected: Callable[[BaseException], Any]) -> Promise[Any]:
        """Like JS ``catch``: ``then(None, on_rejected)``."""
        return self.then(None, on_rejected)

    def finally_(self, on_settled: Callable[[], Any]) -> Promise[T]:
        """Like JS ``finally``: run ``on_settled()``, keep this promise's outcome."""

        def ok(value: Any) -> Any:
            on_settled()
            return value

        def err(error: BaseException) -> Any:
            on_settled()
            raise error

        return self.then(ok, err)

    def _adopt(self, out: Any) -> None:
        if isinstance(out, Promise):
            out._handled = True
            out._on_settle(lambda p: self._settle(p._state, p._value))
        elif asyncio.iscoroutine(out) or isinstance(out, asyncio.Future):
            fut = self._runtime().submit(_await(out))

            def copy(f: Any) -> None:
                exc = f.exception()
                self._settle(_REJECTED, exc) if exc else self._settle(_FULFILLED, f.result())

            fut.add_done_callback(copy)
        else:
            self.resolve(out)

    # -- display -----------------------------------------------------------
    def __repr__(self) -> str:
        if self._state is _FULFILLED:
            return f"<Promise {self._label}: fulfilled {self._value!r}>"
        if self._state is _REJECTED:
            return f"<Promise {self._label}: rejected {self._value}>"
        return f"<Promise {self._label}: pending>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # A notebook shows the last expression of a cell; give a quick operation
        # the moment to finish so `ws.send('x')` shows its outcome, not "pending".
        if self._state is _PENDING and self._runtime().can_block():
            with contextlib.suppress(BaseException):
                self.result(DISPLAY_WAIT)
        self._handled = True
        text = repr(self)
        if self._state is _PENDING:
            text += "  (await it, or call .result(timeout) to wait)"
        printer.text(text)

    def __del__(self) -> None:
        if self._state is _REJECTED and not self._handled:
            with contextlib.suppress(Exception):
                logger.warning("unhandled rejection of %s: %s", self._label, self._value)


def deliver_result(
    lane: Lane, callback: Callable[..., Any], err: BaseException | None, value: Any, what: str
) -> None:
    """Call ``callback(err, value)`` on ``lane``, as ``add_callback`` of a settled promise would.

    The callback form of an operation that finished at once (a queued ``send``)
    comes here without building a promise.
    """
    call = _adapt_cached(callback)
    lane.call(contextvars.copy_context().run, _guarded, call, (err, value), what)


_last_adapted: tuple[Any, Callable[[tuple[Any, ...]], Any]] = (None, lambda args: None)


def _adapt_cached(callback: Callable[..., Any]) -> Callable[[tuple[Any, ...]], Any]:
    # A burst of sends passes the same callback each time: adapt it once.
    global _last_adapted
    last, call = _last_adapted
    if last is callback:
        return call
    call = _adapt_operation_callback(callback)
    _last_adapted = (callback, call)
    return call


def _adapt_operation_callback(callback: Callable[..., Any]) -> Callable[[tuple[Any, ...]], Any]:
    """``adapt(callback, 2, trailing=False)``, without ``inspect`` for plain functions.

    The callback form of ``send`` adapts one callback per message; reading the
    signature with ``inspect`` cost more than sending the frame. A plain function
    with only required positional parameters can be read from its code object;
    anything else (defaults, ``*args``, wrappers, partials) takes the general path.
    """
    if (
        type(callback) is types.FunctionType
        and not callback.__defaults__
        and not hasattr(callback, "__wrapped__")
        and not hasattr(callback, "__signature__")
    ):
        code = callback.__code__
        if not code.co_flags & _VARARGS and not code.co_kwonlyargcount:
            count = code.co_argcount
            if count == 2:
                return lambda args: callback(*args)
            if count == 1:
                return lambda args: callback(args[0])
            if count == 0:
                return lambda args: callback()
    return adapt(callback, 2, trailing=False)


_VARARGS = 0x04  # inspect.CO_VARARGS


def _resolve_future(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(None)


def _guarded(call: Callable[[tuple[Any, ...]], Any], args: tuple[Any, ...], what: str) -> None:
    try:
        call(args)
    except BaseException as exc:  # SystemExit or KeyboardInterrupt too: delivery goes on
        report_callback_error(what, exc)


async def _await(awaitable: Any) -> Any:
    return await awaitable
