"""Options the client refuses before anything reaches the server, on a real connection."""

from __future__ import annotations

import pytest

from ohws_jupyter import BusinessError, WebSocket
from tests.helpers import ThreadServer

TIMEOUT = 10


def test_a_header_name_with_a_newline_never_reaches_the_server(
    ws: WebSocket, echo_server: ThreadServer
) -> None:
    with pytest.raises(BusinessError) as info:
        ws.connect(echo_server.url, {"header": {"X-Evil\n": "yes"}}).result(TIMEOUT)
    assert info.value.code == 401
    assert "'X-Evil\\n' is not a valid HTTP header name" in info.value.message
    assert echo_server.connections == []
    # The same socket connects once the header is right.
    assert ws.connect(echo_server.url, {"header": {"X-Fine": "yes"}}).result(TIMEOUT) is True


def test_connect_rejects_such_a_url_without_showing_the_password(ws: WebSocket) -> None:
    with pytest.raises(BusinessError) as info:
        ws.connect("ws://alice:hunter#2@127.0.0.1:9/").result(TIMEOUT)
    assert info.value.code == 2302001
    assert "hunter" not in str(info.value)
