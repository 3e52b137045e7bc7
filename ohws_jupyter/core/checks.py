"""One validator per rule, used by the API, the server, the magics and the panel alike.

URLs and the network policy, header names and values, subprotocol names,
close codes and reasons, send data, numbers and files in options, and the
composer's text/JSON/hex/base64 input. Anything wrong is
``BusinessError(401, ...)`` (or the URL, permission and certificate codes)
with a message that names the field and says what to do.

No I/O beyond checking that a file exists.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

from .errors import (
    CERT_FILE_MISSING,
    DOMAIN_NOT_ALLOWED,
    PARAMETER_ERROR,
    PERMISSION_DENIED,
    URL_ERROR,
    BusinessError,
)
from .masking import password_span, shorten_url

__all__ = [
    "ALLOWED_CLOSE_CODES",
    "COMPOSER_MODES",
    "MAX_SEND_SIZE",
    "MAX_URL_LENGTH",
    "check_access",
    "check_close_code",
    "check_close_reason",
    "check_data",
    "check_file",
    "check_header_name",
    "check_header_value",
    "check_headers",
    "check_number",
    "check_subprotocols",
    "check_url",
    "close_code_allowed",
    "coerce",
    "compose",
    "is_number",
    "is_whole_number",
    "network_defaults",
    "parameter_error",
    "set_allowed_hosts",
    "set_network_permission",
]

#: Largest payload ``send`` accepts, in bytes (OHOS: 5 MiB minus 16).
MAX_SEND_SIZE = 5 * 1024 * 1024 - 16
#: A URL this long or longer is refused with 2302001.
MAX_URL_LENGTH = 8196
#: Close code ranges an endpoint may send (RFC 6455 section 7.4).
ALLOWED_CLOSE_CODES = ((1000, 1003), (1007, 1014), (3000, 4999))
#: How the composer (``%ws send``, the panel) reads what was typed.
COMPOSER_MODES = ("text", "json", "hex", "base64")
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
# An HTTP token (RFC 9110 section 5.6.2): header names and subprotocol names
# (RFC 6455 section 4.1). Used with fullmatch: a "$" anchor would also accept one trailing newline.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# What a header value may not hold (RFC 9110 section 5.5: field-vchar, SP, HTAB,
# obs-text): control characters but HTAB, and anything beyond ISO-8859-1, which is
# how a header goes on the wire.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")
_D = TypeVar("_D", bound="DataclassInstance")


def parameter_error(detail: str) -> BusinessError:
    """A 401 "Parameter error" whose message is ``detail``."""
    return BusinessError(PARAMETER_ERROR, detail)


_param = parameter_error


def is_number(value: Any) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole_number(value: object) -> TypeGuard[int]:
    """An int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


# Hosts allowed by our stand-in for ohos.permission.INTERNET; None allows all.
_allowed_hosts: frozenset[str] | None = None


# Our stand-in for ohos.permission.INTERNET: without it every connect is a 201.
_network_permission = True


def set_network_permission(granted: bool) -> None:
    """Grant or withdraw the stand-in for ``ohos.permission.INTERNET`` (201 without it).

    Objects created afterwards take it; each keeps the one it was created with.
    """
    global _network_permission
    if not isinstance(granted, bool):
        raise _param("set_network_permission() takes True or False")
    _network_permission = granted


def set_allowed_hosts(hosts: Sequence[str] | None) -> None:
    """Restrict the hosts ``connect`` may reach (error 2302998 otherwise); ``None`` allows all.

    The stand-in for an app's domain allow-list (OHOS API 12: 2302998 "It is
    not allowed to access this domain").

    The environment variable ``OHWS_ALLOWED_HOSTS`` (comma separated) sets the
    same list at start-up. Objects created afterwards take it; each keeps the
    list it was created with.
    """
    global _allowed_hosts
    if hosts is not None and (isinstance(hosts, str) or not all(isinstance(h, str) for h in hosts)):
        raise _param("allowed hosts must be a list of host names, or None to allow all")
    _allowed_hosts = None if hosts is None else frozenset(h.lower() for h in hosts)


if os.environ.get("OHWS_ALLOWED_HOSTS"):
    set_allowed_hosts([h.strip() for h in os.environ["OHWS_ALLOWED_HOSTS"].split(",")])


def network_defaults() -> tuple[bool, frozenset[str] | None]:
    """The network permission and allowed hosts an object created now takes."""
    return _network_permission, _allowed_hosts


def check_access(
    parts: urllib.parse.SplitResult, permission: bool, allowed_hosts: frozenset[str] | None
) -> None:
    """Refuse a connection the permission (201) or the allowed hosts (2302998) forbid."""
    if not permission:
        raise BusinessError(
            PERMISSION_DENIED,
            "the app has no network permission (ohos.permission.INTERNET); "
            "grant it with ohws_jupyter.set_network_permission(True) before createWebSocket()",
        )
    host = (parts.hostname or "").lower()
    if allowed_hosts is not None and host not in allowed_hosts:
        raise BusinessError(
            DOMAIN_NOT_ALLOWED,
            f"host {parts.hostname!r} is not in the allowed hosts; "
            "add it with ohws_jupyter.set_allowed_hosts([...]) before createWebSocket()",
        )


def check_url(url: Any) -> urllib.parse.SplitResult:
    """Validate a WebSocket URL: 401 for a non-string, 2302001 for a bad URL.

    Whether this program may reach it is :func:`check_access`.
    """
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
        if password_span(url) is not None:
            # The parser's own message would quote the start of the password as a port.
            raise BusinessError(
                URL_ERROR,
                f"cannot parse {shorten_url(url)!r}: a password or user name in a URL must "
                "percent-encode '/', '?' and '#' (as %2F, %3F and %23)",
            ) from None
        raise BusinessError(URL_ERROR, f"cannot parse {shorten_url(url)!r}: {exc}") from exc
    if parts.scheme.lower() not in ("ws", "wss"):
        raise BusinessError(
            URL_ERROR,
            f"{shorten_url(url)!r} is not a WebSocket URL; it must start with ws:// or wss://",
        )
    if not parts.hostname:
        raise BusinessError(
            URL_ERROR, f"{shorten_url(url)!r} has no host; write ws://HOST[:PORT]/PATH"
        )
    if port == 0:
        raise BusinessError(URL_ERROR, "port 0 cannot be connected to; give the server's port")
    return parts


def coerce(cls: type[_D], value: Any, what: str) -> _D:
    """A dataclass instance from an instance or a dict, unknown keys refused."""
    if isinstance(value, cls):
        return dataclasses.replace(value)  # a copy: later changes by the caller don't leak in
    if not isinstance(value, Mapping):
        raise _param(f"{what} must be a dict or {cls.__name__}, not {type(value).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in value if k not in names]
    if unknown:
        raise _param(
            f"unknown {what} field {unknown[0]!r}; known fields: {', '.join(sorted(names))}"
        )
    try:
        return cls(**value)
    except TypeError as exc:
        raise _param(f"{what}: {exc}") from exc


def check_number(value: Any, name: str, *, minimum: float = 0, integer: bool = False) -> None:
    if not is_number(value) or (integer and not isinstance(value, int)):
        kind = "a whole number" if integer else "a number of seconds"
        raise _param(f"{name} must be {kind}, not {type(value).__name__}")
    if value != value or value < minimum or value == float("inf"):
        raise _param(f"{name} must be at least {minimum} and finite, not {value}")


def check_file(path: Any, name: str, *, folder_ok: bool = False) -> None:
    if not isinstance(path, (str, os.PathLike)):
        raise _param(f"{name} must be a file path string, not {type(path).__name__}")
    ok = os.path.isfile(path) or (folder_ok and os.path.isdir(path))
    if not ok:
        raise BusinessError(
            CERT_FILE_MISSING, f"{name} {os.fspath(path)!r} does not exist; check the path"
        )


def check_header_name(name: Any, what: str = "header") -> str:
    """An HTTP header name (a token: letters, digits and ``!#$%&'*+-.^_`|~``), else a 401."""
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise _param(f"{what} name {name!r} is not a valid HTTP header name")
    return name


def check_subprotocols(protocol: Any) -> list[str]:
    """Subprotocol names offered or spoken, as a list; each must be an HTTP token.

    ``'a, b'`` and ``['a', 'b']`` alike; ``None`` or ``''`` is none. RFC 6455
    section 4.1 makes each name a token (RFC 9110): ``chat``, ``v2.lesson``,
    ``chat+v1`` are fine, spaces, commas, ``/`` and non-ASCII letters are not.
    The client and the server use this one rule.
    """
    if protocol is None or protocol == "":
        return []
    if isinstance(protocol, str):
        names = [p.strip() for p in protocol.split(",") if p.strip()]
    elif isinstance(protocol, (list, tuple)) and all(isinstance(p, str) for p in protocol):
        names = list(protocol)
    else:
        raise _param("protocol must be a string such as 'chat' or a list of strings")
    for name in names:
        if not _TOKEN.fullmatch(name):
            raise _param(
                f"protocol {name!r} is not a valid subprotocol name: use ASCII letters, digits "
                "and !#$%&'*+-.^_`|~ (no spaces, commas or slashes)"
            )
    return names


def check_headers(header: Any, what: str = "header") -> dict[str, str]:
    """Validate request headers; values become strings. CR/LF injection is a 401."""
    if not isinstance(header, Mapping):
        raise _param(f"{what} must be a dict of name -> value, not {type(header).__name__}")
    out: dict[str, str] = {}
    for name, value in header.items():
        check_header_name(name, what)
        if name.lower() in _HANDSHAKE_HEADERS:
            raise _param(f"{what} {name!r} is set by the WebSocket handshake itself; remove it")
        out[name] = check_header_value(name, value, what)
    return out


def check_header_value(name: str, value: Any, what: str = "header") -> str:
    """A header value as a string (numbers allowed), one line of ISO-8859-1, else a 401."""
    if isinstance(value, str):
        text = value
    elif is_number(value):
        text = str(value)
    else:
        raise _param(f"{what} {name!r} must have a string value, not {type(value).__name__}")
    bad = _BAD_VALUE.search(text)
    if bad is None:
        return text
    if bad.group() in "\r\n\x00":
        raise _param(f"{what} {name!r} contains a line break or NUL; header values are one line")
    raise _param(
        f"{what} {name!r} contains {bad.group()!r}: header values hold no control "
        "characters and only ISO-8859-1 letters"
    )


def close_code_allowed(code: int) -> bool:
    """Whether RFC 6455 lets an endpoint send ``code`` in a close frame."""
    return any(lo <= code <= hi for lo, hi in ALLOWED_CLOSE_CODES)


def check_close_code(code: Any) -> int:
    """A close code an endpoint may send (RFC 6455 section 7.4), else a 401.

    1004 is reserved, 1005, 1006 and 1015 are never sent on the wire, 1000–2999
    belong to the RFC and 3000–4999 to registered and private uses.
    """
    if not is_whole_number(code):
        raise _param(f"close code must be a whole number, not {type(code).__name__}")
    if not close_code_allowed(code):
        raise _param(f"close code {code} is not allowed; use 1000–1003, 1007–1014 or 3000–4999")
    return code


def check_close_reason(reason: Any) -> str:
    """A close reason: text of at most 123 UTF-8 bytes (RFC 6455 section 5.5), else a 401."""
    if not isinstance(reason, str):
        raise _param(f"close reason must be a string, not {type(reason).__name__}")
    size = len(reason.encode("utf-8", "surrogatepass"))
    if size > 123:
        raise _param(f"close reason is {size} UTF-8 bytes; it may be at most 123")
    try:
        reason.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _param("close reason contains a lone surrogate; it must be valid text") from exc
    return reason


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


def compose(text: str, mode: str = "text") -> str | bytes:
    """What the composer sends for ``text`` typed in ``mode`` (see ``COMPOSER_MODES``).

    ``text`` is sent as typed; ``json`` must parse and is sent compact (as
    text); ``hex`` is pairs of hex digits, spaces and a ``0x`` prefix allowed;
    ``base64`` is standard base64. Both binary modes give bytes.

    Raises:
        BusinessError: 401 naming what is wrong with the input.
    """
    if not isinstance(text, str):
        raise _param(f"the message must be text, not {type(text).__name__}")
    if mode == "text":
        return text
    if mode == "json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _param(
                f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if mode == "hex":
        digits = "".join(text.split())
        if digits[:2].lower() == "0x":
            digits = digits[2:]
        try:
            return bytes.fromhex(digits)
        except ValueError:
            raise _param("not valid hex: use pairs of 0-9/a-f digits, spaces allowed") from None
    if mode == "base64":
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _param("not valid base64: use A-Z a-z 0-9 + / and = padding") from None
    raise _param(f"unknown composer mode {mode!r}; use one of {', '.join(COMPOSER_MODES)}")
