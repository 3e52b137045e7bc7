"""``options``: the checks on request options and URLs, and the masking of credentials."""

from __future__ import annotations

import pytest

from ohws_jupyter import BusinessError
from ohws_jupyter.core.checks import check_url
from ohws_jupyter.core.masking import mask_headers, mask_url, mask_urls_in
from ohws_jupyter.core.options import (
    ClientCert,
    ClientCertDict,
    HttpProxy,
    HttpProxyDict,
    ReconnectPolicy,
    ReconnectPolicyDict,
    WebSocketCloseOptions,
    WebSocketCloseOptionsDict,
    WebSocketRequestOptions,
    WebSocketRequestOptionsDict,
    check_request_options,
)
from tests.helpers.types import assert_dict_of


# -- CR and LF in header names and values ---------------------------------------------
@pytest.mark.parametrize(
    "header",
    [
        {"X-Evil\n": "yes"},  # a "$" anchor accepted this one
        {"X-Evil\r": "yes"},
        {"X-Evil\r\n": "yes"},
        {"\nX-Evil": "yes"},
        {"X-Ev\nil": "yes"},
        {"X-Evil\x00": "yes"},
        {"X-Evil": "yes\n"},
        {"X-Evil": "yes\r\nX-Injected: 1"},
        {"X-Evil": "\ryes"},
    ],
    ids=repr,
)
def test_cr_or_lf_anywhere_in_a_header_is_a_401(header: dict[str, str]) -> None:
    with pytest.raises(BusinessError) as info:
        check_request_options({"header": header})
    assert info.value.code == 401
    assert "X-Injected: 1" not in info.value.message.replace("\\r\\n", "")


# The string form is split at commas and stripped ('a, b'); a list is taken as given.
@pytest.mark.parametrize(
    "protocol", ["ch\nat", "chat\r\nX-Injected: 1", ["chat", "superchat\n"]], ids=repr
)
def test_cr_or_lf_in_a_subprotocol_is_a_401(protocol: str | list[str]) -> None:
    with pytest.raises(BusinessError) as info:
        check_request_options({"protocol": protocol})
    assert info.value.code == 401


# -- passwords with reserved characters --------------------------------------------------
@pytest.mark.parametrize("secret", ["p#ss", "p/ss", "p?ss", "se#cr/et?x", "12/34", "12#34"])
def test_a_password_with_reserved_characters_is_masked(secret: str) -> None:
    url = f"ws://alice:{secret}@127.0.0.1:9/chat?token=t0k"
    shown = mask_url(url)
    assert secret not in shown and "t0k" not in shown
    assert shown.startswith("ws://alice:***@127.0.0.1:9/chat")
    text = mask_urls_in(f"cannot reach {url}; is the server running?")
    assert secret not in text and text.startswith("cannot reach ws://alice:***@127.0.0.1:9/")


@pytest.mark.parametrize("secret", ["p#ss", "p/ss", "p?ss", "se#cr/et"])
def test_the_2302001_error_does_not_show_such_a_password(secret: str) -> None:
    url = f"ws://alice:{secret}@127.0.0.1:9/"
    with pytest.raises(BusinessError) as info:
        check_url(url)
    err = info.value
    assert err.code == 2302001
    assert err.message == (
        "Websocket url error: cannot parse 'ws://alice:***@127.0.0.1:9/': a password or "
        "user name in a URL must percent-encode '/', '?' and '#' (as %2F, %3F and %23)"
    )
    # The parser's own error (which quotes the start of the password as a port) stays hidden.
    assert err.__cause__ is None and err.__suppress_context__


def test_encoded_passwords_and_plain_urls_are_unchanged_or_masked_as_before() -> None:
    assert mask_url("ws://alice:p%23ss@127.0.0.1:9/") == "ws://alice:***@127.0.0.1:9/"
    assert mask_url("ws://127.0.0.1:9/?email=a@b.org") == "ws://127.0.0.1:9/?email=a@b.org"
    assert mask_url("ws://u:pw@127.0.0.1/x@y") == "ws://u:***@127.0.0.1/x@y"
    assert mask_url("ws://[::1]:9/@me") == "ws://[::1]:9/@me"
    assert mask_url("ws://127.0.0.1/@me") == "ws://127.0.0.1/@me"
    assert check_url("ws://alice:p%23ss@127.0.0.1:9/").password == "p%23ss"


# -- masking ------------------------------------------------------------------------------
def test_credential_headers_are_masked_whatever_their_case() -> None:
    headers = {
        "Authorization": "Bearer s3cret",
        "proxy-authorization": "Basic abc",
        "COOKIE": "session=1",
        "Sec-WebSocket-Key": "dGhl",
        "X-Api-Key": "k",
        "X-Auth-Token": "t",
        "X-Tenant": "acme",
        "X-Count": 3,
        "Accept": "*/*",
    }
    assert mask_headers(headers, extra=["x-tenant"]) == {
        "Authorization": "***",
        "proxy-authorization": "***",
        "COOKIE": "***",
        "Sec-WebSocket-Key": "***",
        "X-Api-Key": "***",
        "X-Auth-Token": "***",
        "X-Tenant": "***",
        "X-Count": "3",
        "Accept": "*/*",
    }
    assert headers["Authorization"] == "Bearer s3cret"  # a copy: the original is untouched


def test_token_like_query_values_and_user_names_are_masked() -> None:
    url = "wss://127.0.0.1/feed?room=7&token=abc&API_KEY=k&password=p"
    assert mask_url(url) == "wss://127.0.0.1/feed?room=7&token=***&API_KEY=***&password=***"
    assert mask_url("ws://bob@127.0.0.1/") == "ws://***@127.0.0.1/"
    assert mask_url("ws://bob:pw@127.0.0.1/") == "ws://bob:***@127.0.0.1/"
    assert mask_url("ws://127.0.0.1/?room=7") == "ws://127.0.0.1/?room=7"
    assert mask_url(None) is None and mask_url(42) == 42 and mask_url("") == ""


def test_urls_inside_text_are_masked_and_the_sentence_kept() -> None:
    text = "cannot reach ws://a:pw@127.0.0.1:9/x?token=t, nor wss://127.0.0.1/?key=k."
    assert mask_urls_in(text) == (
        "cannot reach ws://a:***@127.0.0.1:9/x?token=***, nor wss://127.0.0.1/?key=***."
    )


# -- the option dicts, as a type checker reads them -------------------------------------
@pytest.mark.parametrize(
    ("cls", "as_dict"),
    [
        (ClientCert, ClientCertDict),
        (HttpProxy, HttpProxyDict),
        (ReconnectPolicy, ReconnectPolicyDict),
        (WebSocketRequestOptions, WebSocketRequestOptionsDict),
        (WebSocketCloseOptions, WebSocketCloseOptionsDict),
    ],
)
def test_each_option_dict_has_the_keys_of_its_dataclass(cls: type, as_dict: type) -> None:
    assert_dict_of(cls, as_dict)
