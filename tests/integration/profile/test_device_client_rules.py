"""The client's remaining device behaviours under both profiles, against real peers on
127.0.0.1: how a failed connect is reported, ``pongTimeout: 0``, the peer's close codes,
``'dataEnd'`` without ``'message'``, a repeated response header, the proxy, the close
wait, a ``caPath`` folder and the size of a received message.

Each behaviour has its source line in docs/porting.md.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from ohws_jupyter import BusinessError, CloseResult, PortabilityWarning, createWebSocket
from tests.helpers import ConnectProxy, Recorder, ThreadServer, echo_handler, wait_until
from tests.helpers.profile_peers import TIMEOUT, Recording

LINK_DOWN = "The link is down"
PROFILES = ("seed", "device")
pytestmark = pytest.mark.usefixtures("fresh_profile")  # seed default, no warning shown yet


def _portability(caught: list[Any]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, PortabilityWarning)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def not_found() -> Iterator[str]:
    """A WebSocket URL whose server answers 404 instead of 101."""

    def refuse(conn: Any, request: Any) -> Any:
        return conn.respond(404, "no such endpoint\n")

    server = ThreadServer(echo_handler, process_request=refuse).start()
    yield server.url
    server.stop()


def _then_opens(ws: Any, rec: Recorder, url: str) -> list[str]:
    """Connect ``ws`` again, to a working peer, and return every event name so far.

    Events come in order on one lane: a ``'close'`` of the failed attempt would be
    listed before this ``'open'``.
    """
    assert ws.connect(url).result(TIMEOUT) is True
    rec.wait("open")
    names = rec.names()
    ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)
    return names


# -- a failed connect ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PROFILES)
@pytest.mark.parametrize("failure", ["refused", "not found"])
def test_a_connect_that_fails_after_it_started(
    name: str, failure: str, peer: Recording, not_found: str
) -> None:
    url, status = (
        (f"ws://127.0.0.1:{_free_port()}/", "0") if failure == "refused" else (not_found, "404")
    )
    ws = createWebSocket(profile=name)
    rec = Recorder(ws)
    if name == "seed":
        with pytest.raises(BusinessError) as info:
            ws.connect(url).result(TIMEOUT)
        assert (info.value.code, info.value.data) == (200, status)
        rec.wait("error")
    else:
        # A device resolves connect() once the attempt starts; the failure follows.
        assert ws.connect(url).result(TIMEOUT) is True
        (err,) = rec.wait("error")[0]
        assert (err.code, err.data) == (200, status)
    assert _then_opens(ws, rec, peer.url) == ["error", "headerReceive", "open"]


@pytest.mark.parametrize("name", PROFILES)
def test_a_host_that_does_not_resolve(name: str) -> None:
    ws = createWebSocket(profile=name)
    rec = Recorder(ws)
    with pytest.raises(BusinessError) as info:
        ws.connect("ws://example.invalid:80/").result(TIMEOUT)
    if name == "seed":
        assert (info.value.code, info.value.data) == (200, "0")
        assert len(rec.wait("error")) == 1
    else:
        # connect itself fails (-1), after the device's two 'error' events.
        assert (info.value.code, info.value.message) == (-1, "Websocket connect failed")
        assert "cannot resolve" in info.value.hint
        errors = [e[0] for e in rec.wait("error", 2)]
        assert [(e.code, e.data) for e in errors] == [(200, "0"), (200, "0")]
    assert rec.of("close") == []
    assert ws.readyState == 3


# -- pongTimeout: 0 --------------------------------------------------------------------------------
def test_pong_timeout_zero_under_seed_pings_and_stays_open(peer: Recording) -> None:
    ws = createWebSocket(profile="seed")
    rec = Recorder(ws)
    with pytest.warns(PortabilityWarning, match="pongTimeout 0"):
        assert ws.connect(peer.url, {"pingInterval": 0.2, "pongTimeout": 0}).result(TIMEOUT)
    wait_until(lambda: len([r for r in ws.history() if r.kind == "pong"]) >= 3, TIMEOUT, "pongs")
    assert ws.readyState == 1 and rec.of("close") == []
    ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)


def test_pong_timeout_zero_under_device_drops_the_link_without_a_ping(peer: Recording) -> None:
    ws = createWebSocket(profile="device")
    rec = Recorder(ws)
    assert ws.connect(peer.url, {"pingInterval": 1, "pongTimeout": 0}).result(TIMEOUT)
    assert ws.options.pingInterval == 1 and ws.options.pongTimeout == 0
    (value,) = [v[-1] for v in rec.wait("close")]
    assert value == CloseResult(0, LINK_DOWN)
    assert rec.names()[-2:] == ["error", "close"]
    assert not [r for r in ws.history() if r.kind == "ping"]
    assert peer.wait("closes") == [(1006, "")]  # dropped: no close frame reached the peer


# -- the peer's close code -------------------------------------------------------------------------
async def _raw_closer(conn: Any) -> None:
    """On ``'CODE REASON'``, send a close frame with that code, as websockets would refuse to."""
    async for message in conn:
        code, _, reason = message.partition(" ")
        payload = int(code).to_bytes(2, "big") + reason.encode()
        conn.transport.write(bytes([0x88, len(payload)]) + payload)
        await asyncio.sleep(0)  # the reply (or the connection's end) comes through the parser


@pytest.fixture
def closer() -> Iterator[str]:
    server = ThreadServer(_raw_closer).start()
    yield server.url
    server.stop()


# code, reason sent -> what a device reports (no 'error' on a device in every case)
CLOSES = [
    (999, "low", (1002, "low")),
    (1004, "", (1002, LINK_DOWN)),
    (1016, "x", (1002, "x")),
    (2999, "y", (1002, "y")),
    (1015, "tls", (1015, "tls")),
    (5000, "big", (5000, "big")),
    (4000, "app", (4000, "app")),
]


@pytest.mark.parametrize(("code", "reason", "on_device"), CLOSES)
@pytest.mark.parametrize("name", PROFILES)
def test_a_close_code_from_the_peer(
    name: str, code: int, reason: str, on_device: tuple[int, str], closer: str
) -> None:
    ws = createWebSocket(profile=name)
    rec = Recorder(ws)
    ws.connect(closer).result(TIMEOUT)
    ws.send(f"{code} {reason}").result(TIMEOUT)
    (value,) = [v[-1] for v in rec.wait("close")]
    if name == "device":
        assert (value.code, value.reason) == on_device
        assert rec.of("error") == []
    elif 3000 <= code < 5000:
        assert (value.code, value.reason) == (code, reason)
        assert rec.of("error") == []
    else:
        # websockets' parser refuses the code: the connection fails with 1002.
        assert value.code == 1002
        (err,) = rec.values("error")
        assert err.code == 200 and "invalid status code" in err.message


# -- 'dataEnd' without 'message' -------------------------------------------------------------------
@pytest.mark.parametrize("name", PROFILES)
def test_data_end_without_a_message_listener(name: str, peer: Recording) -> None:
    ws = createWebSocket(profile=name)
    ends: list[Any] = []
    ws.on("dataEnd", lambda *args: ends.append(args))
    closed = ws.once("close")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ws.connect(peer.url).result(TIMEOUT)
    ws.send("hi").result(TIMEOUT)
    ws.send("close 1000 bye").result(TIMEOUT)
    closed.result(TIMEOUT)  # the echo of 'hi' came before the close, on the same lane
    if name == "seed":
        assert len(ends) == 1
        assert any("'dataEnd'" in text for text in _portability(caught))
    else:
        assert ends == []
        assert _portability(caught) == []


# -- a header the handshake response repeats -------------------------------------------------------
@pytest.fixture
def repeated_header() -> Iterator[str]:
    def add(conn: Any, request: Any, response: Any) -> None:
        response.headers["X-Dup"] = "first"
        response.headers["X-Dup"] = "second"

    server = ThreadServer(echo_handler, process_response=add).start()
    yield server.url
    server.stop()


@pytest.mark.parametrize("name", PROFILES)
def test_a_repeated_response_header(name: str, repeated_header: str) -> None:
    ws = createWebSocket(profile=name)
    rec = Recorder(ws)
    ws.connect(repeated_header).result(TIMEOUT)
    (headers,) = [v[-1] for v in rec.wait("headerReceive")]
    if name == "device":
        assert headers["x-dup"] == "first"
    else:
        assert headers["X-Dup"] == "first, second"
    ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)


# -- the proxy -------------------------------------------------------------------------------------
@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    p = ConnectProxy().start()
    yield p
    p.stop()


def _via(name: str, url: str, proxy: Any) -> list[str]:
    """Connect with the ``proxy`` option, send and close; the portability warnings."""
    ws = createWebSocket(profile=name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ws.connect(url, {"proxy": proxy}).result(TIMEOUT)
    ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)
    return _portability(caught)


# exclusion list, URL host -> whether a device bypasses the proxy, whether seed does
EXCLUSIONS = [
    (["127.0.0.*"], "127.0.0.1", True, False),  # '*' anywhere
    (["*.localhost"], "localhost", False, True),  # '*.x' does not match 'x'
    (["localhost"], "LOCALHOST", False, True),  # case-sensitive
    (["*"], "127.0.0.1", True, True),
    (["other", " 127.0.0.1 "], "127.0.0.1", True, True),
]


@pytest.mark.parametrize(("exclusions", "host", "device_direct", "seed_direct"), EXCLUSIONS)
@pytest.mark.parametrize("name", PROFILES)
def test_proxy_exclusions(
    name: str,
    exclusions: list[str],
    host: str,
    device_direct: bool,
    seed_direct: bool,
    peer: Recording,
    proxy: ConnectProxy,
) -> None:
    url = peer.url.replace("127.0.0.1", host)
    option = {"host": "127.0.0.1", "port": proxy.port, "exclusionList": exclusions}
    warned = _via(name, url, option)
    direct = device_direct if name == "device" else seed_direct
    assert proxy.targets == ([] if direct else [f"{host.lower()}:{peer.server.port}"])
    differs = device_direct != seed_direct
    assert any("exclusionList" in text for text in warned) == (name == "seed" and differs)


@pytest.mark.parametrize("option", [{"host": "", "port": 8080}, {"host": "127.0.0.1", "port": 0}])
@pytest.mark.parametrize("name", PROFILES)
def test_a_proxy_without_host_or_port(
    name: str, option: dict, peer: Recording, proxy: ConnectProxy
) -> None:
    ws = createWebSocket(profile=name)
    if name == "seed":
        with pytest.raises(BusinessError) as info:
            ws.connect(peer.url, {"proxy": option}).result(TIMEOUT)
        assert info.value.code == 401
    else:
        assert ws.connect(peer.url, {"proxy": option}).result(TIMEOUT) is True
        ws.send("direct").result(TIMEOUT)
        assert peer.wait("received") == ["direct"]
        ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)
    assert proxy.targets == []


# -- the wait for the peer's close reply -----------------------------------------------------------
@pytest.mark.parametrize("name", PROFILES)
def test_the_wait_for_the_close_reply(name: str, peer: Recording) -> None:
    ws = createWebSocket(profile=name)
    rec = Recorder(ws)
    ws.connect(peer.url).result(TIMEOUT)
    assert ws.options.closeTimeout == (5 if name == "device" else 10)
    ws.send("hold").result(TIMEOUT)  # the peer stops reading: our close goes unanswered
    peer.wait("received")
    ws.close({"code": 1000, "reason": "bye"})
    (value,) = [v[-1] for v in rec.wait("close", timeout=ws.options.closeTimeout + TIMEOUT)]
    assert value == CloseResult(1000, "bye")
    if name == "device":
        assert rec.of("error") == []  # a device reports the close it asked for
    else:
        (err,) = rec.values("error")
        assert "closeTimeout" in err.message


# -- caPath naming a folder ------------------------------------------------------------------------
@pytest.fixture
def tls_peer(tmp_path: Any) -> Iterator[tuple[str, str]]:
    """A wss echo server with a CA-issued certificate; its URL and a folder holding the CA
    under its OpenSSL hash name (what a folder of CAs needs)."""
    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    folder = tmp_path / "cas"
    folder.mkdir()
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    digest = subprocess.run(
        [shutil.which("openssl") or "openssl", "x509", "-hash", "-noout", "-in", str(pem)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (folder / f"{digest}.0").write_bytes(pem.read_bytes())
    server = ThreadServer(echo_handler, ssl=ctx).start()
    yield f"wss://127.0.0.1:{server.port}", str(folder)
    server.stop()


@pytest.mark.parametrize("name", PROFILES)
def test_ca_path_naming_a_folder(name: str, tls_peer: tuple[str, str]) -> None:
    url, folder = tls_peer
    ws = createWebSocket(profile=name)
    rec = Recorder(ws)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ws.connect(url, {"caPath": folder}).result(TIMEOUT) is True
    if name == "seed":
        rec.wait("open")
        assert any("is a folder" in text for text in _portability(caught))
        ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)
    else:
        (err,) = rec.wait("error")[0]  # no CA trusted: the certificate is refused
        assert (err.code, err.data) == (200, "0")
        assert "verif" in err.message
        assert rec.of("open") == []


# -- the size of a received message ----------------------------------------------------------------
@pytest.mark.parametrize("name", PROFILES)
def test_a_message_over_16_mib(name: str, peer: Recording) -> None:
    size = 16 * 1024 * 1024 + 1
    ws = createWebSocket(profile=name)
    rec = Recorder(ws)
    ws.connect(peer.url).result(TIMEOUT)
    ws.send(f"text {size}").result(TIMEOUT)
    if name == "device":
        (message,) = [v[-1] for v in rec.wait("message", timeout=30)]
        assert len(message) == size
        ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)
    else:
        (value,) = [v[-1] for v in rec.wait("close", timeout=30)]
        assert value.code == 1009
        assert rec.of("message") == []
