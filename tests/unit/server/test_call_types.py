"""What a type checker sees of the server's two call forms: a Promise without a callback,
None with one."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from ohws_jupyter.engine.promise import Promise
from ohws_jupyter.server.config import (
    ServerCert,
    ServerCertDict,
    WebSocketConnection,
    WebSocketConnectionDict,
    WebSocketServerConfig,
    WebSocketServerConfigDict,
)
from ohws_jupyter.server.websocket_server import WebSocketServer


@pytest.mark.parametrize("name", ["start", "stop", "send", "close"])
def test_each_form_has_an_overload_with_its_own_return_type(name: str) -> None:
    forms = typing.get_overloads(getattr(WebSocketServer, name))
    assert len(forms) >= 2
    for form in forms:
        hints = typing.get_type_hints(form)
        returns = hints.pop("return")
        if "callback" in hints:
            assert returns is type(None), (name, hints)
        else:
            assert returns == Promise[bool], (name, hints)
        assert typing.Any not in hints.values(), (name, hints)


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
    fields = dataclasses.fields(cls)
    assert set(as_dict.__annotations__) == {f.name for f in fields}
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert getattr(as_dict, "__required_keys__") == required  # noqa: B009
