"""The closing rules both sides share: what a finished connection reports.

``close_result_of`` is the code and reason of ``'close'``; ``failure_of`` says
why a connection ended badly (for the code-200 ``'error'``), in one order for
the client and the server, which only word it for their own side.
"""

from __future__ import annotations

from typing import Any

from websockets.exceptions import PayloadTooBig, ProtocolError

from ..core.options import CloseResult

__all__ = ["FAILURES", "close_result_of", "failure_of"]

#: Why a connection can end badly, in the order they are checked.
FAILURES = (
    "slow-peer",  # the peer did not read what we sent (we cut it off, 1008)
    "invalid-utf8",  # text that is not UTF-8 (1007)
    "too-big",  # a message over the size limit (1009)
    "protocol",  # a frame RFC 6455 forbids (1002)
    "keepalive",  # no pong within pongTimeout
    "close-deadline",  # the closing handshake did not finish within closeTimeout
    "lost",  # the transport ended with no close frame (1006)
)


def close_result_of(proto: Any) -> CloseResult:
    """How a finished connection closed, as this side reports it in ``'close'``.

    The side that started the closing handshake, or failed the connection
    (1002, 1007, 1009, 1011), reports the code it sent: that says what went
    wrong, where the dropped socket would only say 1006. Otherwise the peer's
    close frame counts; with none, 1006.
    """
    if proto.close_sent is not None and proto.close_rcvd_then_sent is not True:
        return CloseResult(proto.close_sent.code, proto.close_sent.reason)
    if proto.close_rcvd is not None:
        return CloseResult(proto.close_rcvd.code, proto.close_rcvd.reason)
    return CloseResult(1006, "")


def failure_of(conn: Any, exc: BaseException | None) -> tuple[str, BaseException | None] | None:
    """Why ``conn`` ended badly, as ``(one of FAILURES, the cause)``; None for a clean end.

    Args:
        conn: The finished :class:`~ohws_jupyter.engine.connection.Connection`.
        exc: The transport's error, if any.
    """
    proto = conn.protocol
    cause = conn.utf8_error or conn.frame_error or proto.parser_exc or exc
    if conn.slow_peer:
        reason = "slow-peer"
    elif isinstance(cause, UnicodeDecodeError):
        reason = "invalid-utf8"
    elif isinstance(cause, PayloadTooBig):
        reason = "too-big"
    elif isinstance(cause, ProtocolError):
        reason = "protocol"
    elif conn.keepalive_failed:
        reason = "keepalive"
    elif proto.close_rcvd is None and conn.aborted_by_deadline:
        reason = "close-deadline"
    elif proto.close_rcvd is None:
        reason = "lost"
    else:
        return None
    return reason, cause
