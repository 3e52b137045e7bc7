"""What a type checker sees of the server's two call forms: a Promise without a callback,
None with one; and the config dicts."""

from __future__ import annotations

import typing

import pytest

from ohws_jupyter.server.config import (
    ServerCert,
    ServerCertDict,
    WebSocketConnection,
    WebSocketConnectionDict,
    WebSocketServerConfig,
    WebSocketServerConfigDict,
)
from ohws_jupyter.server.websocket_server import WebSocketServer
from tests.helpers.types import assert_call_forms, assert_dict_of


@pytest.mark.parametrize("name", ["start", "stop", "send", "close"])
def test_each_form_has_an_overload_with_its_own_return_type(name: str) -> None:
    assert_call_forms(WebSocketServer, name)


def test_list_all_connections_returns_none_only_with_a_callback() -> None:
    forms = typing.get_overloads(WebSocketServer.listAllConnections)
    returns = {
        "callback" in typing.get_type_hints(f): typing.get_type_hints(f)["return"] for f in forms
    }
    assert returns[True] is type(None)
    assert type(None) not in typing.get_args(returns[False])


@pytest.mark.parametrize(
    ("cls", "as_dict"),
    [
        (ServerCert, ServerCertDict),
        (WebSocketServerConfig, WebSocketServerConfigDict),
        (WebSocketConnection, WebSocketConnectionDict),
    ],
)
def test_each_config_dict_has_the_keys_of_its_dataclass(cls: type, as_dict: type) -> None:
    assert_dict_of(cls, as_dict)
