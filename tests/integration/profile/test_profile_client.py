"""The client under both profiles, point by point, against real peers on 127.0.0.1.

Each test shows what the peer receives, what the events carry and what the
promises settle to, under ``seed`` and under ``device`` (issue points 1–8, 10).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import pytest

from ohws_jupyter import (
    BusinessError,
    CloseResult,
    PortabilityWarning,
    createWebSocket,
    createWebSocketServer,
)
from tests.helpers import Recorder, wait_until
from tests.helpers.profile_peers import TIMEOUT, Recording, using

LINK_DOWN = "The link is down"
pytestmark = pytest.mark.usefixtures("fresh_profile")  # seed, no warning shown yet


def opened(url: str, options: Any = None) -> tuple[Any, Recorder]:
    ws = createWebSocket()
    rec = Recorder(ws)
    assert ws.connect(url, options).result(TIMEOUT) is True
    return ws, rec


# -- 1. close codes and reasons --------------------------------------------------------------------
def test_seed_sends_the_code_and_reason_given_and_warns(peer: Recording) -> None:
    ws, rec = opened(peer.url)
    with pytest.warns(PortabilityWarning) as caught:
        assert ws.close({"code": 4000, "reason": ""}).result(TIMEOUT) is True
    texts = [str(w.message) for w in caught]
    assert any(t.startswith("close code 4000: a device sends only 1000–1015") for t in texts)
    assert any("'CLOSE_NORMAL'" in t for t in texts)
    assert {w.filename for w in caught} == {__file__}
    assert peer.wait("closes") == [(4000, "")]
    assert rec.wait("close")[0][-1] == CloseResult(4000, "")


def test_device_sends_1000_and_close_normal(peer: Recording) -> None:
    cases = [
        ({"code": 4000, "reason": ""}, (1000, "CLOSE_NORMAL")),
        ({"code": 999}, (1000, "CLOSE_NORMAL")),
        ({"code": 1003, "reason": "bye"}, (1003, "bye")),
        ({"code": "1001", "reason": 7}, (1000, "CLOSE_NORMAL")),
        (None, (1000, "CLOSE_NORMAL")),
        ({"reason": "é" * 100}, (1000, "é" * 61)),  # cut at 123 bytes
    ]
    with using("device"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for count, (options, expected) in enumerate(cases, 1):
            ws, rec = opened(peer.url)
            assert ws.close(options).result(TIMEOUT) is True
            got = peer.wait("closes", count)[-1]
            assert got == expected, options
            assert rec.wait("close")[0][-1] == CloseResult(*expected)
            assert rec.of("error") == []
    assert not [w for w in caught if issubclass(w.category, PortabilityWarning)]


def test_seed_default_close_sends_an_empty_reason(peer: Recording) -> None:
    ws, _ = opened(peer.url)
    with pytest.warns(PortabilityWarning, match="CLOSE_NORMAL"):
        ws.close().result(TIMEOUT)
    assert peer.wait("closes") == [(1000, "")]


def test_bad_close_options_under_each_profile(peer: Recording) -> None:
    ws, _ = opened(peer.url)
    with pytest.raises(BusinessError) as seed_err:
        ws.close({"code": 999}).result(TIMEOUT)
    assert seed_err.value.code == 401 and "use 1000–1003" in seed_err.value.message
    with using("device"):
        device, _ = opened(peer.url)
        for bad, hint in (("bye", "must be a dict"), ({"code": 1005}, "RFC 6455 forbids")):
            with pytest.raises(BusinessError) as info:
                device.close(bad).result(TIMEOUT)
            assert info.value.code == 401
            assert info.value.message == "Parameter error"
            assert hint in info.value.hint
    assert ws.readyState == 1 and device.readyState == 1  # none of them closed anything
    for each in (ws, device):
        each.close({"reason": "done"}).result(TIMEOUT)


# -- 2. one listener per event ---------------------------------------------------------------------
def _two_listeners(url: str) -> tuple[list[str], Any]:
    ws = createWebSocket()
    calls: list[str] = []
    ws.on("message", lambda err, value: calls.append(f"first {value}"))
    ws.on("message", lambda err, value: calls.append(f"second {value}"))
    done = ws.once("dataEnd")
    ws.connect(url).result(TIMEOUT)
    ws.send("hi").result(TIMEOUT)
    done.result(TIMEOUT)
    return calls, ws


def test_seed_calls_every_listener_and_warns_once_per_place(peer: Recording) -> None:
    with pytest.warns(PortabilityWarning, match=r"a second on\('message'\)") as caught:
        calls, ws = _two_listeners(peer.url)
    assert calls == ["first hi", "second hi"]
    assert len([w for w in caught if issubclass(w.category, PortabilityWarning)]) == 1
    # The same line again and again: one warning; another line: one more.
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        for _ in range(3):
            ws.on("close", lambda *a: None)
        ws.on("close", lambda *a: None)
    lines = [w.lineno for w in again if issubclass(w.category, PortabilityWarning)]
    assert len(lines) == 2 and lines[0] != lines[1]
    ws.close({"reason": "done"}).result(TIMEOUT)


def test_device_keeps_the_last_listener_only(peer: Recording) -> None:
    with using("device"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calls, ws = _two_listeners(peer.url)
        assert calls == ["second hi"]
        ws.off("message")
        ws.send("again").result(TIMEOUT)
        ws.close({"reason": "done"}).result(TIMEOUT)
    assert calls == ["second hi"]
    assert not [w for w in caught if issubclass(w.category, PortabilityWarning)]


def test_a_bad_listener_leaves_the_device_listener_in_place(peer: Recording) -> None:
    with using("device"):
        ws = createWebSocket()
        seen: list[Any] = []
        ws.on("message", lambda err, value: seen.append(value))
        with pytest.raises(BusinessError):
            ws.on("message", "not callable")
        done = ws.once("dataEnd")
        ws.connect(peer.url).result(TIMEOUT)
        ws.send("kept").result(TIMEOUT)
        done.result(TIMEOUT)
        assert seen == ["kept"]
        ws.close({"reason": "done"}).result(TIMEOUT)


# -- 3. close() settles when the close is queued (device) or done (seed) ---------------------------
def _held(url: str, close_timeout: float = 2) -> tuple[Any, Recorder]:
    ws, rec = opened(url, {"closeTimeout": close_timeout})
    ws.send("hold").result(TIMEOUT)
    return ws, rec


def test_seed_close_waits_for_the_closing_handshake(peer: Recording) -> None:
    ws, rec = _held(peer.url)
    peer.wait("received")
    closing = ws.close({"code": 1000, "reason": "bye"})
    with pytest.raises(TimeoutError):
        closing.result(0.5)  # the peer reads nothing: no answer to our close
    assert ws.readyState == 2
    assert closing.result(TIMEOUT) is True  # after closeTimeout cut the connection
    assert rec.wait("close")[-1][-1] == CloseResult(1000, "bye")


def test_device_close_settles_at_once_and_a_reconnect_is_refused(peer: Recording) -> None:
    with using("device"):
        # closeTimeout 15 s: "at once" is any time well before the closing handshake ends.
        ws, rec = _held(peer.url, close_timeout=15)
        peer.wait("received")
        assert ws.close({"code": 1000, "reason": "bye"}).result(10) is True
        assert ws.readyState == 2 and rec.of("close") == []
        with pytest.raises(BusinessError) as again:
            ws.connect(peer.url).result(TIMEOUT)
        assert again.value.code == 2302003
        assert again.value.message == "Websocket connection already exist"
        with pytest.raises(BusinessError) as twice:
            ws.close().result(TIMEOUT)
        assert (twice.value.code, twice.value.message) == (2302999, "Websocket Unknown Other Error")
        with pytest.raises(BusinessError) as sending:
            ws.send("late").result(TIMEOUT)
        assert (sending.value.code, sending.value.message) == (-1, "Websocket Unknown Other Error")
        rec.wait("close", timeout=60)
        assert rec.values("close") == [CloseResult(1000, "bye")]
        assert rec.of("error") == []  # the device reports what it asked for, no error
        assert ws.connect(peer.url).result(TIMEOUT) is True  # once closed, it connects again
        ws.close().result(TIMEOUT)


# -- 4. abnormal ends ------------------------------------------------------------------------------
ENDS = {
    # command: (seed close, seed error?, device close, device error?)
    "drop": ((1006, ""), True, (0, LINK_DOWN), True),
    "badframe": ((1002, "invalid opcode"), True, (0, LINK_DOWN), True),
    "close 1001": ((1001, ""), False, (1001, LINK_DOWN), False),
    "close-empty": ((1005, ""), False, (1000, LINK_DOWN), False),
    "close 4000 bye": ((4000, "bye"), False, (4000, "bye"), False),
}


@pytest.mark.parametrize("command", list(ENDS))
@pytest.mark.parametrize("name", ["seed", "device"])
def test_how_an_end_is_reported(peer: Recording, name: str, command: str) -> None:
    seed_close, seed_err, device_close, device_err = ENDS[command]
    expected, error = (seed_close, seed_err) if name == "seed" else (device_close, device_err)
    with using(name):
        ws, rec = opened(peer.url)
        ws.send(command).result(TIMEOUT)
        rec.wait("close")
    close = rec.values("close")[0]
    assert (close.code, close.reason) == expected
    if error:
        assert rec.names()[-2:] == ["error", "close"]
        err = rec.values("error")[0]
        assert err.code == 200 and err.data == "0"
    else:
        assert rec.of("error") == []


# -- 5. send failures, and sends while connecting --------------------------------------------------
@pytest.mark.parametrize("name", ["seed", "device"])
def test_send_without_a_connection(peer: Recording, name: str) -> None:
    with using(name):
        ws = createWebSocket()
        with pytest.raises(BusinessError) as before:
            ws.send("x").result(TIMEOUT)
        ws.connect(peer.url).result(TIMEOUT)
        ws.close({"reason": "done"}).result(TIMEOUT)
        wait_until(lambda: ws.readyState == 3, what="the close")
        with pytest.raises(BusinessError) as after:
            ws.send("x").result(TIMEOUT)
    for err in (before.value, after.value):
        if name == "seed":
            assert err.code == 2302999
            assert err.message.startswith("Websocket Unknown Other Error: cannot send: ")
        else:
            assert (err.code, err.message) == (-1, "Websocket Unknown Other Error")
            assert err.hint.startswith("cannot send: ")


def test_seed_refuses_a_send_while_connecting_and_warns(peer: Recording) -> None:
    peer.hold_handshake = True
    ws = createWebSocket()
    connecting = ws.connect(peer.url)
    with pytest.warns(PortabilityWarning, match="a device queues it"):
        early = ws.send("early")
    with pytest.raises(BusinessError) as info:
        early.result(TIMEOUT)
    assert info.value.code == 2302999 and "not open yet" in info.value.message
    peer.release.set()
    assert connecting.result(TIMEOUT) is True
    ws.send("after").result(TIMEOUT)
    assert peer.wait("received") == ["after"]
    ws.close({"reason": "done"}).result(TIMEOUT)


def test_device_queues_a_send_while_connecting(peer: Recording) -> None:
    peer.hold_handshake = True
    with using("device"):
        ws = createWebSocket()
        connecting = ws.connect(peer.url)
        assert ws.readyState == 0
        assert ws.send("first").result(TIMEOUT) is True  # queued: settles before 'open'
        assert ws.send(b"\x01\x02").result(TIMEOUT) is True
        assert not connecting.done()
        peer.release.set()
        assert connecting.result(TIMEOUT) is True
        ws.send("third").result(TIMEOUT)
        assert peer.wait("received", 3) == ["first", b"\x01\x02", "third"]
        ws.close({"reason": "done"}).result(TIMEOUT)


# -- 7. the opening request ------------------------------------------------------------------------
def test_seed_request_headers(peer: Recording) -> None:
    ws, _ = opened(peer.url, {"header": {"X-Trace": "7", "X-Num": 5}})
    assert peer.header("X-Trace") == ["7"] and "X-Trace" in peer.names()
    assert peer.header("X-Num") == ["5"]
    assert peer.header("Origin") == []
    assert peer.header("User-Agent")[0].startswith("ohws_jupyter/")
    assert "permessage-deflate" in peer.header("Sec-WebSocket-Extensions")[0]
    with pytest.raises(BusinessError) as info:
        createWebSocket().connect(peer.url, {"bogus": 1}).result(TIMEOUT)
    assert info.value.code == 401 and "unknown options field 'bogus'" in info.value.message
    ws.close({"reason": "done"}).result(TIMEOUT)


def test_device_request_headers(peer: Recording) -> None:
    header = {"X-Trace": "7", "X-Empty": "", "X-Num": 5, "X-None": None}
    with using("device"):
        ws, _ = opened(peer.url, {"header": header, "bogus": 1, "caPath": 3})
        names = peer.names()
        assert "x-trace" in names and "X-Trace" not in names
        assert peer.header("x-trace") == ["7"]
        for gone in ("x-empty", "x-num", "x-none", "User-Agent", "Sec-WebSocket-Extensions"):
            assert peer.header(gone) == [], gone
        assert peer.header("Origin") == ["http://127.0.0.1"]
        assert peer.header("Pragma") == ["no-cache"]
        assert peer.header("Cache-Control") == ["no-cache"]
        ws.close({"reason": "done"}).result(TIMEOUT)
        # An Origin of the user's own goes out as a second one, which this server refuses
        # (connect resolves; the refusal comes in 'error').
        twice = createWebSocket()
        refused = Recorder(twice)
        assert twice.connect(peer.url, {"header": {"Origin": "app://me"}}).result(TIMEOUT)
        (err,) = refused.wait("error")[0]
        assert (err.code, err.data) == (200, "400")
        assert "invalid Origin header: multiple values" in err.message
        ws, _ = opened(peer.url, {"supportOriginPort": True})
        assert peer.header("Origin", 1) == [f"http://127.0.0.1:{peer.server.port}"]
        ws.close({"reason": "done"}).result(TIMEOUT)
        for bad in ({"protocol": ["a", "b"]}, {"proxy": "nowhere"}, "not options"):
            with pytest.raises(BusinessError) as info:
                createWebSocket().connect(peer.url, bad).result(TIMEOUT)
            assert (info.value.code, info.value.message) == (401, "Parameter error")


PINGS = [
    ({"pingInterval": 40000}, (40000, 30), (30, 30)),
    ({"pingInterval": 10, "pongTimeout": 20}, (10, 20), (10, 10)),
    ({"pingInterval": 10, "pongTimeout": 30}, (10, 30), (10, 30)),  # the default stays
    ({"pingInterval": 0, "pongTimeout": 20}, (0, 20), (0, 0)),
    ({"pingInterval": 2.9}, (2.9, 30), (2, 30)),
]


@pytest.mark.parametrize(("options", "seed", "device"), PINGS)
def test_ping_settings(peer: Recording, options: dict, seed: tuple, device: tuple) -> None:
    for name, expected in (("seed", seed), ("device", device)):
        with using(name):
            ws, _ = opened(peer.url, options)
            assert (ws.options.pingInterval, ws.options.pongTimeout) == expected, name
            ws.close({"reason": "done"}).result(TIMEOUT)


@pytest.mark.parametrize("name", ["seed", "device"])
def test_a_corrected_pong_timeout_ends_the_link_sooner(name: str) -> None:
    server = createWebSocketServer()  # started under seed: a lab that obeys /noping
    limits = {"maxConcurrentClientsNumber": 2, "maxConnectionsForOneClient": 2}
    server.start({"mode": "lab", **limits}).result(TIMEOUT)
    try:
        # Under device, pongTimeout 120 becomes the interval, 1 s: the link ends
        # well within a generous wait that the 120 s as given could never meet.
        pong = 120 if name == "device" else 5
        with using(name):
            ws, rec = opened(server.url, {"pingInterval": 1, "pongTimeout": pong})
            ws.send("/noping").result(TIMEOUT)
            rec.wait("message")
            started = time.monotonic()
            rec.wait("close", timeout=60)
            took = time.monotonic() - started
        close = rec.values("close")[0]
        if name == "device":
            assert ws.options.pongTimeout == 1
            assert (close.code, close.reason) == (0, LINK_DOWN)
        else:  # pongTimeout 5 as given: not sooner (a lower bound holds on a busy machine)
            assert took >= 4.0
            assert close.code == 1006
        assert rec.names()[-2:] == ["error", "close"]
    finally:
        server.stop().result(TIMEOUT)


# -- 8. events -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["seed", "device"])
def test_header_receive_and_data_end(peer: Recording, name: str) -> None:
    with using(name):
        ws, rec = opened(peer.url)
        ws.send("text 10000").result(TIMEOUT)
        rec.wait("dataEnd")
        headers = rec.values("headerReceive")[0]
        messages = rec.values("message")
        names = rec.names()
        ws.close({"reason": "done"}).result(TIMEOUT)
    if name == "device":
        assert all(key == key.lower() for key in headers) and "upgrade" in headers
        assert messages == ["x" * 10000]  # whole, then dataEnd
    else:
        assert "Upgrade" in headers
        assert [len(m) for m in messages] == [4096, 4096, 1808]
    assert names[-1] == "dataEnd" and names.count("dataEnd") == 1


# -- 10. error texts -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["seed", "device"])
def test_error_texts(peer: Recording, tmp_path: Any, name: str) -> None:
    device = {
        2302003: "Websocket connection already exist",
        2302001: "Websocket url error",
        2302002: "Websocket certificate file does not exist",
        2302999: "Websocket Unknown Other Error",
    }
    seed = {
        2302003: "Websocket connection already exists: ",
        2302001: "Websocket url error: ",
        2302002: "Websocket certificate file does not exist: ",
        2302999: "Websocket Unknown Other Error: ",
    }
    with using(name):
        ws, _ = opened(peer.url)
        failures = {
            2302003: ws.connect(peer.url),
            2302001: createWebSocket().connect("http://127.0.0.1:9"),
            2302002: createWebSocket().connect(peer.url, {"caPath": str(tmp_path / "none.pem")}),
            2302999: createWebSocket().close(),
        }
        for code, promise in failures.items():
            with pytest.raises(BusinessError) as info:
                promise.result(TIMEOUT)
            assert info.value.code == code
            if name == "device":
                assert info.value.message == device[code]
                assert info.value.hint and info.value.hint in str(info.value)
            else:
                assert info.value.message.startswith(seed[code])
                assert info.value.hint is None
        ws.close({"reason": "done"}).result(TIMEOUT)
