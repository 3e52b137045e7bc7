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

The handler runs on the I/O thread, so it must be quick and must not block.
One that raises, or returns anything else, refuses the request with 500 and
logs the mistake. A refused client never reaches ``'connect'``.

Nothing here knows about the lab; its handshake misbehaviours use
:func:`refuse` too (see :mod:`ohws_jupyter.server.modes`).
"""

from __future__ import annotations

import http
import logging
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.masking import mask_headers, mask_url

if TYPE_CHECKING:
    from websockets.http11 import Request

    from .websocket_server import ServerClient

__all__ = ["HandshakeRequest", "RequestHandler", "answer_request", "decision_of", "refuse"]

logger = logging.getLogger("ohws_jupyter.server")

#: What ``setRequestHandler`` takes.
RequestHandler = Callable[["HandshakeRequest"], Any]


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
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ValueError("the headers must be a dict of str to str")
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
        response = protocol.reject(status, text or f"{http.HTTPStatus(status).phrase}\n")
        for name, value in (headers or {}).items():
            response.headers[name] = value
        protocol.send_response(response)

    client.conn.send_frames(build)


def answer_request(client: ServerClient, request: Request, handler: RequestHandler | None) -> bool:
    """Run the server's request ``handler``; True if it refused (the request is answered).

    Called on the I/O thread by the server before it accepts a handshake.
    """
    if handler is None or client.request is None:
        return False
    view = client.request
    try:
        value = handler(view)
    except Exception:
        logger.exception("the request handler raised on %r; refused it with 500", view)
        refuse(client, request, 500, "the server's request handler failed\n")
        return True
    try:
        decision = decision_of(value)
    except ValueError as exc:
        logger.error(
            "the request handler returned %r for %r (%s); refused it with 500. Return None "
            "to accept, or a status such as 403, or (status, text) to refuse",
            value,
            view,
            exc,
        )
        refuse(client, request, 500, "the server's request handler failed\n")
        return True
    if decision is None:
        return False
    status, text, headers = decision
    logger.info("= the request handler refused %r with HTTP %s", view, status)
    refuse(client, request, status, text, headers)
    return True
