"""Option and result types of the API, and the checks on every argument.

The dataclasses carry OHOS's camelCase field names. Wherever an options object
is accepted, a plain ``dict`` with the same keys is accepted too; either way it
is validated here, and anything wrong becomes ``BusinessError(401, ...)`` with
a message that names the field and what to do.

Nothing in this module does I/O or imports asyncio.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import (
    CERT_FILE_MISSING,
    DOMAIN_NOT_ALLOWED,
    PARAMETER_ERROR,
    PERMISSION_DENIED,
    URL_ERROR,
    BusinessError,
)

__all__ = [
    "ALLOWED_CLOSE_CODES",
    "MAX_SEND_SIZE",
    "MAX_URL_LENGTH",
    "PIECE_SIZE",
    "SENSITIVE_HEADERS",
    "SENSITIVE_QUERY",
    "ClientCert",
    "CloseResult",
    "HttpProxy",
    "OpenInfo",
    "OpenResult",
    "ReconnectPolicy",
    "TlsProtocol",
    "WebSocketCloseOptions",
    "WebSocketRequestOptions",
    "check_close_options",
    "check_data",
    "check_reconnect",
    "check_request_options",
    "check_url",
    "close_code_allowed",
    "mask_headers",
    "mask_url",
    "mask_urls_in",
    "set_allowed_hosts",
    "set_network_permission",
    "split_protocols",
]

#: Largest payload ``send`` accepts, in bytes (OHOS: 5 MiB minus 16).
MAX_SEND_SIZE = 5 * 1024 * 1024 - 16
#: A URL this long or longer is refused with 2302001.
MAX_URL_LENGTH = 8196
#: Received messages larger than this arrive in pieces (the seed's "4K").
PIECE_SIZE = 4096
#: Close code ranges a client may send (RFC 6455 section 7.4).
ALLOWED_CLOSE_CODES = ((1000, 1003), (1007, 1014), (3000, 4999))
#: Header names whose values are masked wherever they are shown.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "sec-websocket-key",
        "sec-websocket-accept",
        "x-api-key",
        "x-auth-token",
    }
)
# Headers the handshake owns; a user value would duplicate or break them.
_HANDSHAKE_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
    }
)
# Used with fullmatch: a "$" anchor would also accept one trailing newline.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_T = TypeVar("_T")


def _param(detail: str) -> BusinessError:
    return BusinessError(PARAMETER_ERROR, detail)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


class OpenResult(dict):
    """What the ``'open'`` event carries: ``{'status': 101, 'message': 'Switching Protocols'}``.

    A dict, readable by attribute too (``value.status``), as in ArkTS.
    """

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


def split_protocols(protocol: str | list[str] | None) -> list[str]:
    """Subprotocols as a list: ``'a, b'`` and ``['a', 'b']`` alike; None is none."""
    if not protocol:
        return []
    if isinstance(protocol, str):
        return [p.strip() for p in protocol.split(",") if p.strip()]
    return list(protocol)


def mask_headers(headers: Mapping[str, Any], extra: Sequence[str] = ()) -> dict[str, str]:
    """A copy of ``headers`` with credential values replaced by ``***``."""
    secret = SENSITIVE_HEADERS | {name.lower() for name in extra}
    return {k: ("***" if k.lower() in secret else str(v)) for k, v in headers.items()}


#: Query parameters whose values are masked in a displayed URL.
SENSITIVE_QUERY = frozenset(
    {"token", "access_token", "auth", "authorization", "key", "api_key", "apikey", "password"}
)
_URL_IN_TEXT = re.compile(r"wss?://[^\s'\"<>]+", re.IGNORECASE)


def _loose_userinfo(url: str) -> tuple[int, int] | None:
    """Where a password with an unencoded ``/``, ``?`` or ``#`` sits: (start, index of ``@``).

    ``urlsplit`` ends the authority at the first ``/``, ``?`` or ``#``, so in
    ``ws://alice:p#ss@host`` it sees the host ``alice`` and the fragment
    ``ss@host``: the password would be shown. A ``user:`` prefix followed, past
    such a character, by an ``@`` is taken for credentials up to the last ``@``.
    That may also mask an ``@`` in the path of a URL with a port
    (``ws://host:80/@me``); showing too little beats showing a password.
    """
    scheme = url.find("://")
    if scheme < 0:
        return None
    start = scheme + 3
    at = url.rfind("@")
    if at < start:
        return None
    ends = [i for i in (url.find(c, start) for c in "/?#") if i >= 0]
    end = min(ends, default=len(url))
    authority = url[start:end]
    if at < end or "@" in authority or ":" not in authority or authority.startswith("["):
        return None  # ordinary userinfo (urlsplit finds it), or no user:password shape
    query = url.find("?", start, at)
    if query >= 0 and "=" in url[query:at]:
        return None  # an address in a query value, as in ?email=a@b
    return start, at


def mask_url(url: Any) -> Any:
    """``url`` with a password and token-like query values replaced by ``***``.

    Anything that is not a parsable string comes back unchanged.
    """
    if not isinstance(url, str) or not url:
        return url
    loose = _loose_userinfo(url)
    if loose is not None:
        start, at = loose
        user = url[start:at].split(":", 1)[0]
        url = f"{url[:start]}{user}:***@{url[at + 1 :]}"
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        # Basic credentials become an Authorization header: mask them like one.
        netloc = f"{userinfo.split(':', 1)[0]}:***@{host}" if ":" in userinfo else f"***@{host}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SENSITIVE_QUERY for k, _ in pairs):
            query = "&".join(
                f"{k}=***" if k.lower() in SENSITIVE_QUERY else urllib.parse.urlencode({k: v})
                for k, v in pairs
            )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_urls_in(text: str) -> str:
    """``text`` with every ``ws://``/``wss://`` URL in it masked (see :func:`mask_url`)."""

    def one(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = len(url) - len(url.rstrip(";,.)"))  # sentence punctuation after the URL
        return mask_url(url[: len(url) - tail]) + url[len(url) - tail :]

    return _URL_IN_TEXT.sub(one, text)


# Hosts allowed by our stand-in for ohos.permission.INTERNET; None allows all.
_allowed_hosts: frozenset[str] | None = None


# Our stand-in for ohos.permission.INTERNET: without it every connect is a 201.
_network_permission = True


def set_network_permission(granted: bool) -> None:
    """Grant or withdraw the stand-in for ``ohos.permission.INTERNET`` (201 without it)."""
    global _network_permission
    if not isinstance(granted, bool):
        raise _param("set_network_permission() takes True or False")
    _network_permission = granted


def set_allowed_hosts(hosts: Sequence[str] | None) -> None:
    """Restrict the hosts ``connect`` may reach (error 2302998 otherwise); ``None`` allows all.

    The stand-in for an app's domain allow-list (OHOS API 12: 2302998 "It is
    not allowed to access this domain").

    The environment variable ``OHWS_ALLOWED_HOSTS`` (comma separated) sets the
    same list at start-up.
    """
    global _allowed_hosts
    if hosts is not None and (isinstance(hosts, str) or not all(isinstance(h, str) for h in hosts)):
        raise _param("allowed hosts must be a list of host names, or None to allow all")
    _allowed_hosts = None if hosts is None else frozenset(h.lower() for h in hosts)


if os.environ.get("OHWS_ALLOWED_HOSTS"):
    set_allowed_hosts([h.strip() for h in os.environ["OHWS_ALLOWED_HOSTS"].split(",")])


def check_url(url: Any) -> urllib.parse.SplitResult:
    """Validate a WebSocket URL: 401 for a non-string, 2302001 for a bad URL, 201 if refused."""
    if not isinstance(url, str):
        raise _param(f"url must be a string like 'ws://127.0.0.1:8765', not {type(url).__name__}")
    if len(url) >= MAX_URL_LENGTH:
        raise BusinessError(
            URL_ERROR, f"the URL is {len(url)} characters; it must be shorter than {MAX_URL_LENGTH}"
        )
    if any(c in url for c in "\r\n\t\x00 "):
        raise BusinessError(URL_ERROR, "the URL contains whitespace or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if _loose_userinfo(url) is not None:
            # The parser's own message would quote the start of the password as a port.
            raise BusinessError(
                URL_ERROR,
                f"cannot parse {_shorten(url)!r}: a password or user name in a URL must "
                "percent-encode '/', '?' and '#' (as %2F, %3F and %23)",
            ) from None
        raise BusinessError(URL_ERROR, f"cannot parse {_shorten(url)!r}: {exc}") from exc
    if parts.scheme.lower() not in ("ws", "wss"):
        raise BusinessError(
            URL_ERROR,
            f"{_shorten(url)!r} is not a WebSocket URL; it must start with ws:// or wss://",
        )
    if not parts.hostname:
        raise BusinessError(
            URL_ERROR, f"{_shorten(url)!r} has no host; write ws://HOST[:PORT]/PATH"
        )
    if port == 0:
        raise BusinessError(URL_ERROR, "port 0 cannot be connected to; give the server's port")
    if parts.username or parts.password:
        # websockets would turn these into an Authorization header; keep it explicit.
        pass
    if not _network_permission:
        raise BusinessError(
            PERMISSION_DENIED,
            "the app has no network permission (ohos.permission.INTERNET); "
            "grant it with ohws_jupyter.set_network_permission(True)",
        )
    if _allowed_hosts is not None and parts.hostname.lower() not in _allowed_hosts:
        raise BusinessError(
            DOMAIN_NOT_ALLOWED,
            f"host {parts.hostname!r} is not in the allowed hosts; "
            "add it with ohws_jupyter.set_allowed_hosts([...])",
        )
    return parts


def _shorten(text: str, limit: int = 80) -> str:
    """A URL as an error message may quote it: credentials masked, cut to ``limit``."""
    text = mask_url(text) if "@" in text or "?" in text else text
    if "@" in text and "://" not in text:  # not parsed as a URL: hide any userinfo anyway
        text = "***@" + text.rsplit("@", 1)[1]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _coerce(cls: type[_T], value: Any, what: str) -> _T:
    """A dataclass instance from an instance or a dict, unknown keys refused."""
    if isinstance(value, cls):
        return dataclasses.replace(value)  # a copy: later changes by the caller don't leak in
    if not isinstance(value, Mapping):
        raise _param(f"{what} must be a dict or {cls.__name__}, not {type(value).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in value if k not in names]
    if unknown:
        raise _param(
            f"unknown {what} field {unknown[0]!r}; known fields: {', '.join(sorted(names))}"
        )
    try:
        return cls(**value)
    except TypeError as exc:
        raise _param(f"{what}: {exc}") from exc


def _check_number(value: Any, name: str, *, minimum: float = 0, integer: bool = False) -> None:
    if not _is_number(value) or (integer and not isinstance(value, int)):
        kind = "a whole number" if integer else "a number of seconds"
        raise _param(f"{name} must be {kind}, not {type(value).__name__}")
    if value != value or value < minimum or value == float("inf"):
        raise _param(f"{name} must be at least {minimum} and finite, not {value}")


def _check_file(path: Any, name: str, *, folder_ok: bool = False) -> None:
    if not isinstance(path, (str, os.PathLike)):
        raise _param(f"{name} must be a file path string, not {type(path).__name__}")
    ok = os.path.isfile(path) or (folder_ok and os.path.isdir(path))
    if not ok:
        raise BusinessError(
            CERT_FILE_MISSING, f"{name} {os.fspath(path)!r} does not exist; check the path"
        )


def check_headers(header: Any, what: str = "header") -> dict[str, str]:
    """Validate request headers; values become strings. CR/LF injection is a 401."""
    if not isinstance(header, Mapping):
        raise _param(f"{what} must be a dict of name -> value, not {type(header).__name__}")
    out: dict[str, str] = {}
    for name, value in header.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise _param(f"{what} name {name!r} is not a valid HTTP header name")
        if name.lower() in _HANDSHAKE_HEADERS:
            raise _param(f"{what} {name!r} is set by the WebSocket handshake itself; remove it")
        if isinstance(value, str):
            text = value
        elif _is_number(value):
            text = str(value)
        else:
            raise _param(f"{what} {name!r} must have a string value, not {type(value).__name__}")
        if any(c in text for c in "\r\n\x00"):
            raise _param(
                f"{what} {name!r} contains a line break or NUL; header values are one line"
            )
        out[name] = text
    return out


def check_request_options(value: Any) -> WebSocketRequestOptions:
    """A validated copy of ``connect``'s options (dict or dataclass; ``None`` for defaults)."""
    if value is None:
        return WebSocketRequestOptions()
    opts = _coerce(WebSocketRequestOptions, value, "options")
    opts.header = check_headers(opts.header)
    if opts.caPath is not None:
        _check_file(opts.caPath, "caPath", folder_ok=True)
    if opts.clientCert is not None:
        cert = _coerce(ClientCert, opts.clientCert, "clientCert")
        _check_file(cert.certPath, "clientCert.certPath")
        _check_file(cert.keyPath, "clientCert.keyPath")
        if cert.keyPassword is not None and not isinstance(cert.keyPassword, str):
            raise _param("clientCert.keyPassword must be a string")
        opts.clientCert = cert
    if isinstance(opts.proxy, str):
        if opts.proxy not in ("system", "no-proxy"):
            raise _param(f"proxy must be 'system', 'no-proxy' or an HttpProxy, not {opts.proxy!r}")
    else:
        proxy = _coerce(HttpProxy, opts.proxy, "proxy")
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
        if isinstance(opts.protocol, str):
            protocols = opts.protocols
        elif isinstance(opts.protocol, (list, tuple)) and all(
            isinstance(p, str) for p in opts.protocol
        ):
            protocols = list(opts.protocol)
            opts.protocol = protocols
        else:
            raise _param("protocol must be a string such as 'chat' or a list of strings")
        for p in protocols:
            if not _TOKEN.fullmatch(p):
                raise _param(
                    f"protocol {p!r} is not a valid subprotocol name (letters, digits, -._)"
                )
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
        _check_number(getattr(opts, name), name)
    for name in ("maxMessageSize", "maxQueuedMessages", "maxQueuedBytes", "maxSendSize"):
        _check_number(getattr(opts, name), name, minimum=1, integer=True)
    if not isinstance(opts.sensitiveHeaders, (list, tuple)) or not all(
        isinstance(h, str) for h in opts.sensitiveHeaders
    ):
        raise _param("sensitiveHeaders must be a list of header names")
    opts.sensitiveHeaders = list(opts.sensitiveHeaders)
    opts.reconnect = check_reconnect(opts.reconnect)
    return opts


def close_code_allowed(code: int) -> bool:
    """Whether RFC 6455 lets an endpoint send ``code`` in a close frame."""
    return any(lo <= code <= hi for lo, hi in ALLOWED_CLOSE_CODES)


def check_close_options(value: Any) -> WebSocketCloseOptions:
    """A validated copy of ``close``'s options (dict or dataclass; ``None`` for defaults)."""
    if value is None:
        return WebSocketCloseOptions()
    opts = _coerce(WebSocketCloseOptions, value, "close options")
    if opts.code is None:
        opts.code = 1000
    if opts.reason is None:
        opts.reason = ""
    if not isinstance(opts.code, int) or isinstance(opts.code, bool):
        raise _param(f"close code must be a whole number, not {type(opts.code).__name__}")
    if not close_code_allowed(opts.code):
        raise _param(
            f"close code {opts.code} is not allowed; use 1000–1003, 1007–1014 or 3000–4999"
        )
    if not isinstance(opts.reason, str):
        raise _param(f"close reason must be a string, not {type(opts.reason).__name__}")
    size = len(opts.reason.encode("utf-8", "surrogatepass"))
    if size > 123:
        raise _param(f"close reason is {size} UTF-8 bytes; it may be at most 123")
    try:
        opts.reason.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _param("close reason contains a lone surrogate; it must be valid text") from exc
    return opts


def check_data(data: Any, limit: int = MAX_SEND_SIZE) -> tuple[bytes, bool]:
    """Validate ``send``'s data: ``str`` or a bytes-like object of at most ``limit`` bytes.

    The limit is OHOS's 5 MiB − 16 bytes unless the ``maxSendSize`` option raised it.

    Returns:
        The payload as bytes (text already UTF-8 encoded) and whether it is text.
    """
    if isinstance(data, str):
        try:
            payload = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _param("data contains a lone surrogate and cannot be sent as UTF-8 text") from exc
        is_text = True
    elif isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)  # a snapshot: the caller may reuse its buffer at once
        is_text = False
    else:
        raise _param(
            f"data must be str or bytes (ArrayBuffer), not {type(data).__name__}; "
            "convert it first, e.g. json.dumps(value)"
        )
    if len(payload) > limit:
        if limit == MAX_SEND_SIZE:
            raise _param(
                f"data is {len(payload)} bytes; send at most {MAX_SEND_SIZE} (5 MiB − 16) per "
                "call, or raise the cap with the maxSendSize option"
            )
        raise _param(f"data is {len(payload)} bytes; send at most {limit} (maxSendSize) per call")
    return payload, is_text


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


def check_reconnect(value: Any) -> ReconnectPolicy | bool:
    """``reconnect`` as a policy, or False when off; anything malformed is a 401."""
    if value is None or value is False:
        return False
    if value is True:
        return ReconnectPolicy()
    policy = _coerce(ReconnectPolicy, value, "reconnect")
    if not isinstance(policy.attempts, int) or isinstance(policy.attempts, bool):
        raise _param("reconnect attempts must be a whole number such as 5")
    if policy.attempts < 1:
        raise _param(f"reconnect attempts must be 1 or more, not {policy.attempts}")
    for name in ("minDelay", "maxDelay"):
        _check_number(getattr(policy, name), f"reconnect {name}")
    factor = policy.factor
    if not _is_number(factor) or not 1 <= factor < float("inf"):
        raise _param(f"reconnect factor must be a number of at least 1, such as 2, not {factor!r}")
    if policy.maxDelay < policy.minDelay:
        raise _param(
            f"reconnect maxDelay ({policy.maxDelay:g}) must not be less than "
            f"minDelay ({policy.minDelay:g})"
        )
    return policy
