"""Types and checks of the server API: config, connection, message, certificate.

The dataclasses carry OHOS's camelCase field names; a plain ``dict`` with the
same keys is accepted wherever one is expected. Anything wrong becomes a
``BusinessError``: 401 for a wrong type, or the server's own codes (2302002
certificate file missing, 2302004 bad address, 2302005 bad port).

Nothing in this module does I/O or imports asyncio.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from .errors import (
    CERT_FILE_MISSING,
    PARAMETER_ERROR,
    SERVER_ADDRESS_ERROR,
    SERVER_PORT_ERROR,
    BusinessError,
)
from .options import MAX_SEND_SIZE, _coerce, split_protocols

__all__ = [
    "MODES",
    "ServerCert",
    "WebSocketConnection",
    "WebSocketMessage",
    "WebSocketServerConfig",
    "check_connection",
    "check_server_config",
]

#: The ready-made behaviours a server can run (see ``server_modes``).
MODES = ("echo", "broadcast", "lab")


@dataclass(frozen=True)
class WebSocketConnection:
    """One client connection, as ``'connect'`` gives it and ``send``/``close`` take it.

    A dict with the same two keys is accepted wherever a connection is expected.

    Attributes:
        clientIP: The client's IP address.
        clientPort: The client's TCP port.
    """

    clientIP: str
    clientPort: int


@dataclass(frozen=True)
class WebSocketMessage:
    """What ``'messageReceive'`` carries: the whole message and who sent it.

    Attributes:
        data: ``str`` for a text message, ``bytes`` for a binary one.
        clientConnection: The connection it came from.
    """

    data: str | bytes
    clientConnection: WebSocketConnection


@dataclass
class ServerCert:
    """The server's certificate for ``wss://``.

    Attributes:
        certPath: PEM certificate (chain) file.
        keyPath: PEM private key file.
    """

    certPath: str
    keyPath: str


@dataclass
class WebSocketServerConfig:
    """Options of ``start``; OHOS fields first, then our extensions.

    Attributes:
        serverPort: TCP port; 0 picks a free one (read it from ``server.port``).
        serverIP: Address to listen on; ``127.0.0.1`` unless the network is asked for.
        serverCert: Certificate and key; serves ``wss://`` when given.
        maxConcurrentClientsNumber: Clients connected at once; more are refused (1013).
        protocol: Subprotocol(s) the server speaks: ``'chat'``, ``'a, b'`` or a list.
        maxConnectionsForOneClient: Connections from one IP address at once; more
            are refused (1013).
        mode: Extension: a ready-made behaviour, ``'echo'``, ``'broadcast'`` or
            ``'lab'``; ``None`` leaves replies to your ``'messageReceive'`` callbacks.
        maxMessageSize: Extension: largest message received, in bytes (close 1009 past it).
        maxSendSize: Extension: largest message ``send`` takes, in bytes (OHOS: 5 MiB − 16).
        closeTimeout: Extension: seconds a closing handshake with a client may take
            (``close``, ``stop``, a failure); past it the connection is cut.
    """

    serverPort: int = 0
    serverIP: str = "127.0.0.1"
    serverCert: ServerCert | None = None
    maxConcurrentClientsNumber: int = 10
    protocol: str | list[str] | None = None
    maxConnectionsForOneClient: int = 10
    # Extensions (not in OHOS).
    mode: str | None = None
    maxMessageSize: int = 16 * 1024 * 1024
    maxSendSize: int = MAX_SEND_SIZE
    closeTimeout: float = 10

    @property
    def protocols(self) -> list[str]:
        """The subprotocols as a list."""
        return split_protocols(self.protocol)


def _param(detail: str) -> BusinessError:
    return BusinessError(PARAMETER_ERROR, detail)


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_server_config(value: Any) -> WebSocketServerConfig:
    """A validated copy of ``start``'s config (dict or dataclass; ``None`` for defaults)."""
    config = (
        WebSocketServerConfig()
        if value is None
        else _coerce(WebSocketServerConfig, value, "config")
    )
    if not isinstance(config.serverIP, str):
        raise _param(
            f"serverIP must be a string such as '127.0.0.1', not {type(config.serverIP).__name__}"
        )
    if config.serverIP == "localhost":
        config.serverIP = "127.0.0.1"
    try:
        ipaddress.ip_address(config.serverIP)
    except ValueError as exc:
        raise BusinessError(
            SERVER_ADDRESS_ERROR,
            f"serverIP {config.serverIP!r} is not an IP address; use '127.0.0.1' "
            "(this machine only) or '0.0.0.0' (every network)",
        ) from exc
    if not _whole_number(config.serverPort):
        raise _param(f"serverPort must be a whole number, not {type(config.serverPort).__name__}")
    if not 0 <= config.serverPort <= 65535:
        raise BusinessError(
            SERVER_PORT_ERROR,
            f"serverPort {config.serverPort} is out of range; use 1–65535, or 0 for a free port",
        )
    for name in (
        "maxConcurrentClientsNumber",
        "maxConnectionsForOneClient",
        "maxMessageSize",
        "maxSendSize",
    ):
        number = getattr(config, name)
        if not _whole_number(number) or number < 1:
            raise _param(f"{name} must be a whole number of at least 1, not {number!r}")
    timeout = config.closeTimeout
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
        raise _param(f"closeTimeout must be a number of seconds above 0, not {timeout!r}")
    if config.protocol is not None:
        ok = isinstance(config.protocol, str) or (
            isinstance(config.protocol, (list, tuple))
            and all(isinstance(p, str) for p in config.protocol)
        )
        if not ok:
            raise _param("protocol must be a string such as 'chat' or a list of strings")
        config.protocol = (
            config.protocol if isinstance(config.protocol, str) else list(config.protocol)
        )
        for name in config.protocols:
            if not name.replace("-", "").replace(".", "").replace("_", "").isalnum():
                raise _param(
                    f"protocol {name!r} is not a valid subprotocol name (letters, digits, -._)"
                )
    if config.mode is not None and config.mode not in MODES:
        raise _param(
            f"mode must be one of {', '.join(map(repr, MODES))} or None, not {config.mode!r}"
        )
    if config.serverCert is not None:
        cert = _coerce(ServerCert, config.serverCert, "serverCert")
        for name in ("certPath", "keyPath"):
            path = getattr(cert, name)
            if not isinstance(path, (str, os.PathLike)):
                raise _param(f"serverCert.{name} must be a file path string")
            if not os.path.isfile(path):
                raise BusinessError(
                    CERT_FILE_MISSING,
                    f"serverCert.{name} {os.fspath(path)!r} does not exist; check the path",
                )
        config.serverCert = cert
    return config


def check_connection(value: Any, op: str) -> WebSocketConnection:
    """The connection argument of ``send``/``close``: a connection or an equivalent dict."""
    if isinstance(value, WebSocketConnection):
        return value
    if isinstance(value, dict) and set(value) >= {"clientIP", "clientPort"}:
        ip, port = value["clientIP"], value["clientPort"]
        if isinstance(ip, str) and _whole_number(port):
            return WebSocketConnection(ip, port)
    raise _param(
        f"{op}() needs the WebSocketConnection given by 'connect' or listAllConnections(), "
        f"not {type(value).__name__}"
    )
