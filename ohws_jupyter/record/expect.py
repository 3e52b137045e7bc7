"""Expectations and request/reply over a WebSocket's whole received messages.

:func:`expect` returns a promise of the first received message that matches;
:func:`request` sends a message and returns a promise of the reply paired with
it. Both watch the connection with ``WebSocket.watch``, so they see whole
messages (never 4 KiB pieces) and need no ``'message'`` callback::

    p = expect(ws, {"type": "joined"}, timeout=5)   # or ws.expect(...)
    ws.send('{"type": "join"}')
    await p                                          # the matching message

    reply = await request(ws, {"op": "add", "a": 1, "b": 2})   # paired by "id"

A match is one of:

* a ``dict``: the message is JSON and the dict is a subset of it (nested dicts
  compare as subsets too, every other value as JSON, :func:`same_json`: ``1``
  is not ``true`` nor ``"1"``, but is ``1.0``);
* a compiled regular expression: ``pattern.search(message)`` finds something;
* a ``str`` or ``bytes``: the message is exactly that;
* a callable: ``match(message)`` is true (one that raises counts as no match,
  and the failure message says so).

A promise that times out, or whose connection closes first, rejects with
:class:`ExpectationError`: ``expected …, last received …``. Matching runs on
the I/O thread as each message arrives, so a callable must be quick.
"""

from __future__ import annotations

import collections
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from ..core.errors import PARAMETER_ERROR, UNKNOWN_ERROR, BusinessError
from ..core.events import Record
from ..engine.promise import Promise
from ..engine.timers import Timer, call_later
from .transcript import note_round_trip, shown

__all__ = [
    "DEFAULT_TIMEOUT",
    "MATCH_KINDS",
    "ExpectationError",
    "Match",
    "describe",
    "expect",
    "expect_record",
    "matcher",
    "parse_match",
    "request",
    "same_json",
]

#: What a message is matched against: a callable ``match(message) -> bool``, a compiled
#: regular expression, the exact ``str`` or ``bytes``, or a dict the message's JSON holds.
Match: TypeAlias = (
    Callable[[Any], object] | re.Pattern[str] | re.Pattern[bytes] | str | bytes | Mapping[str, Any]
)

#: Seconds ``expect`` and ``request`` wait when no timeout is given.
DEFAULT_TIMEOUT = 10.0
_SHOWN = 120
_ids = itertools.count(1)


class ExpectationError(BusinessError, AssertionError):
    """An expected message did not arrive in time, or the connection closed first.

    A ``BusinessError`` (code 2302999) like every failure of the API, and an
    ``AssertionError``, so a test or a grader counts it as a failed check.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(UNKNOWN_ERROR, detail)
        self.message = detail
        self.args = (detail,)

    def __str__(self) -> str:
        return self.message


# -- matchers ------------------------------------------------------------------------
def _json(message: Any) -> Any:
    if isinstance(message, (bytes, bytearray)):
        message = bytes(message).decode("utf-8")
    return json.loads(message)


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _subset(value, actual[key]) for key, value in expected.items()
        )
    return same_json(expected, actual)


def _json_kind(value: Any) -> str:
    # JSON's kinds: a bool is not a number (Python's True == 1 is not JSON's), and
    # an int and a float are one kind, as JSON and JavaScript have one number type.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def same_json(a: Any, b: Any) -> bool:
    """Whether two values are the same JSON value: same kind, then same value.

    ``1`` is not ``True`` and ``"1"`` is not ``1``; ``1`` is ``1.0`` (JSON has
    one number type, and a JavaScript peer sends ``1.0`` back as ``1``). Arrays
    and objects compare item by item with the same rule.
    """
    kind = _json_kind(a)
    if kind != _json_kind(b):
        return False
    if kind == "object":
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if kind == "array":
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def describe(match: Any) -> str:
    """How a failure message names ``match``."""
    if isinstance(match, re.Pattern):
        return f"a message matching /{match.pattern!s}/"
    if isinstance(match, Mapping):
        try:
            text = json.dumps(match, ensure_ascii=False, sort_keys=False)
        except (TypeError, ValueError):
            text = repr(match)
        return f"JSON containing {text}"
    if isinstance(match, (str, bytes)):
        return shown(match, _SHOWN)
    name = getattr(match, "__name__", None) or type(match).__name__
    return f"a message for which {name}() is true"


def matcher(match: Any) -> Callable[[Any], bool]:
    """The test ``match`` stands for (see the module docstring).

    Raises:
        BusinessError: 401 when ``match`` is none of the supported kinds.
    """
    if isinstance(match, re.Pattern):
        pattern = match

        def search(message: Any) -> bool:
            if isinstance(message, str) != isinstance(pattern.pattern, str):
                return False  # a str pattern never matches bytes, nor the reverse
            return pattern.search(message) is not None

        return search
    if isinstance(match, Mapping):
        expected = dict(match)

        def contains(message: Any) -> bool:
            try:
                return _subset(expected, _json(message))
            except (ValueError, UnicodeDecodeError):
                return False  # not JSON: cannot contain the dict

        return contains
    if isinstance(match, (str, bytes)):
        return lambda message: bool(message == match)
    if callable(match):
        return lambda message: bool(match(message))
    raise BusinessError(
        PARAMETER_ERROR,
        f"match must be a dict, a regular expression (re.compile), a str, bytes or a "
        f"callable, not {type(match).__name__}",
    )


#: How typed text becomes a match (``%ws expect`` and the panel's Expect field).
MATCH_KINDS = ("text", "regex", "json")


def parse_match(text: str, kind: str = "text") -> Any:
    """A match from typed text: the exact message, a regular expression, or a JSON object.

    The one rule behind ``%ws expect [--regex|--json]`` and the panel's Expect
    field; each words the error for its own user.

    Raises:
        BusinessError: 401 for an unknown kind, an empty text, a regular
            expression that does not compile, or JSON that is not an object.
    """
    if kind not in MATCH_KINDS:
        raise BusinessError(
            PARAMETER_ERROR, f"match kind must be one of {', '.join(MATCH_KINDS)}, not {kind!r}"
        )
    if not isinstance(text, str) or not text.strip():
        raise BusinessError(
            PARAMETER_ERROR, "type what to expect: the message, a regular expression or JSON"
        )
    if kind == "text":
        return text
    if kind == "regex":
        try:
            return re.compile(text)
        except re.error as exc:
            raise BusinessError(
                PARAMETER_ERROR, f"{text!r} is not a regular expression: {exc}"
            ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BusinessError(
            PARAMETER_ERROR,
            f"not valid JSON: {exc.msg} (column {exc.colno}); write an object such as "
            '{"type": "joined"}',
        ) from None
    if not isinstance(value, dict):
        raise BusinessError(
            PARAMETER_ERROR, 'JSON to expect must be an object such as {"type": "joined"}'
        )
    return value


def _check_timeout(timeout: Any, op: str) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise BusinessError(
            PARAMETER_ERROR, f"{op}() timeout must be seconds, not {type(timeout).__name__}"
        )
    if not timeout > 0 or timeout == float("inf"):
        raise BusinessError(
            PARAMETER_ERROR, f"{op}() timeout must be more than 0 seconds, not {timeout}"
        )
    return float(timeout)


# -- the waiting ---------------------------------------------------------------------------
def _identity(rec: Record) -> tuple[Any, ...]:
    """What tells one record from another, whoever made the ``Record`` object."""
    data = rec.data if isinstance(rec.data, (str, bytes, type(None))) else id(rec.data)
    return (rec.time, rec.kind, rec.direction, data, rec.pieces, rec.code, rec.reason)


class _Waiter:
    """Watches one WebSocket until a received message passes ``test``, or gives up."""

    def __init__(
        self,
        ws: Any,
        test: Callable[[Any], bool],
        what: str,
        timeout: float | None,
        promise: Promise[Any],
        on_match: Callable[[Record], None] | None = None,
        *,
        whole: bool = False,
    ) -> None:
        self.ws = ws
        self.whole = whole
        self.test = test
        self.what = what
        self.timeout = timeout
        self.promise = promise
        self.on_match = on_match
        self.lock = threading.Lock()
        self.done = False
        self.seen = 0
        self.failures = 0
        self.failure: BaseException | None = None
        self.last: Record | None = None
        self.matched: Record | None = None
        self.started = time.monotonic()
        self.timer: Timer | None = None
        self.stop: Callable[[], None] | None = None
        # While the backlog is checked, live records wait here, in order.
        self.held: list[Record] | None = []

    def start(self, backlog: Iterable[Record] = ()) -> None:
        # Watch first, holding live records back, so nothing slips between the
        # backlog and the live stream; then the held ones, minus any seen twice.
        self.stop = self.ws.watch(self._observe)
        old = list(backlog)
        # ws.history() makes its records anew: the held ones are known by content.
        known = collections.Counter(map(_identity, old))
        for rec in old:
            if self.done:
                break
            self._consider(rec, live=False)
        while True:
            with self.lock:
                held = self.held
                if not held:
                    self.held = None  # from now on the observer considers records itself
                    break
                self.held = []
            for rec in held:
                key = _identity(rec)
                if known[key] > 0:
                    known[key] -= 1  # in the backlog already
                elif not self.done:
                    self._consider(rec, live=True)
        if self.done:
            self._unwatch()
        elif self.timeout is not None:
            self.timer = call_later(self.timeout, self._expire)

    def _observe(self, rec: Record) -> None:
        with self.lock:
            if self.held is not None:
                self.held.append(rec)
                return
        if not self.done:
            self._consider(rec, live=True)

    def _consider(self, rec: Record, *, live: bool) -> None:
        if rec.kind == "message" and rec.direction == "<":
            self.seen += 1
            self.last = rec
            try:
                ok = self.test(rec.data)
            except Exception as exc:
                self.failures += 1
                self.failure = exc
                ok = False
            if ok:
                self.matched = rec
                value = rec if self.whole else rec.data
                self._settle(lambda: self.promise.resolve(value), rec)
        elif rec.kind == "message":
            self.on_sent(rec)
        elif live and rec.kind == "close":
            how = f"{rec.code} {rec.reason!r}" if rec.reason else f"{rec.code}"
            self._fail(f", but the connection closed ({how}) first;")

    def on_sent(self, rec: Record) -> None:
        """A sent message went by (``request`` pairs its own one)."""

    def _settle(self, settle: Callable[[], None], rec: Record | None) -> None:
        with self.lock:
            if self.done:
                return
            self.done = True
        if self.timer is not None:
            self.timer.cancel()
        self._unwatch()
        if rec is not None and self.on_match is not None:
            self.on_match(rec)
        settle()

    def _unwatch(self) -> None:
        stop, self.stop = self.stop, None
        if stop is not None:
            stop()

    def _expire(self) -> None:
        self._fail(f" within {self.timeout:g} s,")

    def _fail(self, why: str) -> None:
        self._settle(lambda: self.promise.reject(ExpectationError(self.text(why))), None)

    def cancel(self, error: BaseException) -> None:
        self._settle(lambda: self.promise.reject(error), None)

    def text(self, why: str) -> str:
        if self.last is None:
            last = "nothing received"
        else:
            last = f"last received {shown(self.last.data, _SHOWN)}"
            if self.seen > 1:
                last += f" ({self.seen} messages, none matched)"
        if self.failures:
            name = type(self.failure).__name__
            last += f"; the match function raised {name} on {self.failures} of them"
        return f"expected {self.what}{why} {last}"


def expect(
    ws: Any,
    match: Any,
    timeout: float | None = DEFAULT_TIMEOUT,
    *,
    backlog: Iterable[Record] = (),
) -> Promise[Any]:
    """A promise of the first whole message received on ``ws`` that matches ``match``.

    Create it before sending what should cause the message, so a quick answer
    cannot slip past.

    Args:
        ws: The WebSocket.
        match: A dict (JSON subset), a compiled regular expression, a str or bytes
            (exact), or a callable ``match(message) -> bool``.
        timeout: Seconds to wait; None waits until the connection closes.
        backlog: Records received earlier to look at first, oldest first
            (e.g. part of ``ws.history()``).

    Returns:
        A promise of the message; it rejects with :class:`ExpectationError`
        (``"expected …, last received …"``) on timeout or when the connection
        closes first, and with a 401 ``BusinessError`` for bad arguments.
    """
    return _expect(ws, match, timeout, backlog, whole=False)


def expect_record(
    ws: Any,
    match: Any,
    timeout: float | None = DEFAULT_TIMEOUT,
    *,
    backlog: Iterable[Record] = (),
) -> Promise[Record]:
    """Like :func:`expect`, but the promise is of the matching ``Record`` (time included)."""
    return _expect(ws, match, timeout, backlog, whole=True)


def _expect(
    ws: Any, match: Any, timeout: float | None, backlog: Iterable[Record], *, whole: bool
) -> Promise[Any]:
    try:
        test = matcher(match)
        seconds = _check_timeout(timeout, "expect")
    except BusinessError as err:
        return Promise.rejected(err, "expect")
    what = describe(match)
    promise: Promise[Any] = Promise(f"expect({what})")
    _Waiter(ws, test, what, seconds, promise, whole=whole).start(backlog)
    return promise


class _Request(_Waiter):
    """A waiter that also notes its own sent message, to pair the round trip."""

    def __init__(
        self,
        payload: str | bytes,
        key: Any,
        ws: Any,
        test: Callable[[Any], bool],
        what: str,
        timeout: float | None,
        promise: Promise[Any],
    ) -> None:
        super().__init__(ws, test, what, timeout, promise, on_match=self._paired)
        self.payload = payload
        self.key = key
        self.sent: Record | None = None

    def on_sent(self, rec: Record) -> None:
        if self.sent is None and rec.direction == ">" and rec.data == self.payload:
            self.sent = rec

    def _paired(self, reply: Record) -> None:
        if self.sent is not None:
            note_round_trip(self.ws, self.sent, reply, self.key)


def request(
    ws: Any, data: Any, match: Any = "id", timeout: float | None = DEFAULT_TIMEOUT
) -> Promise[Any]:
    """Send ``data`` and return a promise of the reply paired with it.

    Args:
        ws: The WebSocket (open).
        data: A dict or list (sent as JSON text), a str, or bytes.
        match: A JSON key (default ``'id'``): the reply is the first JSON message
            carrying the same JSON value under that key, same kind and value
            (:func:`same_json`: id ``1`` is answered by ``1`` or ``1.0``, never by
            ``true`` or ``"1"``); a dict without the key gets a
            fresh number. Or any match of :func:`expect` but a str: a dict the reply
            contains, a regular expression, a callable ``match(reply) -> bool``.
        timeout: Seconds to wait for the reply; None waits until the connection closes.

    Returns:
        A promise of the reply message. The pair goes into the transcript
        (``RoundTrip`` with its round-trip time).
    """
    try:
        seconds = _check_timeout(timeout, "request")
        payload, key, test, what = _pairing(data, match)
    except BusinessError as err:
        return Promise.rejected(err, "request")
    promise: Promise[Any] = Promise("request")
    waiter = _Request(payload, key, ws, test, what, seconds, promise)
    waiter.start()
    sending = ws.send(payload)

    def sent(err: BaseException | None, ok: Any) -> None:
        if err is not None:
            waiter.cancel(err)

    sending.add_callback(sent)
    return promise


def _pairing(data: Any, match: Any) -> tuple[str | bytes, Any, Callable[[Any], bool], str]:
    """The payload, the key value, the reply test and its description."""
    if isinstance(match, str):
        if not match:
            raise BusinessError(PARAMETER_ERROR, "request() match key must not be empty")
        if isinstance(data, (dict, list)):
            message = data
            if isinstance(message, dict) and match not in message:
                message = {match: next(_ids), **message}
            payload: str | bytes = _dumps(message)
        elif isinstance(data, (str, bytes, bytearray)):
            payload = data if isinstance(data, str) else bytes(data)
            try:
                message = _json(payload)
            except (ValueError, UnicodeDecodeError):
                raise BusinessError(
                    PARAMETER_ERROR,
                    f"request() pairs replies by the JSON key {match!r}, but the data is not "
                    "JSON; send a dict, or pass match=callable",
                ) from None
        else:
            raise BusinessError(
                PARAMETER_ERROR,
                f"request() data must be a dict, list, str or bytes, not {type(data).__name__}",
            )
        if not isinstance(message, dict) or match not in message:
            raise BusinessError(
                PARAMETER_ERROR,
                f"request() pairs replies by {match!r}, but the message has no {match!r}; "
                f"add one or pass match=callable",
            )
        value = message[match]

        def same_key(reply: Any) -> bool:
            try:
                body = _json(reply)
            except (ValueError, UnicodeDecodeError):
                return False
            return isinstance(body, dict) and match in body and same_json(body[match], value)

        shown_value = json.dumps(value, ensure_ascii=False)
        return payload, value, same_key, f"a reply with {match}={shown_value}"
    if isinstance(data, (dict, list)):
        payload = _dumps(data)
    elif isinstance(data, (str, bytes, bytearray)):
        payload = data if isinstance(data, str) else bytes(data)
    else:
        raise BusinessError(
            PARAMETER_ERROR,
            f"request() data must be a dict, list, str or bytes, not {type(data).__name__}",
        )
    try:
        test = matcher(match)
    except BusinessError:
        raise BusinessError(
            PARAMETER_ERROR,
            "request() match must be a JSON key such as 'id', a dict the reply contains, "
            f"a regular expression or a callable, not {type(match).__name__}",
        ) from None
    return payload, None, test, f"a reply that is {describe(match)}"


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise BusinessError(PARAMETER_ERROR, f"request() data is not JSON: {exc}") from exc
