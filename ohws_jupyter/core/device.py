"""The rules of the ``device`` profile: what OpenHarmony's netstack does, as pure functions.

Each rule restates what the device's source does (``communication_netstack``,
``frameworks/js/napi/websocket/`` over libwebsockets, and ``utils/napi_utils/``);
``docs/porting.md`` lists them with the files they come from. The client and
the server apply them when :func:`ohws_jupyter.core.profile.is_device` is true.
Facts, not code, were carried over. No I/O here.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult

from .errors import (
    CERT_FILE_MISSING,
    PARAMETER_ERROR,
    SERVER_ADDRESS_ERROR,
    SERVER_PORT_ERROR,
    UNKNOWN_ERROR,
    BusinessError,
)
from .options import (
    ClientCert,
    CloseResult,
    HttpProxy,
    WebSocketCloseOptions,
    WebSocketRequestOptions,
    check_request_options,
)

__all__ = [
    "BAN_SECONDS",
    "CLOSE_ACK_WAIT",
    "CLOSE_NORMAL",
    "CONNECT_FAILED_TEXT",
    "DEVICE_SUBPROTOCOL",
    "GUARD",
    "LINK_DOWN",
    "MAX_CONNECTIONS_PER_MINUTE",
    "MAX_LIMIT",
    "MAX_MESSAGE",
    "SERVER_HANGUP_AFTER",
    "SERVER_PING_AFTER",
    "SERVER_PONG_WAIT",
    "STOP_CLOSE",
    "ConnectionGuard",
    "accepted_verify_codes",
    "close_values",
    "ended",
    "lenient_tls_context",
    "origin_header",
    "over_limits",
    "peer_close_code",
    "ping_values",
    "proxy_excludes",
    "request_options",
    "response_headers",
    "server_close_values",
    "server_limits",
    "strict_tls_context",
    "uint32",
]

#: The reason a device sends when ``close`` is given none (``close_context.cpp``).
CLOSE_NORMAL = "CLOSE_NORMAL"
#: The reason a device reports when the close frame had none, or there was none.
LINK_DOWN = "The link is down"
#: What a device server's ``stop`` closes every client with.
STOP_CLOSE = (1001, "server is going away")
#: The largest ``maxConcurrentClientsNumber`` / ``maxConnectionsForOneClient``.
MAX_LIMIT = 10
#: Connections one IP address may open within a minute before it is banned.
MAX_CONNECTIONS_PER_MINUTE = 50
#: How long a ban lasts, in seconds.
BAN_SECONDS = 60
#: The only subprotocol a device server knows (its libwebsockets protocol's name).
DEVICE_SUBPROTOCOL = "lws_server"
#: Seconds a device waits for the peer's close frame after sending its own
#: (libwebsockets' ``PENDING_TIMEOUT_CLOSE_ACK``).
CLOSE_ACK_WAIT = 5
#: A server's keepalive: a ping this many seconds after the connection opened or
#: the last pong, and the connection dropped at SERVER_HANGUP_AFTER without a
#: pong (libwebsockets' default retry policy; the device's server sets none).
SERVER_PING_AFTER = 40
SERVER_HANGUP_AFTER = 50
#: ... so the pong may take this long after the ping.
SERVER_PONG_WAIT = SERVER_HANGUP_AFTER - SERVER_PING_AFTER
#: The message of connect's -1 (``constant.h``).
CONNECT_FAILED_TEXT = "Websocket connect failed"
#: A device delivers a received message of any size (only a piece over
#: INT32_MAX bytes is dropped). Memory stays bounded here: the default is the
#: smaller of that and a quarter of the machine's memory.
_INT32_MAX = (1 << 31) - 1


def _memory_bound() -> int:
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows, a browser)
        return _INT32_MAX
    return max(16 * 1024 * 1024, min(_INT32_MAX, memory // 4))


MAX_MESSAGE = _memory_bound()
#: Close codes a device keeps; any other becomes 1000.
_KEPT_CODES = range(1000, 1016)
# Close codes in 1000–1015 that RFC 6455 forbids on the wire. A device sends
# them anyway (a conforming peer then fails the connection); the protocol
# library here cannot, so they are refused.
_UNSENDABLE = (1004, 1005, 1006, 1015)
#: Ping settings: the default, and the largest interval a device accepts.
_DEFAULT_PING = 30
_MAX_PING = 30000
#: A close reason is cut to this many bytes (the close frame's 125 minus the code).
_MAX_REASON = 123


def uint32(value: Any) -> int | None:
    """A JS number as N-API's ``napi_get_value_uint32`` reads it; None for a non-number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    return int(value) % (1 << 32)


def _param(hint: str) -> BusinessError:
    return BusinessError(PARAMETER_ERROR, hint)


def _fields(value: Any, cls: type) -> dict[str, Any] | None:
    """A dataclass instance or a mapping as a dict of its keys; None for anything else."""
    if isinstance(value, cls):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(cls)}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return None


# -- close -------------------------------------------------------------------------------------
def close_values(value: Any) -> tuple[int, str]:
    """The code and reason a device sends for ``close(options)``.

    A code outside 1000–1015, or no number at all, becomes 1000; an empty or
    missing reason becomes ``"CLOSE_NORMAL"``; a reason over 123 bytes is cut.

    Raises:
        BusinessError: 401 when ``options`` is not an object, or for a code the
            protocol library cannot send (1004, 1005, 1006, 1015).
    """
    if value is None:
        return 1000, CLOSE_NORMAL
    fields = _fields(value, WebSocketCloseOptions)
    if fields is None:
        raise _param(
            f"close options must be a dict or WebSocketCloseOptions, not {type(value).__name__}"
        )
    number = uint32(fields.get("code"))
    code = number if number is not None and number in _KEPT_CODES else 1000
    if code in _UNSENDABLE:
        raise _param(
            f"a device sends close code {code} as it is, although RFC 6455 forbids it on "
            "the wire (a conforming peer then fails the connection); use 1000–1003 or "
            "1007–1014"
        )
    reason = fields.get("reason")
    if not isinstance(reason, str) or not reason:
        return code, CLOSE_NORMAL
    data = reason.encode("utf-8", "replace")
    if len(data) > _MAX_REASON:
        # The device cuts at byte 123, even inside a character; a str cannot hold half of one.
        reason = data[:_MAX_REASON].decode("utf-8", "ignore")
    return code, reason


def server_close_values(value: Any) -> tuple[int, str]:
    """The code and reason a device's server sends for ``close(connection, options)``.

    Options, when given, need both a numeric ``code`` and a string ``reason``
    (``server_close_context.cpp`` ``IsValidCloseOptions``); then they are read
    as :func:`close_values` reads a client's.

    Raises:
        BusinessError: 401 for options without both.
    """
    if value is None:
        return 1000, CLOSE_NORMAL
    fields = _fields(value, WebSocketCloseOptions)
    code = fields.get("code") if fields is not None else None
    if (
        fields is None
        or isinstance(code, bool)
        or not isinstance(code, int | float)
        or not isinstance(fields.get("reason"), str)
    ):
        raise _param(
            "a device's server takes close options with both a numeric code and a string "
            "reason, such as {code: 1000, reason: 'bye'}; or leave the options out"
        )
    return close_values(fields)


def ended(
    close_sent: Any,
    close_rcvd: Any,
    rcvd_then_sent: bool | None,
    asked: tuple[int, str] | None,
    *,
    server: bool = False,
) -> tuple[CloseResult, bool]:
    """What a device's ``'close'`` reports, and whether an ``'error'`` 200 comes first.

    Args:
        close_sent: The close frame this side sent (websockets' ``Close``), or None.
        close_rcvd: The close frame received, or None.
        rcvd_then_sent: Whether the peer's close came first.
        asked: The code and reason of a ``close``/``stop`` the user called, or None.
        server: The server side: a close frame without a code leaves the device's
            record of that client untouched, so it ends as a lost link.

    Returns:
        The ``CloseResult``, and True when the end was abnormal (a lost link).
    """
    if asked is not None and rcvd_then_sent is not True:
        return CloseResult(*asked), False
    peer_first = close_rcvd is not None and (close_sent is None or rcvd_then_sent is True)
    if peer_first:
        if int(close_rcvd.code) == 1005:  # a close frame without a code
            if server:
                return CloseResult(0, LINK_DOWN), True
            return CloseResult(1000, LINK_DOWN), False
        return CloseResult(int(close_rcvd.code), close_rcvd.reason or LINK_DOWN), False
    return CloseResult(0, LINK_DOWN), True


def peer_close_code(code: int) -> int:
    """The code a device reports for a peer's close frame (libwebsockets' check).

    Codes libwebsockets refuses (below 1000, 1004–1006, 1016–2999) become 1002;
    every other, 1015 and 5000 and above included, is kept.
    """
    if code < 1000 or 1004 <= code <= 1006 or 1016 <= code < 3000:
        return 1002
    return code


# -- connect -------------------------------------------------------------------------------------
def proxy_excludes(patterns: list[str], host: str) -> bool:
    """Whether a device reaches ``host`` without the proxy (``IsHostNameExcluded``).

    Each pattern, trimmed, must match the whole host name, case-sensitively;
    ``*`` stands for any run of characters, anywhere (so ``*.x`` does not match
    ``x``). A pattern with a character other than letters, digits, ``-``,
    ``_``, ``.`` and ``*`` must equal the host exactly.
    """
    for raw in patterns:
        pattern = raw.strip(" \t\n\r")
        if not pattern:
            continue
        if pattern == "*":
            return True
        if not _PATTERN.fullmatch(pattern):
            if pattern == host:
                return True
            continue
        regex = "".join(".*" if c == "*" else re.escape(c) for c in pattern)
        if re.fullmatch(regex, host):
            return True
    return False


_PATTERN = re.compile(r"[a-zA-Z0-9\-_.*]+")


def ping_values(interval: float, timeout: float) -> tuple[int, int]:
    """``pingInterval``/``pongTimeout`` as a device corrects them (``SetRetry``).

    An interval over 30000 s becomes 30; a timeout above the interval is lowered
    to it unless it is the default 30; an interval of 0 (no pings) sets it to 0.
    """
    ping = uint32(interval)
    pong = uint32(timeout)
    ping = _DEFAULT_PING if ping is None else ping
    pong = _DEFAULT_PING if pong is None else pong
    if ping > _MAX_PING:
        ping = _DEFAULT_PING
    if pong > ping and pong != _DEFAULT_PING:
        pong = ping
    if ping == 0:
        pong = 0
    return ping, pong


_OHOS_REQUEST_FIELDS = (
    "header",
    "caPath",
    "clientCert",
    "proxy",
    "protocol",
    "skipServerCertVerification",
    "pingInterval",
    "pongTimeout",
    "supportOriginPort",
)


def request_options(value: Any) -> WebSocketRequestOptions:
    """``connect``'s options read the way a device reads them.

    Header names are lowercased; a value that is empty or not a string is
    dropped; unknown keys, and OHOS fields of the wrong type, are ignored;
    ``protocol`` must be a string and ``proxy`` valid (else 401, as on the
    device). Received messages are delivered whole, no permessage-deflate is
    offered, and the ping settings are corrected (:func:`ping_values`). Our own
    extensions keep their checks.

    Raises:
        BusinessError: 401, or 2302002 for a certificate file that does not exist.
    """
    if value is None:
        fields: dict[str, Any] = {}
    else:
        got = _fields(value, WebSocketRequestOptions)
        if got is None:
            raise _param(
                f"options must be a dict or WebSocketRequestOptions, not {type(value).__name__}"
            )
        known = {f.name for f in dataclasses.fields(WebSocketRequestOptions)}
        fields = {k: v for k, v in got.items() if k in known}
    header = fields.get("header")
    if isinstance(header, Mapping):
        fields["header"] = {
            str(k).lower(): v for k, v in header.items() if isinstance(v, str) and v
        }
    else:
        fields.pop("header", None)
    if not isinstance(fields.get("caPath"), str) or not fields.get("caPath"):
        fields.pop("caPath", None)
    for name in ("skipServerCertVerification", "supportOriginPort"):
        if not isinstance(fields.get(name), bool):
            fields.pop(name, None)
    cert = _fields(fields.get("clientCert"), ClientCert)
    if cert is not None:
        path = cert.get("certPath")
        if isinstance(path, str) and path:
            key, password = cert.get("keyPath"), cert.get("keyPassword")
            fields["clientCert"] = {
                "certPath": path,
                "keyPath": key if isinstance(key, str) else "",
                "keyPassword": password if isinstance(password, str) and password else None,
            }
        else:
            fields.pop("clientCert", None)
    else:
        fields.pop("clientCert", None)
    protocol = fields.get("protocol")
    if protocol is not None and not isinstance(protocol, str):
        raise _param("protocol must be a string such as 'chat' (a device takes one string)")
    if protocol == "":
        fields.pop("protocol")
    proxy = _fields(fields.get("proxy"), HttpProxy)
    if proxy is not None and (proxy.get("host") == "" or proxy.get("port") == 0):
        # No proxy host: nothing to tunnel through (FillContextInfo); port 0:
        # libwebsockets refuses the proxy and connects directly.
        fields["proxy"] = "no-proxy"
    ping = fields.pop("pingInterval", _DEFAULT_PING)
    pong = fields.pop("pongTimeout", _DEFAULT_PING)
    fields.setdefault("maxMessageSize", MAX_MESSAGE)
    fields.setdefault("closeTimeout", CLOSE_ACK_WAIT)
    fields["wholeMessages"] = True
    fields["compression"] = False
    opts = check_request_options(fields)
    if opts.clientCert is not None and not opts.clientCert.keyPath:
        raise BusinessError(CERT_FILE_MISSING, "clientCert.keyPath is empty; give the key file")
    opts.pingInterval, opts.pongTimeout = ping_values(ping, pong)
    return opts


def origin_header(parts: SplitResult, support_port: bool) -> str:
    """The ``Origin`` a device sends: ``http://HOST`` (``https`` for wss), the port only
    if ``supportOriginPort`` and it is not the scheme's default."""
    secure = parts.scheme.lower() == "wss"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or (443 if secure else 80)
    if support_port and port != (443 if secure else 80):
        host = f"{host}:{port}"
    return f"{'https' if secure else 'http'}://{host}"


def response_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``headerReceive``'s value on a device: names lowercase, and of a header the
    response repeats, the first value only.

    Args:
        headers: The response's headers as (name, value) pairs, in order.
    """
    out: dict[str, str] = {}
    for name, value in headers:
        out.setdefault(name.lower(), value)
    return out


# -- TLS ----------------------------------------------------------------------------------------
# OpenSSL's verify codes a device lets through (libwebsockets' client verify callback).
_SELF_SIGNED = frozenset({18, 19})  # depth-zero self-signed; self-signed certificate in chain
_UNTRUSTED = frozenset({20, 21})  # issuer not found locally; cannot verify leaf signature
_TIME = frozenset({9, 10})  # not yet valid; expired


def accepted_verify_codes(skip: bool) -> frozenset[int]:
    """The verification failures a device accepts: self-signed always, and with
    ``skipServerCertVerification`` also untrusted issuers and expired certificates."""
    return _SELF_SIGNED | _UNTRUSTED | _TIME if skip else _SELF_SIGNED


def _client_files(ctx: ssl.SSLContext, opts: WebSocketRequestOptions) -> None:
    try:
        if opts.clientCert is not None:
            cert = opts.clientCert
            ctx.load_cert_chain(cert.certPath, cert.keyPath, cert.keyPassword)
    except (ssl.SSLError, OSError) as exc:
        raise BusinessError(
            PARAMETER_ERROR, f"cannot load the TLS files: {exc}; check clientCert"
        ) from exc


def strict_tls_context(opts: WebSocketRequestOptions) -> ssl.SSLContext:
    """The first TLS attempt of a device: certificates verified, the host name never.

    A device hands ``caPath`` to OpenSSL as one file: a folder loads nothing,
    and the trust store stays empty (only a self-signed server then passes).
    """
    try:
        if opts.caPath and os.path.isdir(opts.caPath):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        else:
            ctx = ssl.create_default_context(cafile=opts.caPath)
    except (ssl.SSLError, OSError) as exc:
        raise BusinessError(
            PARAMETER_ERROR, f"cannot load the TLS files: {exc}; check caPath"
        ) from exc
    ctx.check_hostname = False
    _client_files(ctx, opts)
    return ctx


def lenient_tls_context(opts: WebSocketRequestOptions) -> ssl.SSLContext:
    """The TLS settings once a failure the device accepts was seen: no verification here;
    the certificates' dates are checked separately unless skipped."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    _client_files(ctx, opts)
    return ctx


def check_dates(chain: list[dict[str, Any]], now: float | None = None) -> str | None:
    """Why a presented chain is out of date (as OpenSSL words it), or None."""
    now = time.time() if now is None else now
    for info in chain:
        before, after = info.get("notBefore"), info.get("notAfter")
        if before and now < ssl.cert_time_to_seconds(before):
            return "certificate is not yet valid"
        if after and now > ssl.cert_time_to_seconds(after):
            return "certificate has expired"
    return None


# -- server -------------------------------------------------------------------------------------
def server_limits(fields: Mapping[str, Any]) -> tuple[int, int, int]:
    """``serverPort``, ``maxConcurrentClientsNumber``, ``maxConnectionsForOneClient`` as a
    device reads them: a missing or non-number value is 0 (and a limit of 0 refuses
    every client).

    Raises:
        BusinessError: 2302005 for a port over 65535; 2302999 for a limit over 10
            (the device's start fails without a code of its own).
    """
    port = uint32(fields.get("serverPort")) or 0
    clients = uint32(fields.get("maxConcurrentClientsNumber")) or 0
    per_client = uint32(fields.get("maxConnectionsForOneClient")) or 0
    if port > 65535:
        raise BusinessError(SERVER_PORT_ERROR, f"serverPort {port} is over 65535")
    for name, limit in (
        ("maxConcurrentClientsNumber", clients),
        ("maxConnectionsForOneClient", per_client),
    ):
        if limit > MAX_LIMIT:
            raise BusinessError(
                UNKNOWN_ERROR, f"{name} is {limit}; a device allows at most {MAX_LIMIT}"
            )
    return port, clients, per_client


def server_address(value: Any) -> str | None:
    """``serverIP`` as a device reads it: None when missing or not a string.

    Raises:
        BusinessError: 2302004 for a string that is not an IPv4 or IPv6 address.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise BusinessError(
            SERVER_ADDRESS_ERROR, f"serverIP {value!r} is not an IPv4 or IPv6 address"
        ) from None
    return value


def over_limits(connected: list[str], ip: str, max_clients: int, max_per_client: int) -> str | None:
    """Why a device refuses one more connection from ``ip``, or None.

    ``connected`` holds the IP address of every open connection. Distinct
    addresses count against ``maxConcurrentClientsNumber``; connections from
    ``ip`` against ``maxConnectionsForOneClient``.
    """
    addresses = set(connected)
    distinct = len(addresses) if ip in addresses else len(addresses) + 1
    if distinct > max_clients:
        return (
            f"{distinct} client addresses would be over maxConcurrentClientsNumber ({max_clients})"
        )
    if connected.count(ip) + 1 > max_per_client:
        return (
            f"{connected.count(ip) + 1} connections from {ip} would be over "
            f"maxConnectionsForOneClient ({max_per_client})"
        )
    return None


class ConnectionGuard:
    """The device's defence against connection floods, shared by every server of the process.

    An address that opened more than MAX_CONNECTIONS_PER_MINUTE connections
    within a minute of its first one is banned for BAN_SECONDS. Times are whole
    seconds, as on the device.

    Attributes:
        clock: Seconds since the epoch; replaceable so that a test need not wait a minute.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}  # ip -> (count, first second)
        self._bans: dict[str, int] = {}  # ip -> second the ban ends

    def allow(self, ip: str) -> str | None:
        """Count a connection from ``ip``; why it is refused, or None."""
        now = int(self.clock())
        with self._lock:
            until = self._bans.get(ip)
            if until is not None:
                if now < until:
                    return f"{ip} is banned for opening too many connections ({until - now} s more)"
                del self._bans[ip]
            count, since = self._counts.get(ip, (0, now))
            if ip in self._counts and now - since <= 60 and count > MAX_CONNECTIONS_PER_MINUTE:
                self._bans[ip] = now + BAN_SECONDS
                return (
                    f"{ip} opened more than {MAX_CONNECTIONS_PER_MINUTE} connections in a minute; "
                    f"banned for {BAN_SECONDS} s"
                )
            if ip not in self._counts or now - since > 60:
                self._counts[ip] = (1, now)
            else:
                self._counts[ip] = (count + 1, since)
            return None

    def reset(self) -> None:
        """Forget every count and ban."""
        with self._lock:
            self._counts.clear()
            self._bans.clear()


#: The guard every device-profile server of this process shares (as on a device).
GUARD = ConnectionGuard()
