"""The two call forms of every operation: ``op(args)`` → promise, or ``op(args, callback)``.

Client and server methods sort their trailing ``options``/``callback``
arguments here, turn a malformed call into a rejected promise (an OHOS API
reports bad arguments through the callback or the promise, never by raising),
and attach the callback to the promise. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.errors import PARAMETER_ERROR, BusinessError
from .promise import Promise

__all__ = [
    "MISSING",
    "as_parameter_error",
    "bad_callback",
    "finish",
    "missing",
    "split_args",
    "too_many",
]

#: Marks an argument the caller left out: a missing one is a 401, never a TypeError.
MISSING: Any = object()


def split_args(op: str, args: tuple[Any, ...]) -> tuple[Any, Any, Promise[Any] | None]:
    """Sort ``(options?, callback?)``; a malformed call gives a rejected promise."""
    if len(args) > 2:
        return None, None, too_many(op, "options and a callback")
    options, callback = None, None
    if len(args) == 2:
        options, callback = args
        if callback is not None and not callable(callback):
            return None, None, bad_callback(op, callback)
    elif len(args) == 1:
        if callable(args[0]) and not isinstance(args[0], type):
            callback = args[0]
        else:
            options = args[0]
    return options, callback, None


def missing(op: str, what: str) -> Promise[Any]:
    """The rejected promise of a call that left out a required argument."""
    return Promise.rejected(BusinessError(PARAMETER_ERROR, f"{op}() needs {what}"), op)


def too_many(op: str, what: str) -> Promise[Any]:
    """The rejected promise of a call with too many arguments."""
    return Promise.rejected(BusinessError(PARAMETER_ERROR, f"{op}() takes at most {what}"), op)


def bad_callback(op: str, callback: Any) -> Promise[Any]:
    """The rejected promise of a call whose callback is not callable."""
    return Promise.rejected(
        BusinessError(
            PARAMETER_ERROR, f"{op}() callback must be callable, not {type(callback).__name__}"
        ),
        op,
    )


def as_parameter_error(exc: BaseException) -> BusinessError:
    """A validation failure as a ``BusinessError``; anything unforeseen becomes a 401."""
    if isinstance(exc, BusinessError):
        return exc
    err = BusinessError(PARAMETER_ERROR, f"invalid argument ({type(exc).__name__}: {exc})")
    err.__cause__ = exc
    return err


def finish(
    promise: Promise[Any],
    callback: Callable[..., Any] | None,
    errors: Callable[[BaseException], BaseException] | None = None,
) -> Promise[Any] | None:
    """The promise itself, or None with ``callback(err, value)`` attached (callback form).

    ``errors`` words an error the promise was already rejected with (the
    object's context's ``localize``); later ones its lane words.
    """
    if errors is not None:
        promise.reword(errors)
    if callback is None:
        return promise
    promise.add_callback(callback)
    return None
