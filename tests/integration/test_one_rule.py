"""One rule per check: the client, the server, the magics and the panel agree."""

from __future__ import annotations

import pytest

from ohws_jupyter import BusinessError, createWebSocket, createWebSocketServer
from ohws_jupyter.core.checks import check_subprotocols, compose
from ohws_jupyter.jupyter.panel_model import parse_composer

GOOD = ["chat", "v2.lesson", "chat+v1", "a_b-c", "x~y|z"]
BAD = ["é", "chat v1", "a/b", "ch@t", "[x]", "a;b"]
LIMITS = {"maxConcurrentClientsNumber": 10, "maxConnectionsForOneClient": 10}


@pytest.mark.parametrize("name", GOOD)
def test_a_token_subprotocol_is_accepted_by_client_and_server(name: str) -> None:
    assert check_subprotocols(name) == [name]
    server = createWebSocketServer()
    try:
        server.start({"serverPort": 0, "protocol": name, **LIMITS}).result(10)
    finally:
        server.stop().result(10)


@pytest.mark.parametrize("name", BAD)
def test_a_non_token_subprotocol_is_a_401_on_both_sides(name: str) -> None:
    ws = createWebSocket()
    with pytest.raises(BusinessError) as client_err:
        ws.connect("ws://127.0.0.1:9", {"protocol": [name]}).result(10)
    server = createWebSocketServer()
    with pytest.raises(BusinessError) as server_err:
        server.start({"serverPort": 0, "protocol": [name], **LIMITS}).result(10)
    assert client_err.value.code == server_err.value.code == 401
    assert client_err.value.detail == server_err.value.detail
    assert repr(name) in client_err.value.detail


@pytest.mark.parametrize(
    ("text", "mode", "sent"),
    [
        ("hi", "text", "hi"),
        ('{ "a" : [1, 2] }', "json", '{"a":[1,2]}'),
        ("01 ff", "hex", b"\x01\xff"),
        ("0x01ff", "hex", b"\x01\xff"),
        ("AQL/", "base64", b"\x01\x02\xff"),
    ],
)
def test_the_composer_rule_is_shared_by_the_magics_and_the_panel(
    text: str, mode: str, sent: str | bytes
) -> None:
    assert compose(text, mode) == parse_composer(text, mode) == sent


@pytest.mark.parametrize(
    ("text", "mode", "why"),
    [("{", "json", "not valid JSON"), ("zz", "hex", "not valid hex"), ("!", "base64", "base64")],
)
def test_composer_mistakes_say_what_is_wrong(text: str, mode: str, why: str) -> None:
    with pytest.raises(BusinessError) as err:
        compose(text, mode)
    assert err.value.code == 401 and why in err.value.detail
    with pytest.raises(ValueError, match=why):
        parse_composer(text, mode)


@pytest.mark.parametrize(
    ("text", "kind", "why"),
    [
        ("(", "regex", "is not a regular expression"),
        ("{oops", "json", "not valid JSON"),
        ("[1]", "json", "must be an object"),
        ("  ", "regex", "type what to expect"),
    ],
)
def test_the_expect_rule_is_shared_by_the_magics_and_the_panel(
    text: str, kind: str, why: str
) -> None:
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    from ohws_jupyter.jupyter.magics import WebSocketMagics
    from ohws_jupyter.jupyter.panel_tools import _expect_match  # the panel's Expect field
    from ohws_jupyter.record.expect import parse_match

    with pytest.raises(BusinessError) as rule:
        parse_match(text, kind)
    assert rule.value.code == 401 and why in rule.value.detail
    with pytest.raises(BusinessError) as panel:
        _expect_match(text, kind)
    assert panel.value.detail == rule.value.detail
    if text.strip():
        shell = InteractiveShell.instance()
        shell.register_magics(WebSocketMagics(shell))
        with pytest.raises(UsageError) as magic:
            shell.run_line_magic("ws", f"expect --{kind} {text}")
        assert str(magic.value) == f"--{kind}: {rule.value.detail}"
