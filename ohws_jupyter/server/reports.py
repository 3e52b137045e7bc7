"""What the server reports: the errors of a failed start or a failed client,
how a client ended under the ``device`` profile, the portability warnings of a
config, and the list ``listAllConnections()`` returns.
"""

from __future__ import annotations

import errno
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

from ..core import device as _device
from ..core.errors import (
    CONNECTION_ERROR,
    PORT_IN_USE,
    SERVER_ADDRESS_ERROR,
    SERVER_PORT_ERROR,
    UNKNOWN_ERROR,
    BusinessError,
)
from ..core.options import CloseResult
from ..core.profile import portability_warning
from ..engine.closing import failure_of
from ..engine.connection import Connection
from .config import WebSocketConnection, WebSocketServerConfig, missing_limits

if TYPE_CHECKING:
    from .websocket_server import ServerClient

__all__ = [
    "CLIENT_SEND_LIMIT",
    "CLIENT_STALL_LIMIT",
    "ConnectionList",
    "bind_error",
    "device_end",
    "failure_error",
    "warn_limits",
    "warn_server_close",
]

#: Bytes that may wait for one client before it is judged by its progress (1008).
CLIENT_SEND_LIMIT = 16 * 1024 * 1024
#: Seconds a client with more than CLIENT_SEND_LIMIT bytes waiting may take none of them.
CLIENT_STALL_LIMIT = 10.0


def device_end(
    client: ServerClient, info: WebSocketConnection, exc: BaseException | None
) -> tuple[CloseResult, BusinessError | None]:
    """Device: how a client ended, and the ``'error'`` that comes before its ``'close'``."""
    proto = client.conn.protocol
    result, abnormal = _device.ended(
        proto.close_sent,
        proto.close_rcvd,
        proto.close_rcvd_then_sent,
        client.close_asked,
        server=True,
    )
    err = None
    if abnormal:
        # A device's server error carries the code alone: no connection, no data.
        why = failure_error(client.conn, info, exc)
        err = BusinessError.code_only(
            CONNECTION_ERROR,
            why.message.split(": ", 1)[-1] if why else f"the link to {info.clientIP} is down",
        )
    return result, err


def warn_limits(value: Any, cfg: WebSocketServerConfig) -> None:
    """Seed: warn about a config a device would refuse or read differently.

    A server with a ready-made ``mode`` is a local peer to try things against,
    not code to port (a device has no modes): its limits are not warned about.
    """
    if cfg.mode is not None:
        return
    missing = [name for name in missing_limits(value) if name != "serverPort"]
    if missing:
        portability_warning(
            "server-limits",
            f"start() without {' and '.join(missing)}: a device has no default and reads "
            "0, which refuses every client; give both (at most 10)",
        )
    over = [
        name
        for name in ("maxConcurrentClientsNumber", "maxConnectionsForOneClient")
        if getattr(cfg, name) > _device.MAX_LIMIT
    ]
    if over:
        portability_warning(
            "server-limits",
            f"{' and '.join(over)} over {_device.MAX_LIMIT}: on a device start() then fails "
            "with 2302999; use at most 10",
        )


class ConnectionList(list[WebSocketConnection]):
    """The list ``listAllConnections()`` returns; ``await`` on it gives itself.

    OHOS returns the array at once; awaiting it too keeps code written for the
    promise style of the other methods working.
    """

    def __await__(self) -> Generator[Any, None, ConnectionList]:
        if False:  # pragma: no cover - makes this a generator
            yield
        return self

    def result(self, timeout: float | None = None) -> ConnectionList:
        """Itself, like ``Promise.result``."""
        return self


def bind_error(exc: OSError, cfg: WebSocketServerConfig) -> BusinessError:
    where = f"{cfg.serverIP}:{cfg.serverPort}"
    if exc.errno == errno.EADDRINUSE:
        err = BusinessError(
            PORT_IN_USE,
            f"{where} is already in use; stop the other server or use serverPort 0 for a free port",
        )
    elif exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        err = BusinessError(
            SERVER_ADDRESS_ERROR,
            f"{cfg.serverIP} is not an address of this machine; use '127.0.0.1' or '0.0.0.0'",
        )
    elif exc.errno == errno.EACCES:
        err = BusinessError(
            SERVER_PORT_ERROR,
            f"no permission to listen on port {cfg.serverPort}; use a port above 1023 or 0",
        )
    else:
        err = BusinessError(UNKNOWN_ERROR, f"cannot listen on {where}: {exc.strerror or exc}")
    err.__cause__ = exc
    return err


def failure_error(
    conn: Connection, info: WebSocketConnection, exc: BaseException | None
) -> BusinessError | None:
    """The code-200 error of a client connection that ended badly, or None."""
    failure = failure_of(conn, exc)
    if failure is None:
        return None
    reason, cause = failure
    proto = conn.protocol
    who = f"client {info.clientIP}:{info.clientPort}"
    if reason == "slow-peer":
        detail = (
            f"{who} did not read what the server sent: more than {CLIENT_SEND_LIMIT} bytes "
            f"waited for it and it took none of them for {CLIENT_STALL_LIMIT:g} s, "
            "so it was cut off (1008)"
            if conn.stalled
            else f"{who} did not read what the server sent: it fell behind by more than "
            f"{CLIENT_SEND_LIMIT} bytes plus one largest message, so it was cut off (1008)"
        )
    elif reason == "keepalive":
        detail = f"{who} did not answer the keepalive ping in time"
    elif reason == "too-big":
        detail = f"{who} sent a message over maxMessageSize (closed with 1009)"
    elif reason in ("invalid-utf8", "protocol"):
        detail = f"{who} broke the WebSocket protocol: {cause}"
    elif reason == "close-deadline":
        detail = f"{who} did not finish the closing handshake within {conn.close_timeout} s"
    elif proto.close_sent is None or isinstance(proto.parser_exc, EOFError):
        detail = f"{who} was lost without a close frame (1006)"
    else:
        return None  # we closed and the client hung up without answering: nothing failed
    err = BusinessError(CONNECTION_ERROR, detail, data=info)
    err.__cause__ = cause
    return err


def warn_server_close(options: Any) -> None:
    """Seed: warn about ``close(connection, options)`` options a device's server refuses."""
    if options is None:
        return
    code = options.get("code") if isinstance(options, Mapping) else getattr(options, "code", None)
    reason = (
        options.get("reason") if isinstance(options, Mapping) else getattr(options, "reason", None)
    )
    if isinstance(code, bool) or not isinstance(code, int | float) or not isinstance(reason, str):
        portability_warning(
            "server-close-options",
            "close(connection, options) without both a numeric code and a string reason: a "
            "device's server refuses it with 401; give both, or leave the options out",
        )
