"""Types and checks of the server API: config, connection, message, certificate.

The dataclasses carry OHOS's camelCase field names; a plain ``dict`` with the
same keys is accepted wherever one is expected. Anything wrong becomes a
``BusinessError``: 401 for a wrong type, or the server's own codes (2302002
certificate file missing, 2302004 bad address, 2302005 bad port).

Nothing in this module does I/O or imports asyncio.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from ..core import device
from ..core.checks import (
    MAX_SEND_SIZE,
    check_file,
    check_subprotocols,
    coerce,
    is_whole_number,
    parameter_error,
)
from ..core.errors import (
    CERT_FILE_MISSING,
    SERVER_ADDRESS_ERROR,
    SERVER_PORT_ERROR,
    BusinessError,
)
from ..core.options import split_protocols

__all__ = [
    "MODES",
    "ServerCert",
    "ServerCertDict",
    "ServerCloseResult",
    "WebSocketConnection",
    "WebSocketConnectionDict",
    "WebSocketMessage",
    "WebSocketServerConfig",
    "WebSocketServerConfigDict",
    "check_connection",
    "check_server_config",
    "device_server_config",
    "missing_limits",
]

#: The ready-made behaviours a server can run (see ``server.modes``).
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


class WebSocketConnectionDict(TypedDict):
    """A client named by a dict: ``{'clientIP': '127.0.0.1', 'clientPort': 50000}``."""

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


@dataclass(frozen=True)
class ServerCloseResult:
    """What a server's ``'close'`` carries under the ``device`` profile.

    A device names the reason ``closeReason`` (its d.ts says ``CloseResult``,
    with ``reason``; the source wins). Under ``seed`` the value is a ``CloseResult``.

    Attributes:
        code: The close code; 0 when the link was lost.
        closeReason: The reason; ``"The link is down"`` when there was none.
    """

    code: int
    closeReason: str = ""


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
        pingInterval: Extension: seconds between keepalive pings to each client;
            0 sends none. ``None``: the profile's (``seed`` 20; ``device`` 40, as
            a device's server).
        pongTimeout: Extension: seconds a client may take to answer a ping; past
            it the connection ends (``seed`` 1011; ``device`` dropped, as on a
            device). ``None``: the profile's (``seed`` 20, ``device`` 10, so a
            device drops a silent client 50 s after the last pong).
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
    pingInterval: float | None = None
    pongTimeout: float | None = None

    @property
    def protocols(self) -> list[str]:
        """The subprotocols as a list."""
        return split_protocols(self.protocol)


_param = parameter_error
_whole_number = is_whole_number


def check_server_config(value: Any) -> WebSocketServerConfig:
    """A validated copy of ``start``'s config (dict or dataclass; ``None`` for defaults)."""
    config = (
        WebSocketServerConfig() if value is None else coerce(WebSocketServerConfig, value, "config")
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
    for name in ("maxConcurrentClientsNumber", "maxConnectionsForOneClient"):
        number = getattr(config, name)
        if not _whole_number(number) or number < 1:
            raise _param(f"{name} must be a whole number of at least 1, not {number!r}")
    _check_extensions(config)
    if config.protocol is not None:
        protocols = check_subprotocols(config.protocol)
        if not isinstance(config.protocol, str):
            config.protocol = protocols
    _check_mode(config)
    if config.serverCert is not None:
        cert = coerce(ServerCert, config.serverCert, "serverCert")
        for name in ("certPath", "keyPath"):
            check_file(getattr(cert, name), f"serverCert.{name}")
        config.serverCert = cert
    return config


def _check_extensions(config: WebSocketServerConfig) -> None:
    """Our own fields of the config (both profiles check them alike)."""
    for name in ("maxMessageSize", "maxSendSize"):
        number = getattr(config, name)
        if not _whole_number(number) or number < 1:
            raise _param(f"{name} must be a whole number of at least 1, not {number!r}")
    timeout = config.closeTimeout
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
        raise _param(f"closeTimeout must be a number of seconds above 0, not {timeout!r}")
    for name in ("pingInterval", "pongTimeout"):
        value = getattr(config, name)
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0
        ):
            raise _param(f"{name} must be a number of seconds, 0 or more, not {value!r}")


def _check_mode(config: WebSocketServerConfig) -> None:
    if config.mode is not None and config.mode not in MODES:
        raise _param(
            f"mode must be one of {', '.join(map(repr, MODES))} or None, not {config.mode!r}"
        )


#: The fields a device requires of ``start``'s config.
REQUIRED = ("serverPort", "maxConcurrentClientsNumber", "maxConnectionsForOneClient")


def missing_limits(value: Any) -> list[str]:
    """The required fields a config leaves out (a dataclass leaves none out)."""
    if value is None:
        return list(REQUIRED)
    if isinstance(value, Mapping):
        return [name for name in REQUIRED if name not in value]
    return []


def device_server_config(value: Any) -> WebSocketServerConfig:
    """``start``'s config read the way a device reads it.

    The config is required (401 without one). A missing or non-number
    ``serverPort`` is 0 and a missing limit is 0, which refuses every client;
    a limit over 10 fails with 2302999; unknown keys are ignored; ``protocol``
    is kept but never negotiated. ``serverIP`` still defaults to 127.0.0.1
    here (a device listens on every interface).

    Raises:
        BusinessError: 401, 2302002, 2302004, 2302005 or 2302999, as a device would.
    """
    if isinstance(value, WebSocketServerConfig):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    elif isinstance(value, Mapping):
        fields = {str(k): v for k, v in value.items()}
    else:
        raise _param(
            "start() on a device needs a config such as {serverPort: 8080, "
            "maxConcurrentClientsNumber: 10, maxConnectionsForOneClient: 10}"
        )
    address = device.server_address(fields.get("serverIP"))
    port, clients, per_client = device.server_limits(fields)
    known = {f.name for f in dataclasses.fields(WebSocketServerConfig)}
    extensions = {k: v for k, v in fields.items() if k in known and k in _EXTENSIONS}
    # A device delivers messages of any size and waits 5 s for a client's close reply.
    extensions.setdefault("maxMessageSize", device.MAX_MESSAGE)
    extensions.setdefault("closeTimeout", device.CLOSE_ACK_WAIT)
    config = WebSocketServerConfig(
        serverPort=port,
        serverIP=address or "127.0.0.1",
        maxConcurrentClientsNumber=clients,
        maxConnectionsForOneClient=per_client,
        protocol=fields.get("protocol") if isinstance(fields.get("protocol"), str) else None,
        **extensions,
    )
    _check_extensions(config)
    _check_mode(config)
    cert = fields.get("serverCert")
    cert_fields = (
        {f: getattr(cert, f) for f in ("certPath", "keyPath")}
        if isinstance(cert, ServerCert)
        else cert
        if isinstance(cert, Mapping)
        else None
    )
    if cert_fields is not None:
        path, key = cert_fields.get("certPath"), cert_fields.get("keyPath")
        if isinstance(path, str) and path:
            key = key if isinstance(key, str) else ""
            for name, file in (("certPath", path), ("keyPath", key)):
                if not os.path.isfile(file):
                    raise BusinessError(
                        CERT_FILE_MISSING,
                        f"serverCert.{name} {file!r} does not exist; check the path",
                    )
            config.serverCert = ServerCert(path, key)
    return config


_EXTENSIONS = (
    "mode",
    "maxMessageSize",
    "maxSendSize",
    "closeTimeout",
    "pingInterval",
    "pongTimeout",
)


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


# -- the config as a dict ---------------------------------------------------------------
# What ``start`` takes as a dict: every key may be left out (see WebSocketServerConfig).
class ServerCertDict(TypedDict):
    """:class:`ServerCert` as a dict."""

    certPath: str
    keyPath: str


class WebSocketServerConfigDict(TypedDict, total=False):
    """:class:`WebSocketServerConfig` as a dict (the argument of ``start``)."""

    serverPort: int
    serverIP: str
    serverCert: ServerCert | ServerCertDict | None
    maxConcurrentClientsNumber: int
    protocol: str | list[str] | None
    maxConnectionsForOneClient: int
    mode: str | None
    maxMessageSize: int
    maxSendSize: int
    closeTimeout: float
    pingInterval: float | None
    pongTimeout: float | None
