"""Fixtures of the profile tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter import createWebSocketServer
from tests.helpers.profile_peers import TIMEOUT, ServerEvents


@pytest.fixture
def make_server() -> Iterator[Any]:
    """``make_server(name, config)`` starts a server under that profile, stopped at the end."""
    made: list[Any] = []

    def start(name: str, config: Any) -> tuple[Any, ServerEvents]:
        server = createWebSocketServer(profile=name)
        events = ServerEvents(server)
        assert server.start(config).result(TIMEOUT) is True
        made.append(server)
        return server, events

    yield start
    for server in made:
        if server.state.name == "RUNNING":
            server.stop().result(TIMEOUT)
