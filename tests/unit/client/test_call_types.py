"""What a type checker sees of the two call forms: a Promise without a callback, None with."""

from __future__ import annotations

import pytest

from ohws_jupyter.client.websocket import WebSocket
from tests.helpers.types import assert_call_forms


@pytest.mark.parametrize("name", ["connect", "send", "close"])
def test_each_form_has_an_overload_with_its_own_return_type(name: str) -> None:
    # Every parameter is typed as well: no Any left where the type is known.
    assert_call_forms(WebSocket, name)
