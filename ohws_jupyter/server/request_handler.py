"""The server's request hook (an extension): decide on each opening handshake.

``server.setRequestHandler(handler)`` has ``handler(request)`` called with a
:class:`HandshakeRequest` — path, query, headers, ``Origin``, offered
subprotocols, the client's address — before the server answers it. The
handler accepts or refuses with an HTTP status::

    def only_our_pages(request):
        if request.origin != "https://app.example":
            return 403, "cross-site WebSocket requests are refused"
        if request.query.get("ticket") not in tickets:
            return 401
        return None            # accept

What a handler may return:

=================================  ==================================================
``None`` or ``True``               accept (the usual 101 Switching Protocols)
``False``                          refuse with 403 Forbidden
``STATUS``                         refuse with that HTTP status (300–599)
``(STATUS, TEXT)``                 ... and TEXT as the response body
``(STATUS, TEXT, HEADERS)``        ... and a dict of extra response headers
                                   (``Location`` for a redirect, ``Retry-After``)
=================================  ==================================================

The handler runs on a thread of its own (up to :data:`HANDLER_THREADS` at once
per server; more wait for one), never on the network thread, so a handler that
blocks — a database call, a ``time.sleep`` — delays only the handshakes it is
deciding; every other client of every server goes on. It has a deadline,
``setRequestHandler(handler, timeout=...)`` (default
:data:`DEFAULT_HANDLER_TIMEOUT`, 5 s): past it the client gets
``503 Service Unavailable`` and the log names the handler that was slow; its
late answer is ignored.

Every answer is checked before it goes on the wire: the status is 300–599,
header names are HTTP tokens (RFC 9110 section 5.6.2), header values are one
line (no CR, LF, NUL or other control character, ISO-8859-1 only), and the
framing headers (``Content-Length``, ``Transfer-Encoding``, ``Connection``)
are the server's. A handler that raises, or returns anything else, refuses
the request with 500 and a log line that says what was wrong. Every handshake
gets an HTTP answer. A refused client never reaches ``'connect'``.

Nothing here knows about the lab; its handshake misbehaviours use
:func:`refuse` too (see :mod:`ohws_jupyter.server.modes`).
"""

from __future__ import annotations

import http
import logging
import math
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.checks import check_header_name, check_header_value
from ..core.errors import BusinessError
from ..core.masking import mask_headers, mask_url
from ..engine.runtime import IN_BROWSER

if TYPE_CHECKING:
    from websockets.http11 import Request

    from .websocket_server import ServerClient

__all__ = [
    "DEFAULT_HANDLER_TIMEOUT",
    "HANDLER_THREADS",
    "MAX_HANDLER_TIMEOUT",
    "HandshakeRequest",
    "RequestHandler",
    "RequestHook",
    "decision_of",
    "refuse",
]

logger = logging.getLogger("ohws_jupyter.server")

#: What ``setRequestHandler`` takes.
RequestHandler = Callable[["HandshakeRequest"], Any]
#: Seconds a request handler may take before its client gets 503.
DEFAULT_HANDLER_TIMEOUT = 5.0
#: The longest deadline ``setRequestHandler`` accepts, in seconds.
MAX_HANDLER_TIMEOUT = 60.0
#: Threads that run one server's request handler at once; more calls wait for one.
HANDLER_THREADS = 8
#: Seconds an idle handler thread waits for work before it ends.
_IDLE_EXIT = 30.0
# Response headers that frame the refusal; the server writes them itself.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class HandshakeRequest:
    """One opening handshake as the server read it, before it is answered.

    Attributes:
        path: The request path without the query, e.g. ``'/chat'``.
        query: The query parameters (the last value of a repeated name).
        headers: The request headers as sent (names keep their case; see :meth:`header`).
        origin: The ``Origin`` header (browsers always send it), or None.
        protocols: The subprotocols the client offered, in its order.
        clientIP: The client's IP address.
        clientPort: The client's TCP port.
        method: The HTTP method (a WebSocket handshake is ``GET``).
        target: The raw request target, path and query.
    """

    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    origin: str | None
    protocols: list[str]
    clientIP: str
    clientPort: int
    method: str = "GET"
    target: str = field(default="", repr=False)

    @classmethod
    def of(cls, request: Request, address: tuple[str, int]) -> HandshakeRequest:
        """The hook's view of websockets' ``Request`` from ``address``."""
        parts = urllib.parse.urlsplit(request.path)
        headers: dict[str, str] = {}
        for name, value in request.headers.raw_items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        protocols = [
            p.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
            if p.strip()
        ]
        return cls(
            path=parts.path or "/",
            query=dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            origin=request.headers.get("Origin"),
            protocols=protocols,
            clientIP=address[0],
            clientPort=address[1],
            method=request.method,
            target=request.path,
        )

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name``, whatever its case, or ``default``."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default

    def masked(self) -> dict[str, Any]:
        """This request for display: credentials in headers and the query shown as ``***``."""
        return {
            "method": self.method,
            "target": mask_url(f"ws://host{self.target}")[len("ws://host") :],
            "headers": mask_headers(self.headers),
        }

    def __repr__(self) -> str:
        shown = mask_url(f"ws://host{self.target}")[len("ws://host") :]
        return (
            f"HandshakeRequest({self.method} {shown}, origin={self.origin!r}, "
            f"protocols={self.protocols}, client={self.clientIP}:{self.clientPort})"
        )


def decision_of(value: Any) -> tuple[int, str, dict[str, str]] | None:
    """What a handler's return value means: None to accept, else (status, text, headers).

    Raises:
        ValueError: ``value`` is none of the forms the module docstring lists.
    """
    if value is None or value is True:
        return None
    if value is False:
        return 403, "", {}
    parts = value if isinstance(value, tuple) else (value,)
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"a tuple of 1 to 3 items, not {len(parts)}")
    status = parts[0]
    text = parts[1] if len(parts) > 1 else ""
    headers = parts[2] if len(parts) > 2 else {}
    if isinstance(status, bool) or not isinstance(status, int):
        raise ValueError(f"the status must be a whole number, not {status!r}")
    if not 300 <= status <= 599:
        raise ValueError(f"the status must be from 300 to 599, not {status}")
    try:
        http.HTTPStatus(status)
    except ValueError:
        raise ValueError(f"{status} is not an HTTP status") from None
    if not isinstance(text, str):
        raise ValueError(f"the text must be a str, not {type(text).__name__}")
    if not isinstance(headers, Mapping):
        raise ValueError(f"the headers must be a dict of str to str, not {type(headers).__name__}")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"the headers must be a dict of str to str, not {name!r}: {value!r}")
        try:
            check_header_name(name, "response header")
            check_header_value(name, value, "response header")
        except BusinessError as exc:
            raise ValueError(exc.message) from None
        if name.lower() in _FRAMING:
            raise ValueError(f"response header {name!r} is the server's to write; remove it")
    return status, text, dict(headers)


def refuse(
    client: ServerClient,
    request: Request,
    status: int,
    text: str = "",
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer the handshake with HTTP ``status`` (not 101): the connection ends after it."""

    def build(protocol: Any) -> None:
        try:
            response = protocol.reject(status, text or f"{http.HTTPStatus(status).phrase}\n")
            for name, value in (headers or {}).items():
                if name.lower() == "content-type":
                    del response.headers[name]
                response.headers[name] = value
            response.serialize()  # what cannot go on the wire fails here, not mid-send
        except Exception:
            logger.exception("cannot write the HTTP %s answer; answered 500 instead", status)
            response = protocol.reject(500, "the server could not write its answer\n")
        protocol.send_response(response)

    client.conn.send_frames(build)


def _name(handler: Callable[..., Any]) -> str:
    module = getattr(handler, "__module__", None)
    name = getattr(handler, "__qualname__", None) or repr(handler)
    return f"{module}.{name}" if module else name


class _Threads:
    """Up to ``limit`` daemon threads that run queued calls; started on demand.

    Daemon threads: a handler that never returns must not keep the process
    (a kernel) from exiting.
    """

    def __init__(self, limit: int, name: str) -> None:
        self._limit = limit
        self._name = name
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = self._idle = self._waiting = 0

    def submit(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._queue.put(fn)
            self._waiting += 1
            start = self._waiting > self._idle and self._threads < self._limit
            if start:
                self._threads += 1
        if start:
            threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            try:
                fn = self._queue.get(timeout=_IDLE_EXIT)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if self._waiting == 0:
                        self._threads -= 1
                        return
                continue
            with self._lock:
                self._idle -= 1
                self._waiting -= 1
            fn()


class RequestHook:
    """A server's request handler, its deadline and the threads that run it.

    Args:
        handler: Called with each :class:`HandshakeRequest`.
        timeout: Seconds it may take before the client gets 503.

    Raises:
        ValueError: ``handler`` is not callable, or ``timeout`` is not a number
            of seconds above 0 and at most :data:`MAX_HANDLER_TIMEOUT`; the
            message completes "setRequestHandler() ...".
    """

    def __init__(self, handler: RequestHandler, timeout: float = DEFAULT_HANDLER_TIMEOUT) -> None:
        if not callable(handler):
            raise ValueError(f"needs a function or None, not {type(handler).__name__}")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not (math.isfinite(timeout) and 0 < timeout <= MAX_HANDLER_TIMEOUT)
        ):
            raise ValueError(
                f"timeout must be a number of seconds above 0 and at most "
                f"{MAX_HANDLER_TIMEOUT:g}, not {timeout!r}"
            )
        self.handler = handler
        self.timeout = float(timeout)
        self._threads = _Threads(HANDLER_THREADS, "ohws-request-handler")

    def ask(self, client: ServerClient, request: Request, proceed: Callable[[], None]) -> None:
        """Have the handler decide on ``client``'s handshake; I/O thread only.

        The answer comes back on the I/O thread: a refusal is sent, an
        acceptance calls ``proceed()``; past the deadline the client gets 503.
        Nothing happens if the connection ended meanwhile.
        """
        view = client.request
        assert view is not None
        loop = client.conn.loop
        asked = time.monotonic()
        settled = False

        def settle(value: Any, exc: BaseException | None) -> None:
            nonlocal settled
            if settled:  # the deadline passed first: the client has its 503
                logger.warning(
                    "the request handler %s answered %r %.1f s after it was asked, past its "
                    "%g s deadline; its answer was ignored",
                    _name(self.handler),
                    view,
                    time.monotonic() - asked,
                    self.timeout,
                )
                return
            settled = True
            timer.cancel()
            if not client.conn.lost:
                self._answer(client, request, view, value, exc, proceed)

        def overdue() -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            logger.warning(
                "the request handler %s did not answer %r within %g s; refused it with 503 "
                "(make it quicker, or give setRequestHandler() a longer timeout)",
                _name(self.handler),
                view,
                self.timeout,
            )
            if not client.conn.lost:
                refuse(client, request, 503, "the server's request handler did not answer\n")

        def work() -> None:
            try:
                value, exc = self.handler(view), None
            except Exception as error:
                value, exc = None, error
            if IN_BROWSER:
                loop.call_soon(settle, value, exc)
            else:
                loop.call_soon_threadsafe(settle, value, exc)

        timer = loop.call_later(self.timeout, overdue)
        if IN_BROWSER:  # no threads in a page: the handler runs on the page's loop
            loop.call_soon(work)
        else:
            self._threads.submit(work)

    def _answer(
        self,
        client: ServerClient,
        request: Request,
        view: HandshakeRequest,
        value: Any,
        exc: BaseException | None,
        proceed: Callable[[], None],
    ) -> None:
        if exc is not None:
            logger.error(
                "the request handler %s raised on %r; refused it with 500",
                _name(self.handler),
                view,
                exc_info=exc,
            )
            refuse(client, request, 500, "the server's request handler failed\n")
            return
        try:
            decision = decision_of(value)
        except ValueError as err:
            logger.error(
                "the request handler returned %r for %r (%s); refused it with 500. Return "
                "None to accept, or a status such as 403, or (status, text) to refuse "
                "(handler %s)",
                value,
                view,
                err,
                _name(self.handler),
            )
            refuse(client, request, 500, "the server's request handler failed\n")
            return
        if decision is None:
            proceed()
            return
        status, text, headers = decision
        logger.info("= the request handler refused %r with HTTP %s", view, status)
        refuse(client, request, status, text, headers)
