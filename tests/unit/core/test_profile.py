"""``core.profile`` and ``core.device``: the switch, and the device's rules as pure functions."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from websockets.frames import Close

from ohws_jupyter import BusinessError, CloseResult, get_profile, set_profile
from ohws_jupyter.core import device, profile

pytestmark = pytest.mark.usefixtures("fresh_profile")


# -- the switch -----------------------------------------------------------------------------
def test_set_profile_returns_the_one_before_and_reads_names_loosely() -> None:
    assert get_profile() == "seed" and not profile.is_device()
    assert set_profile("device") == "seed"
    assert get_profile() == "device" and profile.is_device()
    assert set_profile(" Seed ") == "device"
    assert get_profile() == "seed"


@pytest.mark.parametrize("name", ["phone", "", None, 1, "seed device"])
def test_any_other_profile_is_a_401_and_changes_nothing(name: Any) -> None:
    with pytest.raises(BusinessError) as info:
        set_profile(name)
    assert info.value.code == 401
    assert (
        info.value.message == f"Parameter error: profile must be 'seed' or 'device', not {name!r}"
    )
    assert get_profile() == "seed"


# -- close ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "sent"),
    [
        (None, (1000, "CLOSE_NORMAL")),
        ({}, (1000, "CLOSE_NORMAL")),
        ({"code": 1001, "reason": "bye"}, (1001, "bye")),
        ({"code": 4000, "reason": "bye"}, (1000, "bye")),  # outside 1000-1015
        ({"code": 1016, "reason": ""}, (1000, "CLOSE_NORMAL")),
        ({"code": "1001"}, (1000, "CLOSE_NORMAL")),  # not a number
        ({"code": 1000 + 2**32}, (1000, "CLOSE_NORMAL")),  # read as uint32: 1000
        ({"reason": "é" * 70}, (1000, "é" * 61)),  # cut at byte 123, never inside a character
    ],
)
def test_what_a_device_sends_for_close(options: Any, sent: tuple[int, str]) -> None:
    assert device.close_values(options) == sent


@pytest.mark.parametrize("code", [1004, 1005, 1006, 1015])
def test_codes_a_device_would_put_on_the_wire_against_the_rfc_are_refused(code: int) -> None:
    with pytest.raises(BusinessError) as info:
        device.close_values({"code": code})
    assert info.value.code == 401 and "use 1000–1003 or 1007–1014" in info.value.message


def test_how_a_device_reports_the_end_of_a_connection() -> None:
    bye = Close(1001, "going away")
    assert device.ended(None, bye, None, None) == (CloseResult(1001, "going away"), False)
    assert device.ended(Close(1000, "x"), None, None, (4000, "mine")) == (
        CloseResult(4000, "mine"),
        False,
    )
    no_code = Close(1005, "")
    assert device.ended(None, no_code, None, None) == (CloseResult(1000, device.LINK_DOWN), False)
    assert device.ended(None, no_code, None, None, server=True) == (
        CloseResult(0, device.LINK_DOWN),
        True,
    )
    assert device.ended(None, None, None, None) == (CloseResult(0, device.LINK_DOWN), True)


# -- connect --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("interval", "timeout", "used"),
    [
        (30, 30, (30, 30)),
        (10, 20, (10, 10)),
        (10, 30, (10, 30)),
        (40000, 5, (30, 5)),
        (0, 9, (0, 0)),
    ],
)
def test_ping_values_as_a_device_corrects_them(interval: int, timeout: int, used: tuple) -> None:
    assert device.ping_values(interval, timeout) == used


@pytest.mark.parametrize(
    ("url", "with_port", "origin"),
    [
        ("ws://127.0.0.1:8080/x", False, "http://127.0.0.1"),
        ("ws://127.0.0.1:8080/x", True, "http://127.0.0.1:8080"),
        ("ws://127.0.0.1:80/x", True, "http://127.0.0.1"),
        ("wss://example.org:8443/", True, "https://example.org:8443"),
        ("wss://[::1]/", True, "https://[::1]"),
    ],
)
def test_the_origin_header_a_device_sends(url: str, with_port: bool, origin: str) -> None:
    assert device.origin_header(urllib.parse.urlsplit(url), with_port) == origin


def test_response_headers_are_lowercase_and_the_first_of_a_repeated_name_wins() -> None:
    got = device.response_headers([("Upgrade", "websocket"), ("X-A", "1"), ("x-a", "2")])
    assert got == {"upgrade": "websocket", "x-a": "1"}


# -- server ---------------------------------------------------------------------------------
def test_server_limits_as_a_device_reads_them() -> None:
    assert device.server_limits({"serverPort": 8080.9, "maxConcurrentClientsNumber": 10}) == (
        8080,
        10,
        0,
    )
    with pytest.raises(BusinessError) as port:
        device.server_limits({"serverPort": 70000})
    assert port.value.code == 2302005
    with pytest.raises(BusinessError) as limit:
        device.server_limits({"maxConnectionsForOneClient": 11})
    assert limit.value.code == 2302999 and "at most 10" in limit.value.message


def test_server_address_is_an_ip_address_or_nothing() -> None:
    assert device.server_address("127.0.0.1") == "127.0.0.1"
    assert device.server_address("::1") == "::1"
    assert device.server_address(None) is None and device.server_address(7) is None
    with pytest.raises(BusinessError) as info:
        device.server_address("localhost")
    assert info.value.code == 2302004


def test_limits_count_addresses_and_connections_per_address() -> None:
    connected = ["10.0.0.1", "10.0.0.1", "10.0.0.2"]
    assert device.over_limits(connected, "10.0.0.2", 2, 2) is None
    assert "over maxConnectionsForOneClient (2)" in device.over_limits(connected, "10.0.0.1", 2, 2)
    assert "over maxConcurrentClientsNumber (2)" in device.over_limits(connected, "10.0.0.3", 2, 5)


def test_a_flood_of_connections_is_banned_for_a_minute() -> None:
    now = [1000.0]
    guard = device.ConnectionGuard(clock=lambda: now[0])
    limit = device.MAX_CONNECTIONS_PER_MINUTE
    assert all(guard.allow("10.0.0.1") is None for _ in range(limit + 1))
    assert "banned for 60 s" in guard.allow("10.0.0.1")
    assert guard.allow("10.0.0.2") is None  # other addresses are not affected
    now[0] += 30
    assert "is banned for opening too many connections (30 s more)" in guard.allow("10.0.0.1")
    now[0] += 31
    assert guard.allow("10.0.0.1") is None


# -- the rules of issue 23 ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "kept"),
    [
        (999, 1002),
        (1000, 1000),
        (1003, 1003),
        (1004, 1002),
        (1006, 1002),
        (1007, 1007),
        (1014, 1014),
        (1015, 1015),
        (1016, 1002),
        (2999, 1002),
        (3000, 3000),
        (4999, 4999),
        (5000, 5000),
        (65535, 65535),
        (0, 1002),
    ],
)
def test_a_peer_close_code_as_libwebsockets_checks_it(code: int, kept: int) -> None:
    assert device.peer_close_code(code) == kept


@pytest.mark.parametrize(
    ("patterns", "host", "excluded"),
    [
        (["127.0.0.*"], "127.0.0.1", True),
        (["*.example.org"], "example.org", False),
        (["*.example.org"], "a.example.org", True),
        (["Example.org"], "example.org", False),
        (["ex*le.org"], "example.org", True),
        (["exampleXorg"], "example.org", False),
        (["example.org"], "exampleXorg", False),  # '.' is a dot, not any character
        ([" example.org ", ""], "example.org", True),
        (["*"], "anything", True),
        (["[::1]"], "[::1]", True),  # not a pattern: compared as it is
        (["[::*]"], "[::1]", False),
        ([], "example.org", False),
    ],
)
def test_proxy_exclusions_as_a_device_matches_them(
    patterns: list[str], host: str, excluded: bool
) -> None:
    assert device.proxy_excludes(patterns, host) is excluded


def test_server_close_options_need_a_code_and_a_reason() -> None:
    assert device.server_close_values(None) == (1000, device.CLOSE_NORMAL)
    assert device.server_close_values({"code": 4000, "reason": ""}) == (1000, "CLOSE_NORMAL")
    assert device.server_close_values({"code": 1001, "reason": "bye"}) == (1001, "bye")
    for bad in ({"code": 1000}, {"reason": "bye"}, {"code": True, "reason": "x"}, "bye"):
        with pytest.raises(BusinessError) as info:
            device.server_close_values(bad)
        assert info.value.code == 401, bad


def test_request_options_proxy_without_host_or_port_and_device_defaults() -> None:
    for proxy in ({"host": "", "port": 8080}, {"host": "127.0.0.1", "port": 0}):
        assert device.request_options({"proxy": proxy}).proxy == "no-proxy"
    opts = device.request_options({"proxy": {"host": "127.0.0.1", "port": 3128}})
    assert opts.proxy.port == 3128
    assert (opts.maxMessageSize, opts.closeTimeout) == (device.MAX_MESSAGE, 5)
    assert 16 * 1024 * 1024 < device.MAX_MESSAGE < 1 << 31
    given = device.request_options({"maxMessageSize": 1024, "closeTimeout": 2})
    assert (given.maxMessageSize, given.closeTimeout) == (1024, 2)


def test_a_ca_folder_leaves_the_device_trusting_nothing(tmp_path: Any) -> None:
    opts = device.request_options({"caPath": str(tmp_path)})
    ctx = device.strict_tls_context(opts)
    assert ctx.get_ca_certs() == [] and ctx.cert_store_stats()["x509_ca"] == 0
