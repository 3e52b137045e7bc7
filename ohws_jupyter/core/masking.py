"""Masking credentials wherever text is shown: header values, URL passwords and tokens.

Every view of a URL or of headers (errors, logs, the panel, exports) goes
through these functions, so a credential typed once is never shown again.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, overload

_V = TypeVar("_V")

__all__ = [
    "SENSITIVE_HEADERS",
    "SENSITIVE_QUERY",
    "mask_headers",
    "mask_url",
    "mask_urls_in",
    "password_span",
    "shorten_url",
]

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


def mask_headers(headers: Mapping[str, Any], extra: Sequence[str] = ()) -> dict[str, str]:
    """A copy of ``headers`` with credential values replaced by ``***``."""
    secret = SENSITIVE_HEADERS | {name.lower() for name in extra}
    return {k: ("***" if k.lower() in secret else str(v)) for k, v in headers.items()}


#: Query parameters whose values are masked in a displayed URL.
SENSITIVE_QUERY = frozenset(
    {"token", "access_token", "auth", "authorization", "key", "api_key", "apikey", "password"}
)
_URL_IN_TEXT = re.compile(r"wss?://[^\s'\"<>]+", re.IGNORECASE)


def password_span(url: str) -> tuple[int, int] | None:
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


@overload
def mask_url(url: str) -> str: ...
@overload
def mask_url(url: _V) -> _V: ...
def mask_url(url: object) -> object:
    """``url`` with a password and token-like query values replaced by ``***``.

    Anything that is not a parsable string comes back unchanged.
    """
    if not isinstance(url, str) or not url:
        return url
    loose = password_span(url)
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


def shorten_url(text: str, limit: int = 80) -> str:
    """A URL as an error message may quote it: credentials masked, cut to ``limit``."""
    text = mask_url(text) if "@" in text or "?" in text else text
    if "@" in text and "://" not in text:  # not parsed as a URL: hide any userinfo anyway
        text = "***@" + text.rsplit("@", 1)[1]
    return text if len(text) <= limit else text[: limit - 1] + "…"
