"""Option and result types of the API: the OHOS dataclasses and their checks.

The dataclasses carry OHOS's camelCase field names. Wherever an options object
is accepted, a plain ``dict`` with the same keys is accepted too; either way it
is validated here (with the rules of :mod:`.checks`), and anything wrong
becomes ``BusinessError(401, ...)`` with a message that names the field and
what to do.

Nothing in this module does I/O or imports asyncio.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from .checks import (
    MAX_SEND_SIZE,
    check_close_code,
    check_close_reason,
    check_file,
    check_headers,
    check_number,
    check_subprotocols,
    coerce,
    is_number,
    parameter_error,
)
from .masking import mask_headers

__all__ = [
    "PIECE_SIZE",
    "ClientCert",
    "ClientCertDict",
    "CloseResult",
    "HttpProxy",
    "HttpProxyDict",
    "OpenInfo",
    "OpenResult",
    "ReconnectPolicy",
    "ReconnectPolicyDict",
    "TlsProtocol",
    "WebSocketCloseOptions",
    "WebSocketCloseOptionsDict",
    "WebSocketRequestOptions",
    "WebSocketRequestOptionsDict",
    "check_close_options",
    "check_reconnect",
    "check_request_options",
    "split_protocols",
]

_param = parameter_error

#: Received messages larger than this arrive in pieces (the seed's "4K").
PIECE_SIZE = 4096


@dataclass
class ClientCert:
    """A client certificate for mutual TLS.

    Attributes:
        certPath: PEM certificate file.
        keyPath: PEM private key file.
        keyPassword: Password of the key, if it is encrypted.
    """

    certPath: str
    keyPath: str
    keyPassword: str | None = None

    def __repr__(self) -> str:
        masked = "'***'" if self.keyPassword else "None"
        return (
            f"ClientCert(certPath={self.certPath!r}, keyPath={self.keyPath!r}, "
            f"keyPassword={masked})"
        )


@dataclass
class HttpProxy:
    """An HTTP proxy that tunnels the connection with ``CONNECT``.

    Attributes:
        host: Proxy host.
        port: Proxy port.
        exclusionList: Hosts reached directly; ``*.example.org`` matches subdomains.
    """

    host: str
    port: int
    exclusionList: list[str] = field(default_factory=list)

    def excludes(self, host: str) -> bool:
        """Whether ``host`` is reached without the proxy."""
        host = host.lower()
        for pattern in self.exclusionList:
            pattern = pattern.lower().strip()
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) or host == pattern[2:]:
                    return True
            elif pattern == host or pattern == "*":
                return True
        return False


class TlsProtocol(enum.IntEnum):
    """The lowest TLS version ``minSupportTlsProtocol`` accepts (OHOS API 26)."""

    TLS_V_1_0 = 0
    TLS_V_1_1 = 1
    TLS_V_1_2 = 2
    TLS_V_1_3 = 3


@dataclass
class WebSocketRequestOptions:
    """Options of ``connect``; OHOS fields first, then our extensions.

    Attributes:
        header: Extra request headers of the handshake.
        caPath: CA file or folder to verify the server with (``wss://``).
        clientCert: Client certificate for mutual TLS.
        proxy: ``'system'`` (environment proxies), ``'no-proxy'``, or an ``HttpProxy``.
        protocol: Subprotocol(s) to offer: ``'chat'``, ``'a, b'`` or ``['a', 'b']``.
        skipServerCertVerification: Accept any server certificate (unsafe).
        pingInterval: Seconds between keepalive pings; 0 disables.
        pongTimeout: Seconds to wait for a pong before failing; 0 disables.
        supportOriginPort: Put the port in the ``Origin`` a device sends (the
            ``device`` profile sends an ``Origin``; ``seed`` sends none).
        wholeMessages: Extension: deliver each message whole instead of 4 KiB pieces.
        openTimeout: Extension: seconds the opening handshake may take; 0 disables.
        closeTimeout: Extension: seconds the closing handshake may take.
        maxMessageSize: Extension: largest message received, in bytes (close 1009 past it).
        maxQueuedMessages: Extension: received messages waiting for callbacks before
            reading pauses (backpressure).
        maxQueuedBytes: Extension: the same limit in bytes.
        compression: Extension: offer permessage-deflate.
        minSupportTlsProtocol: The lowest TLS version ``wss://`` may use (API 26):
            a ``TlsProtocol`` or its number; ``None`` keeps the system's default.
        sensitiveHeaders: Extension: more header names to mask in displays and logs.
        maxSendSize: Extension: largest message ``send`` takes, in bytes; OHOS caps
            it at 5 MiB − 16 bytes, the default.
        reconnect: Extension: reconnect after a close the user did not ask for;
            ``True`` or a ``ReconnectPolicy``/dict (off by default).
    """

    header: dict[str, str] = field(default_factory=dict)
    caPath: str | None = None
    clientCert: ClientCert | None = None
    proxy: str | HttpProxy = "system"
    protocol: str | list[str] | None = None
    skipServerCertVerification: bool = False
    pingInterval: float = 30
    pongTimeout: float = 30
    minSupportTlsProtocol: TlsProtocol | None = None
    supportOriginPort: bool = False
    # Extensions (not in OHOS).
    wholeMessages: bool = False
    openTimeout: float = 10
    closeTimeout: float = 10
    maxMessageSize: int = 16 * 1024 * 1024
    maxQueuedMessages: int = 1024
    maxQueuedBytes: int = 64 * 1024 * 1024
    compression: bool = True
    sensitiveHeaders: list[str] = field(default_factory=list)
    maxSendSize: int = MAX_SEND_SIZE
    reconnect: bool | dict[str, Any] | ReconnectPolicy = False

    @property
    def protocols(self) -> list[str]:
        """The offered subprotocols as a list."""
        return split_protocols(self.protocol)

    def masked_header(self) -> dict[str, str]:
        """``header`` with credential values replaced by ``***``."""
        return mask_headers(self.header, self.sensitiveHeaders)

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{f.name}={self.masked_header() if f.name == 'header' else getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != _REQUEST_DEFAULTS[f.name]
        )
        return f"WebSocketRequestOptions({fields})"


_REQUEST_DEFAULTS = {
    f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
    for f in dataclasses.fields(WebSocketRequestOptions)
}


@dataclass
class WebSocketCloseOptions:
    """Options of ``close``.

    Attributes:
        code: Close code; 1000 (normal closure) by default.
        reason: Close reason, at most 123 UTF-8 bytes.
    """

    code: int = 1000
    reason: str = ""


@dataclass(frozen=True)
class CloseResult:
    """What the ``'close'`` event carries: the close code and reason."""

    code: int
    reason: str = ""

    def __post_init__(self) -> None:
        # websockets hands out CloseCode enum members; users expect a plain int.
        object.__setattr__(self, "code", int(self.code))


class OpenResult(dict[str, Any]):
    """What the ``'open'`` event carries: ``{'status': 101, 'message': 'Switching Protocols'}``.

    A dict, readable by attribute too (``value.status``), as in ArkTS.
    """

    # Read through __getattr__ from the dict; declared for type checkers.
    status: int
    message: str

    def __init__(self, status: int = 101, message: str = "Switching Protocols") -> None:
        super().__init__(status=status, message=message)

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class OpenInfo(OpenResult):
    """What ``'openInfo'`` carries (API 26): ``status``, ``message`` and the negotiated
    ``protocol`` ('' if none); a dict with attribute access, like ``OpenResult``."""

    def __init__(
        self, status: int = 101, message: str = "Switching Protocols", protocol: str = ""
    ) -> None:
        super().__init__(status, message)
        self["protocol"] = protocol

    protocol: str


def split_protocols(protocol: str | list[str] | None) -> list[str]:
    """Subprotocols as a list: ``'a, b'`` and ``['a', 'b']`` alike; None is none."""
    if not protocol:
        return []
    if isinstance(protocol, str):
        return [p.strip() for p in protocol.split(",") if p.strip()]
    return list(protocol)


def check_request_options(value: Any) -> WebSocketRequestOptions:
    """A validated copy of ``connect``'s options (dict or dataclass; ``None`` for defaults)."""
    if value is None:
        return WebSocketRequestOptions()
    opts = coerce(WebSocketRequestOptions, value, "options")
    opts.header = check_headers(opts.header)
    if opts.caPath is not None:
        check_file(opts.caPath, "caPath", folder_ok=True)
    if opts.clientCert is not None:
        cert = coerce(ClientCert, opts.clientCert, "clientCert")
        check_file(cert.certPath, "clientCert.certPath")
        check_file(cert.keyPath, "clientCert.keyPath")
        if cert.keyPassword is not None and not isinstance(cert.keyPassword, str):
            raise _param("clientCert.keyPassword must be a string")
        opts.clientCert = cert
    if isinstance(opts.proxy, str):
        if opts.proxy not in ("system", "no-proxy"):
            raise _param(f"proxy must be 'system', 'no-proxy' or an HttpProxy, not {opts.proxy!r}")
    else:
        proxy = coerce(HttpProxy, opts.proxy, "proxy")
        if not isinstance(proxy.host, str) or not proxy.host or any(c in proxy.host for c in "/ @"):
            raise _param("proxy.host must be a host name such as '127.0.0.1'")
        if (
            not isinstance(proxy.port, int)
            or isinstance(proxy.port, bool)
            or not 0 < proxy.port < 65536
        ):
            raise _param("proxy.port must be a whole number from 1 to 65535")
        if not isinstance(proxy.exclusionList, (list, tuple)) or not all(
            isinstance(h, str) for h in proxy.exclusionList
        ):
            raise _param("proxy.exclusionList must be a list of host names")
        proxy.exclusionList = list(proxy.exclusionList)
        opts.proxy = proxy
    if opts.protocol is not None:
        protocols = check_subprotocols(opts.protocol)
        if not isinstance(opts.protocol, str):
            opts.protocol = protocols
    if opts.minSupportTlsProtocol is not None:
        value = opts.minSupportTlsProtocol
        if isinstance(value, str) and value in TlsProtocol.__members__:
            value = TlsProtocol[value]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
            raise _param(
                "minSupportTlsProtocol must be a TlsProtocol (TLS_V_1_0 … TLS_V_1_3), "
                f"not {opts.minSupportTlsProtocol!r}"
            )
        opts.minSupportTlsProtocol = TlsProtocol(value)
    for name in ("skipServerCertVerification", "supportOriginPort", "wholeMessages", "compression"):
        if not isinstance(getattr(opts, name), bool):
            raise _param(f"{name} must be True or False")
    for name in ("pingInterval", "pongTimeout", "openTimeout", "closeTimeout"):
        check_number(getattr(opts, name), name)
    for name in ("maxMessageSize", "maxQueuedMessages", "maxQueuedBytes", "maxSendSize"):
        check_number(getattr(opts, name), name, minimum=1, integer=True)
    if not isinstance(opts.sensitiveHeaders, (list, tuple)) or not all(
        isinstance(h, str) for h in opts.sensitiveHeaders
    ):
        raise _param("sensitiveHeaders must be a list of header names")
    opts.sensitiveHeaders = list(opts.sensitiveHeaders)
    opts.reconnect = check_reconnect(opts.reconnect)
    return opts


def check_close_options(value: Any) -> WebSocketCloseOptions:
    """A validated copy of ``close``'s options (dict or dataclass; ``None`` for defaults)."""
    if value is None:
        return WebSocketCloseOptions()
    opts = coerce(WebSocketCloseOptions, value, "close options")
    if opts.code is None:
        opts.code = 1000
    if opts.reason is None:
        opts.reason = ""
    check_close_code(opts.code)
    check_close_reason(opts.reason)
    return opts


@dataclass(frozen=True)
class ReconnectPolicy:
    """How ``reconnect`` retries: exponential backoff with jitter.

    The wait before attempt ``n`` is drawn evenly from ``[b/2, b]`` with
    ``b = minDelay * factor**(n-1)``, then kept within ``[minDelay, maxDelay]``.
    The count starts again at 1 after every successful reopening.

    Attributes:
        attempts: Attempts after each unexpected close before giving up.
        minDelay: Seconds before the first attempt (and the least wait).
        maxDelay: The longest wait, in seconds.
        factor: How much the wait grows from one attempt to the next.
    """

    attempts: int = 10
    minDelay: float = 0.5
    maxDelay: float = 30.0
    factor: float = 2.0

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The least and the most seconds to wait before ``attempt`` (from 1)."""
        ceiling = min(self.maxDelay, self.minDelay * self.factor ** (attempt - 1))
        return max(self.minDelay, ceiling / 2), max(self.minDelay, ceiling)

    def delay(self, attempt: int, uniform: Any) -> float:
        """The wait before ``attempt``; ``uniform(a, b)`` draws the jitter."""
        low, high = self.bounds(attempt)
        return low if high <= low else float(uniform(low, high))


def check_reconnect(value: Any) -> ReconnectPolicy | Literal[False]:
    """``reconnect`` as a policy, or False when off; anything malformed is a 401."""
    if value is None or value is False:
        return False
    if value is True:
        return ReconnectPolicy()
    policy = coerce(ReconnectPolicy, value, "reconnect")
    if not isinstance(policy.attempts, int) or isinstance(policy.attempts, bool):
        raise _param("reconnect attempts must be a whole number such as 5")
    if policy.attempts < 1:
        raise _param(f"reconnect attempts must be 1 or more, not {policy.attempts}")
    for name in ("minDelay", "maxDelay"):
        check_number(getattr(policy, name), f"reconnect {name}")
    factor = policy.factor
    if not is_number(factor) or not 1 <= factor < float("inf"):
        raise _param(f"reconnect factor must be a number of at least 1, such as 2, not {factor!r}")
    if policy.maxDelay < policy.minDelay:
        raise _param(
            f"reconnect maxDelay ({policy.maxDelay:g}) must not be less than "
            f"minDelay ({policy.minDelay:g})"
        )
    return policy


# -- the same options as dicts -------------------------------------------------------------
# ArkTS writes options as object literals; here a dict does the same. These describe
# the keys each one takes, so a checker catches a misspelled key or a wrong type before
# the 401 does. Every key may be left out unless marked otherwise.
# The keys a dict must have come from a base of its own: under postponed annotations,
# NotRequired[...] is not seen at run time (``__required_keys__``).
class _ClientCertPaths(TypedDict):
    certPath: str
    keyPath: str


class ClientCertDict(_ClientCertPaths, total=False):
    """:class:`ClientCert` as a dict: ``certPath`` and ``keyPath`` are required."""

    keyPassword: str | None


class _ProxyAddress(TypedDict):
    host: str
    port: int


class HttpProxyDict(_ProxyAddress, total=False):
    """:class:`HttpProxy` as a dict: ``host`` and ``port`` are required."""

    exclusionList: list[str]


class ReconnectPolicyDict(TypedDict, total=False):
    """:class:`ReconnectPolicy` as a dict."""

    attempts: int
    minDelay: float
    maxDelay: float
    factor: float


class WebSocketRequestOptionsDict(TypedDict, total=False):
    """:class:`WebSocketRequestOptions` as a dict (the second argument of ``connect``)."""

    header: dict[str, str]
    caPath: str | None
    clientCert: ClientCert | ClientCertDict | None
    proxy: str | HttpProxy | HttpProxyDict
    protocol: str | list[str] | None
    skipServerCertVerification: bool
    pingInterval: float
    pongTimeout: float
    minSupportTlsProtocol: TlsProtocol | str | None
    supportOriginPort: bool
    wholeMessages: bool
    openTimeout: float
    closeTimeout: float
    maxMessageSize: int
    maxQueuedMessages: int
    maxQueuedBytes: int
    compression: bool
    sensitiveHeaders: list[str]
    maxSendSize: int
    reconnect: bool | ReconnectPolicy | ReconnectPolicyDict


class WebSocketCloseOptionsDict(TypedDict, total=False):
    """:class:`WebSocketCloseOptions` as a dict (the argument of ``close``)."""

    code: int
    reason: str
