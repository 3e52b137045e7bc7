"""One recorded run of ``compare``: its steps, and the objects that record them.

A :class:`Run` keeps every :class:`Step` of one profile's run, each with its
time in milliseconds since the run started. The code under comparison gets a
:class:`RunNamespace` in place of ``webSocket``: its ``createWebSocket()`` and
``createWebSocketServer()`` return the real objects of the run's profile,
wrapped so that every call, every result (a promise's outcome, a value, an
exception), every callback the code registered and every change of state
(seen through ``watch``) becomes a step. The wrappers subscribe nothing of
their own: the code's callbacks are wrapped where it registers them, so the
device's one-callback-per-event rule and its "no ``'dataEnd'`` without a
``'message'`` listener" see exactly what the code did.

Values are written down so that the two runs compare: each run's peer URL
reads ``<peer>``, a server the code started reads ``<server>``, a client
connection reads ``conn1``, ``conn2`` ... in order of appearance, handshake
headers that differ on every connection (``Date``, the key and accept) read
``…``, and credentials are masked. No Jupyter here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import webSocket as _ohos
from ..client.websocket import CLIENT_EVENTS, WebSocket, createWebSocket
from ..core.aliases import CLIENT_ALIASES, SERVER_ALIASES
from ..core.errors import BusinessError
from ..core.events import Record, adapt
from ..core.masking import mask_headers, mask_urls_in
from ..engine.promise import Promise
from ..server.config import WebSocketConnection, WebSocketMessage
from ..server.websocket_server import SERVER_EVENTS, WebSocketServer, createWebSocketServer

__all__ = [
    "MAX_STEPS",
    "Args",
    "Run",
    "RunNamespace",
    "Step",
    "make",
]

#: Most steps one run keeps; past it, one last step says how many were left out.
MAX_STEPS = 10_000
#: Characters of a value shown; the comparison still uses the whole value.
SHOWN_CHARS = 40
# Handshake headers whose value is new on every connection.
_VOLATILE_HEADERS = frozenset({"date", "sec-websocket-accept", "sec-websocket-key"})
# "<function f at 0x7f...>": an address differs from run to run.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# Calls whose trailing callable is an operation's callback(err, value).
_OPERATIONS = frozenset({"connect", "send", "close", "start", "stop", "listAllConnections"})
# Calls that subscribe a callback to an event.
_SUBSCRIBE = frozenset({"on", "once", "off"})


def make(factory: Callable[..., Any], profile: str) -> Any:
    """Create one object of ``profile``: the one place where a run's objects get it."""
    return factory(profile=profile)


@dataclasses.dataclass(frozen=True)
class Step:
    """One thing that happened in a run.

    Attributes:
        ms: When, in milliseconds since the run started.
        what: What happened, named the same in both runs: ``ws.connect()`` (a
            call, its arguments as value), ``ws.connect() →`` (a promise's or a
            callback's outcome), ``ws.connect() returned`` / ``raised``,
            ``ws event 'message'`` (a callback of the code was called),
            ``ws: close`` (a change of state that ``watch`` reported),
            ``fn returned`` / ``fn raised``, ``ws left open``.
        value: The value, as shown.
        key: What the comparison compares: the whole value, or its digest
            when it is long.
    """

    ms: float
    what: str
    value: str
    key: str

    def __str__(self) -> str:
        return f"{self.ms:9.1f} ms  {self.what}  {self.value}"


class Run:
    """The steps of one profile's run, oldest first.

    Attributes:
        profile: ``'seed'`` or ``'device'``.
        peer: The URL of the run's peer, or None.
        steps: What happened (see :class:`Step`).
        clients: ``(name, WebSocket)`` of every client the code created.
        servers: ``(name, WebSocketServer)`` of every server the code created.
    """

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.peer: str | None = None
        self.steps: list[Step] = []
        self.clients: list[tuple[str, WebSocket]] = []
        self.servers: list[tuple[str, WebSocketServer]] = []
        self._names: dict[str, int] = {}
        self._connections: dict[tuple[str, int], str] = {}
        self._places: dict[str, str] = {}
        self._left_out = 0
        self._start = time.monotonic()
        self._changed = threading.Condition()

    def __repr__(self) -> str:
        peer = f" peer={self.peer!r}" if self.peer else ""
        lines = [f"<Run {self.profile}: {len(self.steps)} steps{peer}>"]
        lines += [f"  {step}" for step in self.steps]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def __iter__(self) -> Any:
        return iter(list(self.steps))

    def __len__(self) -> int:
        return len(self.steps)

    # -- recording ------------------------------------------------------------------------
    def restart_clock(self) -> None:
        """Count the steps' times from now (the moment the code under comparison starts)."""
        self._start = time.monotonic()

    def add(self, what: str, value: Any = "", *, full: str | None = None, text: str = "") -> None:
        """Keep one step: ``value`` written down, or ``full`` and ``text`` written already.

        ``full`` is what the comparison compares; ``text`` what is shown of it.
        """
        if full is None:
            full = self.show(value, None)
            text = full if len(full) <= SHOWN_CHARS else self.show(value, SHOWN_CHARS)
        key = full if len(full) <= 200 else hashlib.sha1(full.encode()).hexdigest()
        with self._changed:
            # Timed under the lock: the steps' order is their times' order.
            ms = (time.monotonic() - self._start) * 1000
            if len(self.steps) < MAX_STEPS - 1:
                self.steps.append(Step(round(ms, 1), what, _cut(text or full, SHOWN_CHARS), key))
            else:
                self._left_out += 1
                last = Step(round(ms, 1), "…", f"{self._left_out} more steps not kept", "…")
                if len(self.steps) == MAX_STEPS:
                    self.steps[-1] = last
                else:
                    self.steps.append(last)
            self._changed.notify_all()

    def wait_quiet(self, quiet: float, deadline: float) -> None:
        """Return once no step came for ``quiet`` seconds, or at ``deadline`` (monotonic)."""
        with self._changed:
            while True:
                count = len(self.steps) + self._left_out
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(min(quiet, left))
                if len(self.steps) + self._left_out == count:
                    return

    def wait_for(self, done: Callable[[], bool], deadline: float) -> bool:
        """Wait until ``done()`` (checked at each new step, and every 50 ms) or ``deadline``."""
        with self._changed:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(0.05, left))
        return True

    def name(self, kind: str) -> str:
        """A name for the next object of ``kind``: ``ws``, ``ws2``, ..."""
        count = self._names[kind] = self._names.get(kind, 0) + 1
        return kind if count == 1 else f"{kind}{count}"

    def place(self, url: str | None, name: str) -> None:
        """Write ``url`` (where a server of the run listens) as ``<name>`` from now on."""
        if url:
            with self._changed:
                self._places[url] = f"<{name}>"
                self._places[url.split("://", 1)[-1]] = f"<{name}>"

    # -- values -----------------------------------------------------------------------------
    def show(self, value: Any, limit: int | None) -> str:
        """``value`` as the two runs can compare it (see the module's docstring)."""
        return _cut(self._text(value, limit), limit)

    def _text(self, value: Any, limit: int | None) -> str:
        if isinstance(value, Args):
            return ", ".join(self._text(v, limit) for v in value)
        if isinstance(value, str):
            text = repr(value) if limit is None or len(value) <= limit else repr(value[:limit])
            text = self._places_in(mask_urls_in(text))
            if limit is not None and len(value) > limit:
                text = f"{text[:-1]}…{text[-1]} ({len(value):,} chars)"
            return text
        if isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            if limit is not None and len(data) > limit:
                return f"{data[:limit]!r}… ({len(data):,} bytes)"
            return repr(data)
        if isinstance(value, BusinessError):
            extra = f", data {self._text(value.data, limit)}" if value.data is not None else ""
            return f"BusinessError {value.code}: {self._places_in(mask_urls_in(str(value)))}{extra}"
        if isinstance(value, BaseException):
            return f"{type(value).__name__}: {self._places_in(mask_urls_in(str(value)))}"
        if isinstance(value, WebSocketConnection):
            return self.connection(value)
        if isinstance(value, WebSocketMessage):
            return f"{self._text(value.data, limit)} from {self.connection(value.clientConnection)}"
        if isinstance(value, Promise):
            return "a promise"
        if inspect.isroutine(value) or isinstance(value, functools.partial):
            return f"<function {getattr(value, '__qualname__', type(value).__name__)}>"
        if isinstance(value, Mapping):
            # A header or option that carries a credential shows as mask_headers shows it.
            masked = mask_headers({str(k): "" for k in value})
            shown = (
                f"{k!r}: {self._item(str(k), v, masked.get(str(k)) == '***', limit)}"
                for k, v in value.items()
            )
            return "{" + ", ".join(shown) + "}"
        if isinstance(value, list | tuple):
            inner = ", ".join(self._text(v, limit) for v in value)
            return f"[{inner}]" if isinstance(value, list) else f"({inner})"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = ", ".join(
                f"{f.name}={self._text(getattr(value, f.name), limit)}"
                for f in dataclasses.fields(value)
            )
            return f"{type(value).__name__}({fields})"
        return self._places_in(mask_urls_in(repr(value)))

    def _item(self, key: str, value: Any, secret: bool, limit: int | None) -> str:
        if secret:
            return "'***'"
        if key.lower() in _VOLATILE_HEADERS:
            return "…"
        return self._text(value, limit)

    def _places_in(self, text: str) -> str:
        with self._changed:
            for name, server in self.servers:
                self.place(server.url, name)  # the URL is known while it runs
            # Longest first: a URL before the host:port it contains.
            places = sorted(self._places.items(), key=lambda item: len(item[0]), reverse=True)
        for where, name in places:
            if where in text:
                text = text.replace(where, name)
        return _ADDRESS.sub("", text)

    def connection(self, info: WebSocketConnection) -> str:
        """``conn1``, ``conn2`` ...: client connections by order of appearance in this run."""
        key = (info.clientIP, info.clientPort)
        with self._changed:
            if key not in self._connections:
                self._connections[key] = f"conn{len(self._connections) + 1}"
            return self._connections[key]

    def record(self, name: str, record: Record, conn: WebSocketConnection | None = None) -> None:
        """A change of state that ``watch`` reported on the object called ``name``."""
        if record.kind in ("ping", "pong"):
            return  # keepalive: when it happens is timing, not behaviour
        # A message's direction is part of its name: the n-th one sent faces the n-th sent.
        what = f"{name}: {record.kind}"
        if record.kind == "message":
            what += f" {record.direction}"
        parts = []
        if conn is not None:
            parts.append(self.connection(conn))
        data: Any = None
        tail = ""
        if record.kind == "message":
            data = record.data
            tail = f" in {record.pieces} pieces" if record.pieces > 1 else ""
        elif record.kind in ("closing", "close"):
            parts.append(f"{record.code} {self.show(record.reason or '', None)}")
        elif record.kind == "error":
            data = record.error
        elif record.kind == "connect":
            parts.append("path" if conn is not None else "")
            data = record.data
        elif record.kind == "open" and record.data:
            parts.append("protocol")
            data = record.data
        head = " ".join(p for p in parts if p)
        if data is None:
            self.add(what, full=head)
            return
        full = f"{head} {self.show(data, None)}{tail}".strip()
        text = f"{head} {self.show(data, SHOWN_CHARS // 2)}{tail}".strip()
        self.add(what, full=full, text=text)


class Args(tuple[Any, ...]):
    """A call's arguments, shown as written: ``'hi', {'code': 1000}``."""

    __slots__ = ()


def _cut(text: str, limit: int | None) -> str:
    """At most twice ``limit`` characters of ``text``."""
    if limit is None or len(text) <= limit * 2:
        return text
    return text[: limit * 2 - 1] + "…"


# -- the wrappers ------------------------------------------------------------------------------
class _Recorded:
    """Forwards to the object it wraps, and records the calls the code makes on it.

    ``isinstance`` still sees the wrapped class, so code that checks types runs
    as it would on the object itself.
    """

    __slots__ = ("_aliases", "_arity", "_callbacks", "_name", "_run", "_target")

    def __init__(
        self,
        target: Any,
        run: Run,
        name: str,
        arity: Mapping[str, int],
        aliases: Mapping[str, str],
    ) -> None:
        set_ = object.__setattr__
        set_(self, "_target", target)
        set_(self, "_run", run)
        set_(self, "_name", name)
        set_(self, "_arity", arity)
        set_(self, "_aliases", aliases)
        set_(self, "_callbacks", {})

    # isinstance() sees the class of the wrapped object; mypy refuses to redefine it.
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._target)

    def __repr__(self) -> str:
        return repr(self._target)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __dir__(self) -> list[str]:
        return dir(self._target)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name.startswith("_") or not callable(attr):
            return attr
        for prefix in ("on", "off"):
            event = self._aliases.get(name[len(prefix) :]) if name.startswith(prefix) else None
            if event is not None:
                method = getattr(self._target, prefix)
                return lambda *args: self._call(prefix, method, (event, *args))
        return lambda *args, **kwargs: self._call(name, attr, args, kwargs)

    def _call(
        self,
        name: str,
        method: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        run, what = self._run, f"{self._name}.{name}()"
        run.add(what, Args(args + ((kwargs,) if kwargs else ())))
        if name in _SUBSCRIBE and args and callable(args[-1]) and len(args) >= 2:
            args = (*args[:-1], self._listener(str(args[0]), args[-1], name != "off"))
        elif name in _OPERATIONS and args and callable(args[-1]):
            args = (*args[:-1], self._operation_callback(what, args[-1]))
        try:
            out = method(*args, **(kwargs or {}))
        except BaseException as exc:
            run.add(f"{what} raised", exc)
            raise
        if isinstance(out, Promise):
            out.add_callback(lambda err, value: run.add(f"{what} →", err or value))
        elif out is not None or name not in _SUBSCRIBE:
            run.add(f"{what} returned", out)
        return out

    def _listener(self, event: str, callback: Callable[..., Any], new: bool) -> Callable[..., Any]:
        """The wrapper that records ``event`` and calls the code's ``callback``."""
        key = (event, callback)
        known = self._callbacks.get(key)
        if known is not None or not new:
            return known or callback
        run, what = self._run, f"{self._name} event {event!r}"
        call = adapt(callback, self._arity.get(event, 0))

        def listener(*args: Any) -> Any:
            shown = args[1:] if len(args) > 1 and args[0] is None else args
            run.add(what, shown[0] if len(shown) == 1 else shown)
            try:
                return call(args)
            except Exception as exc:
                run.add(f"{what} callback raised", exc)
                raise

        self._callbacks[key] = listener
        return listener

    def _operation_callback(self, what: str, callback: Callable[..., Any]) -> Callable[..., Any]:
        run = self._run
        call = adapt(callback, 2, trailing=False)

        def done(err: Any = None, value: Any = None) -> Any:
            run.add(f"{what} →", err or value)
            return call((err, value))

        return done


class RunNamespace:
    """``webSocket`` as the code under comparison sees it in one run.

    Every name of :mod:`ohws_jupyter.webSocket` is here; ``createWebSocket()``
    and ``createWebSocketServer()`` (and their snake_case twins) create objects
    of this run's profile and record what happens on them.

    Attributes:
        profile: The run's profile, ``'seed'`` or ``'device'``.
    """

    def __init__(self, run: Run) -> None:
        self._run = run
        self.profile = run.profile

    def __repr__(self) -> str:
        return f"<webSocket of the {self.profile} run of compare()>"

    def __dir__(self) -> list[str]:
        return sorted({*_ohos.__all__, "create_websocket", "create_websocket_server", "profile"})

    def __getattr__(self, name: str) -> Any:
        if name in _ohos.__all__:
            return getattr(_ohos, name)
        raise AttributeError(f"webSocket has no attribute {name!r}")

    def createWebSocket(self) -> WebSocket:
        """A client of this run's profile, recorded (OHOS ``webSocket.createWebSocket()``)."""
        run = self._run
        ws = make(createWebSocket, run.profile)
        name = run.name("ws")
        run.clients.append((name, ws))
        ws.watch(lambda record: run.record(name, record))
        # The proxy stands for the WebSocket: every call goes through to it.
        return _Recorded(ws, run, name, CLIENT_EVENTS, CLIENT_ALIASES)  # type: ignore[return-value]

    def createWebSocketServer(self) -> WebSocketServer:
        """A server of this run's profile, recorded (OHOS ``webSocket.createWebSocketServer()``)."""
        run = self._run
        server = make(createWebSocketServer, run.profile)
        name = run.name("server")
        run.servers.append((name, server))
        server.watch(lambda conn, record: run.record(name, record, conn))
        # The proxy stands for the server: every call goes through to it.
        return _Recorded(server, run, name, SERVER_EVENTS, SERVER_ALIASES)  # type: ignore[return-value]

    create_websocket = createWebSocket
    create_websocket_server = createWebSocketServer
