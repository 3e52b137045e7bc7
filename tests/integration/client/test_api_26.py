"""OHOS API 23–26 members: the single-event method names, 'openInfo',
minSupportTlsProtocol, and 2302998 vs 201 (see api/@ohos.net.webSocket.d.ts)."""

from __future__ import annotations

import ssl

import pytest
import trustme

from ohws_jupyter import (
    BusinessError,
    OpenInfo,
    TlsProtocol,
    createWebSocket,
    createWebSocketServer,
    set_allowed_hosts,
    set_network_permission,
)
from ohws_jupyter.core.aliases import CLIENT_ALIASES, SERVER_ALIASES
from tests.helpers import Recorder, echo_handler, running_server, wait_until

# -- API 23 names --------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "event"), sorted(CLIENT_ALIASES.items()))
def test_client_single_event_names_are_on_and_off(suffix, event):
    ws = createWebSocket()
    calls: list = []
    callback = calls.append
    getattr(ws, f"on{suffix}")(callback)
    assert ws.events.has(event)
    getattr(ws, f"off{suffix}")(callback)
    assert not ws.events.has(event)
    with pytest.raises(BusinessError) as info:
        getattr(ws, f"on{suffix}")("not callable")
    assert info.value.code == 401


@pytest.mark.parametrize(("suffix", "event"), sorted(SERVER_ALIASES.items()))
def test_server_single_event_names_are_on_and_off(suffix, event):
    server = createWebSocketServer()
    getattr(server, f"on{suffix}")(print)
    getattr(server, f"off{suffix}")()
    server.on(event, print)  # the same event name underneath
    server.off(event, print)


def test_single_event_names_deliver_events(ws, shared_echo_server):
    got: list = []
    ws.onOpen(lambda err, value: got.append(("open", value.status)))
    ws.onMessage(lambda err, value: got.append(("message", value)))
    ws.onDataEnd(lambda: got.append(("dataEnd",)))
    ws.onWebSocketClose(lambda err, value: got.append(("close", value.code)))
    ws.connect(shared_echo_server.url).result(10)
    ws.send("hi").result(10)
    wait_until(lambda: ("dataEnd",) in got, 10, "the echo")
    ws.close().result(10)
    wait_until(lambda: got and got[-1][0] == "close", 10, "the close")
    assert got == [("open", 101), ("message", "hi"), ("dataEnd",), ("close", 1000)]


# -- 'openInfo' (API 26) -------------------------------------------------------------------


def test_open_info_carries_status_message_and_protocol(ws):
    server = createWebSocketServer()
    server.start({"serverPort": 0, "protocol": "chat"}).result(10)
    infos: list = []
    try:
        ws.on("openInfo", lambda err, info: infos.append((err, info)))
        ws.connect(server.url, {"protocol": "chat"}).result(10)
        wait_until(lambda: infos, 10, "'openInfo'")
    finally:
        server.stop().result(10)
    ((err, info),) = infos
    assert err is None and isinstance(info, OpenInfo)
    assert info == {"status": 101, "message": "Switching Protocols", "protocol": "chat"}
    assert info.protocol == "chat"


# -- minSupportTlsProtocol (API 26) ------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server_context(ca: trustme.CA, version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


@pytest.mark.parametrize(
    ("server_version", "minimum", "opens"),
    [
        (ssl.TLSVersion.TLSv1_2, TlsProtocol.TLS_V_1_2, True),
        (ssl.TLSVersion.TLSv1_2, TlsProtocol.TLS_V_1_3, False),
        (ssl.TLSVersion.TLSv1_3, TlsProtocol.TLS_V_1_3, True),
        (ssl.TLSVersion.TLSv1_3, "TLS_V_1_2", True),
    ],
)
def test_min_support_tls_protocol_is_enforced(tmp_path, ca, server_version, minimum, opens):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = _tls_server_context(ca, server_version)
    with running_server(echo_handler, ssl=context) as server:
        ws = createWebSocket()
        rec = Recorder(ws)
        options = {"caPath": str(ca_file), "minSupportTlsProtocol": minimum}
        if opens:
            assert ws.connect(f"wss://127.0.0.1:{server.port}", options).result(15) is True
            ws.close().result(10)
        else:
            with pytest.raises(BusinessError) as info:
                ws.connect(f"wss://127.0.0.1:{server.port}", options).result(15)
            assert info.value.code == 200 and "TLS" in info.value.message
            rec.wait("error")


@pytest.mark.parametrize("bad", [4, -1, "TLS_V_2_0", 1.5, True])
def test_min_support_tls_protocol_must_be_a_tls_protocol(bad):
    with pytest.raises(BusinessError) as info:
        createWebSocket().connect("wss://127.0.0.1:9", {"minSupportTlsProtocol": bad}).result(5)
    assert info.value.code == 401 and "minSupportTlsProtocol" in info.value.message


# -- 2302998 and 201 ---------------------------------------------------------------------


def test_a_host_off_the_allow_list_is_2302998(shared_echo_server):
    set_allowed_hosts(["example.org"])
    try:
        with pytest.raises(BusinessError) as info:
            createWebSocket().connect(shared_echo_server.url).result(5)
    finally:
        set_allowed_hosts(None)
    assert info.value.code == 2302998
    assert info.value.message.startswith("It is not allowed to access this domain")


def test_no_network_permission_is_201(shared_echo_server):
    set_network_permission(False)
    try:
        with pytest.raises(BusinessError) as info:
            createWebSocket().connect(shared_echo_server.url).result(5)
    finally:
        set_network_permission(True)
    assert info.value.code == 201 and "set_network_permission(True)" in info.value.message
    ws = createWebSocket()
    assert ws.connect(shared_echo_server.url).result(10) is True
    ws.close().result(10)
