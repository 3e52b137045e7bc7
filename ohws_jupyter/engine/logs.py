"""Loggers that mask credentials, for websockets' handshake debug lines.

At DEBUG level websockets' protocol logs every handshake line, on both sides:
the request line (``> GET /path?token=... HTTP/1.1`` on a client, ``< GET ...``
on a server) and each header (``> Authorization: Bearer ...``). A user who turns
on debug logging must not leak credentials, so each connection's protocol gets
a :class:`MaskingLogger` instead of websockets' plain logger.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Iterable
from typing import Any

from ..core.masking import SENSITIVE_HEADERS, mask_url

__all__ = ["MaskingLogger", "mask_log_line"]


@functools.lru_cache(maxsize=64)
def _header_line_pattern(extra: frozenset[str]) -> re.Pattern[str]:
    """A logged header line (``> Name: value``) whose name is a credential."""
    names = sorted(SENSITIVE_HEADERS | extra)
    return re.compile(
        r"^([<>] )(" + "|".join(re.escape(n) for n in names) + r")(:\s*).*$", re.IGNORECASE
    )


_REQUEST_LINE = re.compile(r"^([<>] )(GET|[A-Z]+) (\S+) (HTTP/\S+)$")


def mask_log_line(line: str, extra_sensitive: Iterable[str] = ()) -> str:
    """``line`` with a credential header's value and query tokens masked."""
    pattern = _header_line_pattern(frozenset(h.lower() for h in extra_sensitive))
    line = pattern.sub(r"\1\2\3***", line)
    request = _REQUEST_LINE.match(line)
    if request is not None:
        prefix, method, target, version = request.groups()
        line = f"{prefix}{method} {mask_url(target)} {version}"
    return line


class MaskingLogger(logging.LoggerAdapter[logging.Logger]):
    """``websockets.client`` or ``websockets.server``, with credentials masked.

    Args:
        side: ``"client"`` or ``"server"``.
        extra_sensitive: More header names whose values are masked.
    """

    def __init__(self, side: str, extra_sensitive: Iterable[str] = ()) -> None:
        super().__init__(logging.getLogger(f"websockets.{side}"), {})
        self._extra = tuple(extra_sensitive)

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        if args:
            with contextlib.suppress(TypeError, ValueError):
                msg, args = str(msg) % args, ()
        if isinstance(msg, str):
            msg = mask_log_line(msg, self._extra)
        self.logger.log(level, msg, *args, **kwargs)
