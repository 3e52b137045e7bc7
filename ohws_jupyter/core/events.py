"""Event subscriptions: ``on``/``off`` bookkeeping and callback arity adaptation.

An OHOS callback receives a fixed argument list, such as ``(err, value)`` for
``'message'``. Python users often write ``lambda value: ...``; each callback is
adapted once, at subscription, to the number of positional parameters it takes.
Each subscription also remembers the :mod:`contextvars` context it was made in,
so a callback runs as if it were still in the code that registered it (in a
Jupyter kernel that is what sends its output to the registering cell).

No I/O here; the runtime decides on which thread callbacks run.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .context import Context
from .errors import PARAMETER_ERROR

__all__ = ["EventEmitter", "Record", "Subscription", "adapt", "report_callback_error"]

logger = logging.getLogger("ohws_jupyter")


def _capacity(fn: Callable[..., Any]) -> tuple[int | None, int]:
    """How many positional arguments ``fn`` accepts (None: any) and requires."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None, 0
    most, least = 0, 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return None, least
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            most += 1
            if p.default is p.empty:
                least += 1
    return most, least


def adapt(
    fn: Callable[..., Any], arity: int, *, trailing: bool = True
) -> Callable[[tuple[Any, ...]], Any]:
    """Return ``call(args)`` that passes ``fn`` as many of ``args`` as it takes.

    Args:
        fn: The user's callable.
        arity: Length of the full OHOS argument list.
        trailing: Keep the last arguments when ``fn`` takes fewer (event callbacks:
            ``lambda value:`` gets the value); otherwise keep the first ones
            (operation callbacks, as in JS: ``(err) => ...`` gets the error).
    """
    most, least = _capacity(fn)
    if most is None or most == arity:
        if least <= arity:
            return lambda args: fn(*args)
        pad = (None,) * (least - arity)
        return lambda args: fn(*args, *pad)
    if most > arity:
        # e.g. the seed's on('dataEnd', (err) => ...): missing arguments are None.
        pad = (None,) * (max(least, arity) - arity)
        return lambda args: fn(*args, *pad)
    if most == 0:
        return lambda args: fn()
    if trailing:
        return lambda args: fn(*args[-most:])
    return lambda args: fn(*args[:most])


@dataclass(frozen=True, slots=True)
class Record:
    """One thing that happened on a connection, for views and logs (see ``watch``).

    Attributes:
        time: When, as ``time.time()``.
        kind: ``'connect'``, ``'open'``, ``'message'``, ``'ping'``, ``'pong'``,
            ``'closing'``, ``'close'`` or ``'error'``.
        direction: ``'>'`` sent, ``'<'`` received, ``'='`` a change of state.
        data: The whole message (``str`` or ``bytes``), the URL for ``'connect'``,
            the subprotocol for ``'open'``, or for the ``'pong'`` that answers our
            keepalive ping its round trip in seconds.
        pieces: How many ``'message'`` events a received message was delivered in.
        code: Close code, for ``'closing'`` and ``'close'``.
        reason: Close reason, for ``'closing'`` and ``'close'``.
        error: The ``BusinessError``, for ``'error'``.
        headers: Handshake headers with credentials masked.
    """

    time: float
    kind: str
    direction: str
    data: Any = None
    pieces: int = 0
    code: int | None = None
    reason: str | None = None
    error: Any = None
    headers: dict[str, str] | None = None


def report_callback_error(what: str, exc: BaseException) -> None:
    """Log a callback's exception with its traceback; delivery goes on."""
    logger.error("%s raised %s: %s", what, type(exc).__name__, exc, exc_info=exc)


class Subscription:
    """One ``on(type, callback)``: the adapted callable and the caller's context."""

    __slots__ = ("active", "call", "callback", "context", "event")

    def __init__(self, event: str, callback: Callable[..., Any], arity: int) -> None:
        self.event = event
        self.callback = callback
        self.call = adapt(callback, arity)
        self.context = contextvars.copy_context()
        self.active = True

    def run(self, args: tuple[Any, ...]) -> None:
        """Call the callback in its context; an exception is reported, not raised."""
        if self.active:
            self.context.run(self._guarded, args)

    def _guarded(self, args: tuple[Any, ...]) -> None:
        try:
            self.call(args)
        except BaseException as exc:  # SystemExit or KeyboardInterrupt too: delivery goes on
            name = getattr(self.callback, "__qualname__", repr(self.callback))
            report_callback_error(f"callback {name} for '{self.event}'", exc)

    def run_each(self, many: list[tuple[Any, ...]]) -> None:
        """``run`` for each argument tuple, entering the context once for all of them."""
        if self.active:
            self.context.run(self._guarded_each, many)

    def _guarded_each(self, many: list[tuple[Any, ...]]) -> None:
        for args in many:
            if not self.active:  # off() or once() from inside the callback
                return
            self._guarded(args)


def _check_callable(name: str, callback: Any, context: Context) -> None:
    if not callable(callback):
        raise context.error(
            PARAMETER_ERROR,
            f"callback for '{name}' must be callable, not {type(callback).__name__}",
        )


class EventEmitter:
    """The subscriptions of one object, by event name.

    Args:
        arities: Each supported event name and the length of its argument list.
        owner: Name used in error messages, e.g. ``"WebSocket"``.
        context: The owner's context: its profile decides what ``subscribe``
            does, and its texts word the errors raised here and the ``'error'``
            values emitted. A seed context if omitted.
    """

    def __init__(self, arities: dict[str, int], owner: str, context: Context | None = None) -> None:
        self._arities = dict(arities)
        self._owner = owner
        self.context = context if context is not None else Context()
        self._subs: dict[str, list[Subscription]] = {name: [] for name in arities}
        # Lists are replaced, never changed in place, so emit() reads without the
        # lock; writers (on/off on the caller's thread, once() firing on the
        # callback thread) take it so that none of their changes is lost.
        self._lock = threading.Lock()

    @property
    def event_names(self) -> tuple[str, ...]:
        """The events this emitter knows, in the order they were declared."""
        return tuple(self._arities)

    def _check_type(self, event: Any) -> str:
        if not isinstance(event, str):
            raise self.context.error(
                PARAMETER_ERROR, f"event type must be a string, not {type(event).__name__}"
            )
        if event not in self._arities:
            known = ", ".join(repr(n) for n in self._arities)
            raise self.context.error(
                PARAMETER_ERROR, f"{self._owner} has no event {event!r}; use one of {known}"
            )
        return event

    def on(self, event: Any, callback: Any) -> Subscription:
        """Subscribe ``callback`` to ``event``; 401 for a bad name or a non-callable."""
        name = self._check_type(event)
        _check_callable(name, callback, self.context)
        sub = Subscription(name, callback, self._arities[name])
        # Copy-on-write: a dispatch in progress iterates the old list safely.
        with self._lock:
            self._subs[name] = [*self._subs[name], sub]
        return sub

    def subscribe(self, event: Any, callback: Any, advice: str) -> None:
        """``on(event, callback)`` as the owner's profile does it.

        A device keeps one callback per event, so under ``device`` a new one
        replaces the others; ``seed`` keeps them all and warns, ending with
        ``advice``, where a second one would replace the first on a device.
        """
        if self.context.is_device:
            self.replace(event, callback)
            return
        if isinstance(event, str) and event in self._arities and self.has(event):
            self.context.portability_warning(
                "listener",
                f"a second on({event!r}) callback: on a device it replaces the first one, "
                f"which is then never called; {advice}",
            )
        self.on(event, callback)

    def replace(self, event: Any, callback: Any) -> Subscription:
        """Make ``callback`` the only subscription of ``event`` (the device's ``on``).

        A bad name or a non-callable is a 401 and leaves the subscriptions as they were.
        """
        name = self._check_type(event)
        _check_callable(name, callback, self.context)
        sub = Subscription(name, callback, self._arities[name])
        with self._lock:
            gone, self._subs[name] = self._subs[name], [sub]
        for old in gone:
            old.active = False
        return sub

    def once(self, event: Any, callback: Any) -> Subscription:
        """Subscribe ``callback`` to the next ``event`` only; ``off`` removes it too."""
        name = self._check_type(event)
        _check_callable(name, callback, self.context)
        call = adapt(callback, self._arities[name])

        def fire(*args: Any) -> Any:
            sub.active = False
            with self._lock:
                self._subs[name] = [s for s in self._subs[name] if s is not sub]
            return call(args)

        sub = self.on(name, fire)
        sub.callback = callback  # what off(type, callback) and error reports name
        return sub

    def off(self, event: Any, callback: Any = None) -> int:
        """Remove ``callback`` from ``event`` (all callbacks if None); returns how many."""
        name = self._check_type(event)
        if callback is not None and not callable(callback):
            raise self.context.error(
                PARAMETER_ERROR,
                f"callback for off('{name}') must be callable or omitted, "
                f"not {type(callback).__name__}",
            )
        keep: list[Subscription] = []
        gone: list[Subscription] = []
        with self._lock:
            for sub in self._subs[name]:
                (gone if callback is None or sub.callback == callback else keep).append(sub)
            self._subs[name] = keep
        for sub in gone:
            sub.active = False
        return len(gone)

    def has(self, event: str) -> bool:
        return bool(self._subs[event])

    def emit(self, event: str, args: tuple[Any, ...]) -> None:
        """Run every subscription of ``event`` now, in order, on the calling thread."""
        if event == "error":
            for value in args:
                if isinstance(value, BaseException):
                    self.context.localize(value)
        for sub in self._subs[event]:
            sub.run(args)

    def emit_each(self, event: str, many: list[tuple[Any, ...]]) -> None:
        """``emit`` for each argument tuple in turn (a message's pieces).

        With one subscriber (the usual case) its context is entered once for
        all of them; with several, each tuple still goes to all of them before
        the next, so the order is the same as emitting one by one.
        """
        subs = self._subs[event]
        if len(subs) == 1:
            subs[0].run_each(many)
        else:
            for args in many:
                for sub in self._subs[event]:
                    sub.run(args)
