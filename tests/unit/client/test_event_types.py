"""The event names a type checker accepts are the ones ``on`` accepts at run time."""

from __future__ import annotations

import typing

from ohws_jupyter.client.websocket import CLIENT_EVENTS, ClientEvent
from ohws_jupyter.server.websocket_server import SERVER_EVENTS, ServerEvent


def test_client_events() -> None:
    assert set(typing.get_args(ClientEvent)) == set(CLIENT_EVENTS)


def test_server_events() -> None:
    assert set(typing.get_args(ServerEvent)) == set(SERVER_EVENTS)
