"""How a client reaches a server: the TCP or HTTP-proxy tunnel, TLS, and the
errors a failed attempt or a failed connection is reported with.

Runs on the I/O thread; :class:`~ohws_jupyter.client.session.ClientSession`
calls it for each attempt (redirects make more than one).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import os
import socket
import ssl
import urllib.parse
import urllib.request
from typing import Any

from websockets.exceptions import (
    InvalidHandshake,
    InvalidHeaderValue,
    InvalidProxy,
    InvalidStatus,
    NegotiationError,
    ProxyError,
)

from ..core import device as _device
from ..core.errors import CONNECTION_ERROR, PARAMETER_ERROR, BusinessError
from ..core.masking import mask_url, mask_urls_in
from ..core.options import HttpProxy, TlsProtocol, WebSocketRequestOptions
from ..core.profile import portability_warning
from ..engine.closing import failure_of
from ..engine.connection import Connection

__all__ = [
    "Redirected",
    "Tunnel",
    "check_dates",
    "connect_error",
    "connect_transport",
    "fails_at_once",
    "failure_error",
    "headers_dict",
    "how_lost",
    "proxy_for",
    "spelled_host",
    "system_proxy",
    "tls_context",
    "user_agent",
    "warn_unportable",
]


class Redirected(Exception):
    """The server redirected to a URL that is not a WebSocket URL."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"HTTP {status} to {location}")
        self.status, self.location = status, location


def connect_error(exc: BaseException, url: str, opts: WebSocketRequestOptions) -> BusinessError:
    """The code-200 error of a failed attempt; ``.data`` is the HTTP status or '0'."""
    url = mask_url(url)
    status = "0"
    if isinstance(exc, InvalidStatus):
        response = exc.response
        status = str(response.status_code)
        detail = (
            f"the server answered HTTP {response.status_code} {response.reason_phrase} "
            "instead of 101 Switching Protocols; "
        )
        if response.status_code == 400 and opts.protocols:
            offered = ", ".join(opts.protocols)
            detail += (
                f"the server may not speak the offered subprotocol ({offered}): check the "
                "protocol option"
            )
        else:
            detail += "check the URL path and the credentials"
        body = response.body.decode("utf-8", "replace").strip() if response.body else ""
        if body and len(body) <= 200 and "\n" not in body:
            detail += f" (the server said: {mask_urls_in(body)!r})"
    elif isinstance(exc, NegotiationError):
        detail = f"the handshake failed: {exc}; check the protocol option"
    elif isinstance(exc, InvalidProxy | ProxyError):
        detail = f"the proxy failed: {exc}; check the proxy option"
    elif isinstance(exc, InvalidHeaderValue) and exc.name.lower() == "sec-websocket-accept":
        detail = (
            "the opening handshake failed: the server's Sec-WebSocket-Accept does not match "
            "the Sec-WebSocket-Key sent; is it a WebSocket server?"
        )
    elif isinstance(exc, InvalidHandshake):
        detail = f"the opening handshake failed: {exc}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        detail = (
            f"TLS certificate verification failed ({exc.verify_message}); give the CA with "
            "caPath, or set skipServerCertVerification=True to accept it anyway (unsafe)"
        )
    elif isinstance(exc, ssl.SSLError):
        detail = f"the TLS handshake failed: {exc.reason or exc}"
    elif isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        detail = (
            f"the opening handshake did not finish within {opts.openTimeout} s; "
            "is the server answering WebSocket handshakes? (openTimeout sets the limit)"
        )
    elif isinstance(exc, socket.gaierror):
        detail = f"cannot resolve the host of {url}: {exc.strerror}"
    elif isinstance(exc, ConnectionRefusedError):
        detail = f"connection refused by {url}; is the server running?"
    elif isinstance(exc, ConnectionResetError) and url.lower().startswith("wss:"):
        detail = (
            f"the connection to {url} was reset during the TLS handshake; is the server "
            "serving wss:// (TLS) on that port, or plain ws://?"
        )
    elif isinstance(exc, ConnectionError):
        detail = f"the connection to {url} was {how_lost(exc)} during the opening handshake"
    elif isinstance(exc, OSError):
        detail = f"cannot reach {url}: {exc.strerror or exc}"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    err = BusinessError(CONNECTION_ERROR, mask_urls_in(detail), data=status)
    err.__cause__ = exc
    return err


def fails_at_once(exc: BaseException) -> bool:
    """Whether a device's ``connect`` itself fails (−1) rather than resolving and
    reporting the failure in ``'error'``: a host that does not resolve, or a
    connect the system refuses before any packet leaves (no route, no address)."""
    if isinstance(exc, socket.gaierror):
        return True
    return isinstance(exc, OSError) and exc.errno in _AT_ONCE


_AT_ONCE = frozenset(
    getattr(errno, name)
    for name in ("ENETUNREACH", "EADDRNOTAVAIL", "EAFNOSUPPORT")
    if hasattr(errno, name)
)


def how_lost(exc: BaseException) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset by the server"
    if isinstance(exc, ConnectionAbortedError):
        return "aborted"
    return f"lost ({getattr(exc, 'strerror', None) or type(exc).__name__})"


def failure_error(conn: Connection, exc: BaseException | None) -> BusinessError | None:
    """The code-200 error of a connection that ended badly, or None for a clean close."""
    failure = failure_of(conn, exc)
    if failure is None:
        return None
    reason, cause = failure
    if reason == "invalid-utf8":
        detail = "the server sent text that is not valid UTF-8 (closed with 1007)"
    elif reason == "too-big":
        detail = f"a received message is too big ({cause}); raise maxMessageSize (closed with 1009)"
    elif reason == "protocol":
        detail = f"the server broke the WebSocket protocol: {cause} (closed with 1002)"
    elif reason == "keepalive":
        detail = "the server did not answer the keepalive ping in time (pongTimeout)"
    elif reason == "close-deadline":
        detail = (
            f"the server did not finish the closing handshake within closeTimeout "
            f"({conn.close_timeout} s); the connection was cut (1006)"
        )
    else:  # lost (a client never cuts off a slow server)
        detail = "the connection was lost without a close frame (1006)"
        if exc is not None:
            detail += f": {exc}"
    err = BusinessError(CONNECTION_ERROR, detail, data="0")
    err.__cause__ = cause
    return err


def headers_dict(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.raw_items():
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def system_proxy(scheme: str, host: str, port: int) -> str | None:
    """The HTTP proxy the environment names for ``scheme://host:port``, if any."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get("https" if scheme == "wss" else "http")
    if proxy is None:
        return None
    if urllib.request.proxy_bypass(f"{host}:{port}") or urllib.request.proxy_bypass(host):
        return None
    return proxy


class Tunnel(asyncio.Protocol):
    """The HTTP CONNECT exchange with a proxy, before the WebSocket takes over."""

    def __init__(self, target: str, auth: str | None) -> None:
        self.target, self.auth = target, auth
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        lines = [f"CONNECT {self.target} HTTP/1.1", f"Host: {self.target}"]
        if self.auth:
            lines.append(f"Proxy-Authorization: {self.auth}")
        # asyncio types it as any transport; create_connection gives a stream one.
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer and not self.done.done():
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = status_line.split(" ", 2)
            if len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 300:
                self.done.set_result(rest)
            else:
                self.done.set_exception(ProxyError(f"the proxy answered {status_line!r}"))
        elif len(self.buffer) > 65536 and not self.done.done():
            self.done.set_exception(ProxyError("the proxy's answer is too long"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ProxyError("the proxy closed the connection"))


async def connect_transport(
    conn: Connection,
    uri: Any,
    tls: ssl.SSLContext | None,
    proxy: str | None,
    check: Any = None,
) -> None:
    """Connect ``conn`` (directly or through the HTTP ``proxy``), with TLS if ``tls``.

    ``check(ssl_object)``, if given, runs once TLS is up and before the
    request is written; it raises to refuse the server.
    """
    loop = asyncio.get_running_loop()
    server_hostname = uri.host if tls is not None else None
    if proxy is None and check is None:
        await loop.create_connection(
            lambda: conn, uri.host, uri.port, ssl=tls, server_hostname=server_hostname
        )
        return
    if proxy is None:
        transport, _ = await loop.create_connection(asyncio.Protocol, uri.host, uri.port)
        await _start_tls(conn, transport, tls, server_hostname, check)
        return
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme.lower() not in ("http", ""):
        raise InvalidProxy(mask_url(proxy), "only HTTP proxies are supported")
    auth = None
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        pair = f"{user}:{urllib.parse.unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode()
    host = f"[{uri.host}]" if ":" in uri.host else uri.host
    target = f"{host}:{uri.port}"
    transport, tunnel = await loop.create_connection(
        # A proxy without a host name passes None, which getaddrinfo reads as the loopback.
        lambda: Tunnel(target, auth),
        parts.hostname,  # type: ignore[arg-type]
        parts.port or 8080,
    )
    try:
        await tunnel.done
    except BaseException:
        transport.abort()
        raise
    if tls is not None:
        await _start_tls(conn, transport, tls, server_hostname, check)
    else:
        transport.set_protocol(conn)
        conn.connection_made(transport)


async def _start_tls(
    conn: Connection,
    transport: asyncio.Transport,
    tls: ssl.SSLContext | None,
    server_hostname: str | None,
    check: Any,
) -> None:
    assert tls is not None
    loop = asyncio.get_running_loop()
    try:
        tls_transport = await loop.start_tls(transport, conn, tls, server_hostname=server_hostname)
    except BaseException:
        transport.abort()
        raise
    assert tls_transport is not None
    if check is not None:
        try:
            check(tls_transport.get_extra_info("ssl_object"))
        except BaseException:
            tls_transport.abort()
            raise
    conn.connection_made(tls_transport)


def proxy_for(
    opts: WebSocketRequestOptions, uri: Any, *, device_host: str | None = None
) -> str | None:
    """The proxy URL ``connect`` goes through to reach ``uri``, or None for a direct connection.

    ``device_host``: the host as the URL spells it; match the exclusion list
    against it as a device does.
    """
    proxy = opts.proxy
    if proxy == "no-proxy":
        return None
    if proxy == "system":
        return system_proxy("wss" if uri.secure else "ws", uri.host, uri.port)
    assert isinstance(proxy, HttpProxy)
    if device_host is not None:
        if _device.proxy_excludes(proxy.exclusionList, device_host):
            return None
    elif proxy.excludes(uri.host):
        return None
    host = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
    return f"http://{host}:{proxy.port}"


def check_dates(ssl_object: Any) -> None:
    """Device: refuse a presented chain that is out of date (the device still checks it)."""
    sslobj = getattr(ssl_object, "_sslobj", None)
    chain = getattr(sslobj, "get_unverified_chain", None)
    if chain is None:  # pragma: no cover - every CPython since 3.10 has it
        return
    why = _device.check_dates([cert.get_info() for cert in chain() or []])
    if why is not None:
        err = ssl.SSLCertVerificationError(1, f"certificate verify failed: {why}")
        err.verify_message = why
        err.verify_code = 10 if "expired" in why else 9
        raise err


def user_agent() -> str:
    """The User-Agent a client sends unless the user gives one."""
    import importlib.metadata

    import websockets.version

    try:
        version = importlib.metadata.version("ohws_jupyter")
    except importlib.metadata.PackageNotFoundError:
        version = "dev"
    return f"ohws_jupyter/{version} websockets/{websockets.version.version}"


def tls_context(opts: WebSocketRequestOptions) -> ssl.SSLContext:
    """The TLS settings of ``wss://``: verified unless explicitly skipped."""
    try:
        if opts.caPath and os.path.isdir(opts.caPath):
            ctx = ssl.create_default_context(capath=opts.caPath)
        else:
            ctx = ssl.create_default_context(cafile=opts.caPath)
        if opts.clientCert is not None:
            cert = opts.clientCert
            ctx.load_cert_chain(cert.certPath, cert.keyPath, cert.keyPassword)
    except (ssl.SSLError, OSError) as exc:
        raise BusinessError(
            PARAMETER_ERROR, f"cannot load the TLS files: {exc}; check caPath and clientCert"
        ) from exc
    if opts.minSupportTlsProtocol is not None:
        ctx.minimum_version = _TLS_VERSIONS[opts.minSupportTlsProtocol]
    if opts.skipServerCertVerification:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


_TLS_VERSIONS = {
    TlsProtocol.TLS_V_1_0: ssl.TLSVersion.TLSv1,
    TlsProtocol.TLS_V_1_1: ssl.TLSVersion.TLSv1_1,
    TlsProtocol.TLS_V_1_2: ssl.TLSVersion.TLSv1_2,
    TlsProtocol.TLS_V_1_3: ssl.TLSVersion.TLSv1_3,
}


def spelled_host(url: str) -> str:
    """The host of ``url`` as written (a device matches proxy exclusions case-sensitively)."""
    netloc = urllib.parse.urlsplit(url).netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.partition(":")[0]


def warn_unportable(opts: WebSocketRequestOptions, url: str, listens: Any) -> None:
    """Seed: warn about ``connect`` options a device would act on differently.

    Args:
        opts: The checked options.
        url: The URL.
        listens: ``listens(event)`` tells whether the WebSocket has a callback for it.
    """
    proxy = opts.proxy
    host = spelled_host(url)
    if isinstance(proxy, HttpProxy) and proxy.excludes(host) != _device.proxy_excludes(
        proxy.exclusionList, host
    ):
        how = "bypasses" if proxy.excludes(host) else "uses"
        portability_warning(
            "proxy-exclusion",
            f"the proxy's exclusionList {how} the proxy for {host!r} here; a device matches "
            "each entry case-sensitively against the whole host name, '*' standing for any "
            "text ('*.x' does not match 'x'): list the host names as the URL spells them",
        )
    if opts.caPath and os.path.isdir(opts.caPath):
        portability_warning(
            "ca-folder",
            f"caPath {opts.caPath!r} is a folder: a device reads caPath as one file, so it "
            "trusts no CA and the connection fails; give the CA's certificate file",
        )
    if opts.pingInterval > 0 and opts.pongTimeout == 0:
        portability_warning(
            "pong-timeout-0",
            "pongTimeout 0 waits for pongs without a limit here; a device then sends no "
            f"ping and drops the connection {opts.pingInterval} s after it opened: give a "
            "pongTimeout above 0, or pingInterval 0 for no keepalive",
        )
    if listens("dataEnd") and not listens("message"):
        portability_warning(
            "data-end-alone",
            "'dataEnd' fires here without a 'message' callback; a device fires 'dataEnd' "
            "only behind a 'message' it delivered: subscribe to 'message' too",
        )
