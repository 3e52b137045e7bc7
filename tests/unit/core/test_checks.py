"""The argument checks of the core: close codes and reasons (RFC 6455 §7.4), URLs,
headers, subprotocols, send data and reconnect policies, each with its BusinessError code."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter import (
    BusinessError,
    ReconnectPolicy,
    TlsProtocol,
    WebSocketCloseOptions,
    WebSocketRequestOptions,
    set_allowed_hosts,
    set_network_permission,
)
from ohws_jupyter.core.checks import (
    COMPOSER_MODES,
    MAX_SEND_SIZE,
    MAX_URL_LENGTH,
    check_close_code,
    check_close_reason,
    check_data,
    check_subprotocols,
    check_url,
    close_code_allowed,
    compose,
)
from ohws_jupyter.core.context import resolve_context
from ohws_jupyter.core.options import (
    check_close_options,
    check_reconnect,
    check_request_options,
    split_protocols,
)


def code_of(call: Any, *args: Any) -> tuple[int, str]:
    """The BusinessError code and message that ``call(*args)`` raises."""
    with pytest.raises(BusinessError) as info:
        call(*args)
    return info.value.code, info.value.message


# -- close codes: RFC 6455 section 7.4 ------------------------------------------------------------
def rfc_6455_lets_an_endpoint_send(code: int) -> bool:
    """Section 7.4.1 and 7.4.2, written out on their own."""
    if code < 1000 or code >= 5000:
        return False  # 0-999 are not used; no code above 4999 exists
    if code in (1004, 1005, 1006, 1015):
        return False  # reserved, or "MUST NOT be set as a status code in a Close control frame"
    # 1016-2999 are reserved for future versions and extensions; the rest may be sent:
    # 1000-1003, 1007-1014 (the IANA registry), 3000-3999 registered, 4000-4999 private.
    return not 1016 <= code <= 2999


def test_the_close_code_table_is_rfc_6455s() -> None:
    assert [c for c in range(0, 5100) if close_code_allowed(c)] == [
        c for c in range(0, 5100) if rfc_6455_lets_an_endpoint_send(c)
    ]
    for code in range(0, 5100, 7):
        if rfc_6455_lets_an_endpoint_send(code):
            assert check_close_code(code) == code
        else:
            assert code_of(check_close_code, code)[0] == 401


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_a_close_code_rfc_6455_forbids_is_a_401_that_says_what_to_use(code: int) -> None:
    assert code_of(check_close_options, {"code": code}) == (
        401,
        f"Parameter error: close code {code} is not allowed; use 1000–1003, 1007–1014 or 3000–4999",
    )


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4000, 4999])
def test_an_allowed_close_code_passes(code: int) -> None:
    opts = check_close_options({"code": code, "reason": "bye"})
    assert (opts.code, opts.reason) == (code, "bye")


def test_close_defaults_and_both_forms() -> None:
    assert check_close_options(None) == WebSocketCloseOptions(1000, "")
    assert check_close_options({"code": None, "reason": None}) == WebSocketCloseOptions(1000, "")
    given = WebSocketCloseOptions(4000, "done")
    checked = check_close_options(given)
    assert checked == given and checked is not given  # a copy: later changes do not leak in


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"code": "1000"}, "close code must be a whole number, not str"),
        ({"code": True}, "close code must be a whole number, not bool"),
        ({"code": 1000.0}, "close code must be a whole number, not float"),
        ({"reason": 7}, "close reason must be a string, not int"),
        ({"cod": 1000}, "unknown close options field 'cod'; known fields: code, reason"),
        ("1000", "close options must be a dict or WebSocketCloseOptions, not str"),
    ],
)
def test_malformed_close_options_are_401(options: Any, message: str) -> None:
    code, text = code_of(check_close_options, options)
    assert code == 401 and text == f"Parameter error: {message}"


def test_a_close_reason_is_at_most_123_utf8_bytes() -> None:
    assert check_close_reason("é" * 61 + "x") == "é" * 61 + "x"
    assert code_of(check_close_reason, "x" * 124)[0] == 401
    assert check_close_options({"reason": "x" * 123}).reason == "x" * 123
    assert check_close_options({"reason": "é" * 61 + "x"}).reason  # 123 bytes
    assert code_of(check_close_options, {"reason": "é" * 62}) == (
        401,
        "Parameter error: close reason is 124 UTF-8 bytes; it may be at most 123",
    )
    assert code_of(check_close_options, {"reason": "\ud800"})[0] == 401


# -- URLs -----------------------------------------------------------------------------------------
@pytest.fixture
def restore_permissions() -> Iterator[None]:
    yield
    set_network_permission(True)
    set_allowed_hosts(None)


@pytest.mark.parametrize(
    "url",
    ["ws://127.0.0.1:8765", "wss://example.org/chat?x=1", "WS://[::1]:9/", "ws://host"],
)
def test_websocket_urls_pass(url: str) -> None:
    assert check_url(url).scheme.lower() in ("ws", "wss")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://127.0.0.1:8765", "is not a WebSocket URL; it must start with ws:// or wss://"),
        ("127.0.0.1:8765", "is not a WebSocket URL"),
        ("ws://", "has no host; write ws://HOST[:PORT]/PATH"),
        ("ws://127.0.0.1:0/", "port 0 cannot be connected to"),
        ("ws://127.0.0.1:99999/", "cannot parse"),
        ("ws://127.0.0.1/a b", "contains whitespace or control characters"),
        ("ws://127.0.0.1/\r\nX: 1", "contains whitespace or control characters"),
        ("ws://h/" + "a" * (MAX_URL_LENGTH - 7), "characters; it must be shorter than 8196"),
    ],
)
def test_a_bad_url_is_2302001(url: str, fragment: str) -> None:
    code, message = code_of(check_url, url)
    assert code == 2302001 and fragment in message, message


def test_the_longest_url_allowed_is_8195_characters() -> None:
    url = "ws://h/" + "a" * (MAX_URL_LENGTH - 8)
    assert len(url) == MAX_URL_LENGTH - 1 and check_url(url).hostname == "h"


@pytest.mark.parametrize("url", [None, 8765, b"ws://127.0.0.1"])
def test_a_url_that_is_not_a_string_is_401(url: Any) -> None:
    code, message = code_of(check_url, url)
    assert code == 401 and "url must be a string like 'ws://127.0.0.1:8765'" in message


def test_permission_and_allowed_hosts_refuse_with_their_codes(restore_permissions: None) -> None:
    before = resolve_context()
    set_network_permission(False)
    code, message = code_of(resolve_context().check_url, "ws://127.0.0.1/")
    assert code == 201 and "set_network_permission(True)" in message
    assert before.check_url("ws://127.0.0.1/").hostname == "127.0.0.1"  # it keeps its own
    set_network_permission(True)
    set_allowed_hosts(["Example.org"])
    limited = resolve_context()
    assert limited.check_url("ws://example.org/").hostname == "example.org"
    code, message = code_of(limited.check_url, "ws://127.0.0.1/")
    assert code == 2302998 and "host '127.0.0.1' is not in the allowed hosts" in message
    assert check_url("ws://127.0.0.1/").hostname == "127.0.0.1"  # the syntax alone
    assert code_of(set_network_permission, "yes")[0] == 401
    assert code_of(set_allowed_hosts, "example.org")[0] == 401  # a list, not one string


# -- headers --------------------------------------------------------------------------------------
def test_header_values_become_strings() -> None:
    opts = check_request_options({"header": {"X-Count": 3, "X-Ratio": 0.5, "X-Name": "a"}})
    assert opts.header == {"X-Count": "3", "X-Ratio": "0.5", "X-Name": "a"}


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ({"X Space": "1"}, "header name 'X Space' is not a valid HTTP header name"),
        ({"X:Colon": "1"}, "is not a valid HTTP header name"),
        ({"Ünïcode": "1"}, "is not a valid HTTP header name"),
        ({"": "1"}, "header name '' is not a valid HTTP header name"),
        ({1: "1"}, "header name 1 is not a valid HTTP header name"),
        ({"Host": "evil"}, "header 'Host' is set by the WebSocket handshake itself; remove it"),
        ({"sec-websocket-key": "k"}, "is set by the WebSocket handshake itself"),
        ({"Upgrade": "h2c"}, "is set by the WebSocket handshake itself"),
        ({"X-None": None}, "header 'X-None' must have a string value, not NoneType"),
        ({"X-Flag": True}, "header 'X-Flag' must have a string value, not bool"),
        (["X-A", "1"], "header must be a dict of name -> value, not list"),
    ],
)
def test_a_bad_header_is_401(header: Any, fragment: str) -> None:
    code, message = code_of(check_request_options, {"header": header})
    assert code == 401 and fragment in message, message


def test_the_callers_headers_are_copied() -> None:
    given = WebSocketRequestOptions(header={"X-A": "1"})
    checked = check_request_options(given)
    given.header["X-B"] = "2"
    assert checked.header == {"X-A": "1"}


# -- subprotocols ---------------------------------------------------------------------------------
def test_subprotocols_are_split_at_commas_or_taken_as_a_list() -> None:
    assert split_protocols("chat, superchat ,") == ["chat", "superchat"]
    assert split_protocols(["a", "b"]) == ["a", "b"]
    assert split_protocols(None) == split_protocols("") == []
    assert check_request_options({"protocol": "a, b"}).protocols == ["a", "b"]
    assert check_request_options({"protocol": ("a", "b")}).protocol == ["a", "b"]


@pytest.mark.parametrize("name", ["chat", "chat+v1", "v1.chat.example.org", "x-y_z~1", "A!#$%&'*"])
def test_a_subprotocol_is_an_rfc_7230_token(name: str) -> None:
    # RFC 6455 section 4.1: each value of Sec-WebSocket-Protocol is a token.
    assert check_request_options({"protocol": name}).protocols == [name]


@pytest.mark.parametrize(
    "protocol", ["é", "chat/v1", "a b", ["chat", "super chat"], ["chat", ""], "(chat)"], ids=repr
)
def test_a_subprotocol_that_is_not_a_token_is_401(protocol: Any) -> None:
    code, message = code_of(check_request_options, {"protocol": protocol})
    assert code == 401 and "is not a valid subprotocol name" in message, message


def test_one_subprotocol_rule_for_client_and_server() -> None:
    # The server's config and the client's options both go through check_subprotocols.
    assert check_subprotocols("chat, chat+v1") == ["chat", "chat+v1"]
    assert check_subprotocols(None) == check_subprotocols("") == []
    code, message = code_of(check_subprotocols, ["é"])
    assert code == 401 and "use ASCII letters, digits and !#$%&'*+-.^_`|~" in message


@pytest.mark.parametrize("protocol", [3, ["chat", 3], {"chat": 1}], ids=repr)
def test_a_subprotocol_of_the_wrong_type_is_401(protocol: Any) -> None:
    code, message = code_of(check_request_options, {"protocol": protocol})
    assert code == 401 and "protocol must be a string such as 'chat' or a list" in message


# -- the other request options --------------------------------------------------------------------
def test_defaults_and_unknown_fields() -> None:
    assert check_request_options(None) == WebSocketRequestOptions()
    code, message = code_of(check_request_options, {"pingIntervall": 5})
    assert code == 401 and "unknown options field 'pingIntervall'; known fields: " in message
    assert "pingInterval" in message.split("known fields: ")[1]
    assert code_of(check_request_options, "ws://x")[0] == 401


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"pingInterval": -1}, "pingInterval must be at least 0 and finite, not -1"),
        ({"pongTimeout": math.inf}, "pongTimeout must be at least 0 and finite"),
        ({"openTimeout": math.nan}, "openTimeout must be at least 0 and finite"),
        ({"closeTimeout": True}, "closeTimeout must be a number of seconds, not bool"),
        ({"closeTimeout": "10"}, "closeTimeout must be a number of seconds, not str"),
        ({"maxMessageSize": 0}, "maxMessageSize must be at least 1"),
        ({"maxQueuedMessages": 2.5}, "maxQueuedMessages must be a whole number, not float"),
        ({"wholeMessages": 1}, "wholeMessages must be True or False"),
        ({"compression": None}, "compression must be True or False"),
        ({"proxy": "direct"}, "proxy must be 'system', 'no-proxy' or an HttpProxy"),
        ({"proxy": {"host": "127.0.0.1", "port": 0}}, "proxy.port must be a whole number"),
        ({"proxy": {"host": "a b", "port": 8080}}, "proxy.host must be a host name"),
        ({"minSupportTlsProtocol": 4}, "minSupportTlsProtocol must be a TlsProtocol"),
        ({"minSupportTlsProtocol": "TLS_V_1_4"}, "minSupportTlsProtocol must be a TlsProtocol"),
        ({"sensitiveHeaders": "x-secret"}, "sensitiveHeaders must be a list of header names"),
    ],
)
def test_a_bad_option_is_401_and_names_the_field(options: dict[str, Any], fragment: str) -> None:
    code, message = code_of(check_request_options, options)
    assert code == 401 and fragment in message, message


def test_named_tls_versions_and_proxies_are_read() -> None:
    opts = check_request_options(
        {"minSupportTlsProtocol": "TLS_V_1_2", "proxy": {"host": "127.0.0.1", "port": 3128}}
    )
    assert opts.minSupportTlsProtocol is TlsProtocol.TLS_V_1_2
    assert (opts.proxy.host, opts.proxy.port, opts.proxy.exclusionList) == ("127.0.0.1", 3128, [])


def test_missing_certificate_files_are_2302002(tmp_path: Any) -> None:
    missing = str(tmp_path / "nowhere.pem")
    code, message = code_of(check_request_options, {"caPath": missing})
    assert code == 2302002 and f"caPath {missing!r} does not exist" in message
    code, _ = code_of(
        check_request_options, {"clientCert": {"certPath": missing, "keyPath": missing}}
    )
    assert code == 2302002
    assert check_request_options({"caPath": str(tmp_path)}).caPath == str(tmp_path)  # a folder


# -- send data ------------------------------------------------------------------------------------
def test_send_data_is_text_or_a_snapshot_of_bytes() -> None:
    assert check_data("héllo") == ("héllo".encode(), True)
    buffer = bytearray(b"\x00\xff")
    payload, is_text = check_data(buffer)
    buffer[0] = 7  # the caller reuses its buffer at once
    assert (payload, is_text) == (b"\x00\xff", False)
    assert check_data(memoryview(b"abc")) == (b"abc", False)


def test_send_data_is_at_most_5_mib_minus_16_bytes() -> None:
    assert MAX_SEND_SIZE == 5 * 1024 * 1024 - 16
    assert len(check_data(b"x" * MAX_SEND_SIZE)[0]) == MAX_SEND_SIZE
    code, message = code_of(check_data, b"x" * (MAX_SEND_SIZE + 1))
    assert code == 401 and "raise the cap with the maxSendSize option" in message
    assert code_of(check_data, "xy", 1) == (
        401,
        "Parameter error: data is 2 bytes; send at most 1 (maxSendSize) per call",
    )


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (42, "data must be str or bytes (ArrayBuffer), not int; convert it first"),
        ({"a": 1}, "not dict; convert it first, e.g. json.dumps(value)"),
        (None, "not NoneType"),
        ("\udc80", "lone surrogate"),
    ],
)
def test_other_send_data_is_401(data: Any, fragment: str) -> None:
    code, message = code_of(check_data, data)
    assert code == 401 and fragment in message


# -- reconnect ------------------------------------------------------------------------------------
def test_reconnect_switches_and_defaults() -> None:
    assert check_reconnect(None) is False and check_reconnect(False) is False
    assert check_reconnect(True) == ReconnectPolicy()
    assert check_reconnect({"attempts": 3}) == ReconnectPolicy(attempts=3)


def test_backoff_doubles_within_its_bounds() -> None:
    policy = ReconnectPolicy(attempts=10, minDelay=0.5, maxDelay=30, factor=2)
    assert [policy.bounds(n) for n in (1, 2, 4, 7, 20)] == [
        (0.5, 0.5),
        (0.5, 1.0),
        (2.0, 4.0),
        (15.0, 30),
        (15.0, 30),
    ]
    assert policy.delay(4, lambda low, high: high) == 4.0
    assert policy.delay(4, lambda low, high: low) == 2.0
    assert policy.delay(1, lambda low, high: 99) == 0.5  # no range left to draw from


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"attempts": 0}, "reconnect attempts must be 1 or more, not 0"),
        ({"attempts": 2.5}, "reconnect attempts must be a whole number"),
        ({"factor": 0.5}, "reconnect factor must be a number of at least 1"),
        ({"minDelay": -1}, "reconnect minDelay must be at least 0"),
        ({"minDelay": 5, "maxDelay": 1}, "maxDelay (1) must not be less than minDelay (5)"),
        ({"tries": 3}, "unknown reconnect field 'tries'"),
        (3, "reconnect must be a dict or ReconnectPolicy, not int"),
    ],
)
def test_a_bad_reconnect_policy_is_401(value: Any, fragment: str) -> None:
    code, message = code_of(check_reconnect, value)
    assert code == 401 and fragment in message, message


# -- composer input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "mode", "sent"),
    [
        ("as typed ", "text", "as typed "),
        ('{ "a" : [1, 2] }', "json", '{"a":[1,2]}'),
        ("0x01 ff", "hex", b"\x01\xff"),
        ("AQL/", "base64", b"\x01\x02\xff"),
    ],
)
def test_what_the_composer_sends(text: str, mode: str, sent: str | bytes) -> None:
    assert compose(text, mode) == sent


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ("{", "json", "not valid JSON: Expecting property name enclosed in double quotes"),
        ("abc", "hex", "not valid hex: use pairs of 0-9/a-f digits, spaces allowed"),
        ("A*==", "base64", "not valid base64: use A-Z a-z 0-9 + / and = padding"),
        ("x", "morse", "unknown composer mode 'morse'; use one of text, json, hex, base64"),
        (b"x", "text", "the message must be text, not bytes"),
    ],
)
def test_composer_mistakes_are_401(text: Any, mode: str, message: str) -> None:
    assert COMPOSER_MODES == ("text", "json", "hex", "base64")
    code, text_of_error = code_of(compose, text, mode)
    assert code == 401 and text_of_error.startswith(f"Parameter error: {message}")
