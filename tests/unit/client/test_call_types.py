"""What a type checker sees of the two call forms: a Promise without a callback, None with."""

from __future__ import annotations

import typing

import pytest

from ohws_jupyter.client.websocket import WebSocket
from ohws_jupyter.engine.promise import Promise


@pytest.mark.parametrize("name", ["connect", "send", "close"])
def test_each_form_has_an_overload_with_its_own_return_type(name: str) -> None:
    forms = typing.get_overloads(getattr(WebSocket, name))
    assert len(forms) >= 2
    for form in forms:
        hints = typing.get_type_hints(form)
        returns = hints.pop("return")
        if "callback" in hints:
            assert returns is type(None), (name, hints)
        else:
            assert returns == Promise[bool], (name, hints)
    # Every parameter is typed: no Any left where the type is known.
    assert all(typing.Any not in typing.get_type_hints(f).values() for f in forms)
