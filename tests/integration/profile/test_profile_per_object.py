"""A profile per object: seed and device clients and servers side by side in one process.

Each object takes its profile when it is created (``createWebSocket(profile=...)``,
or the default of that moment) and keeps it: the default changing afterwards,
or another object of the other profile working at the same time, changes
nothing about it. Real servers on 127.0.0.1.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter import (
    BusinessError,
    CloseResult,
    PortabilityWarning,
    Promise,
    WebSocketConnection,
    create_websocket,
    create_websocket_server,
    createWebSocket,
    createWebSocketServer,
    set_profile,
)
from ohws_jupyter.server.config import ServerCloseResult
from tests.helpers import Recorder
from tests.helpers.profile_peers import TIMEOUT

pytestmark = pytest.mark.usefixtures("fresh_profile")  # seed, no warning shown yet
CONFIG = {"serverIP": "127.0.0.1", "serverPort": 0}
LIMITS = {"maxConcurrentClientsNumber": 10, "maxConnectionsForOneClient": 10}


class ServerEvents(Recorder):
    """Every event of a server, for the test to wait on."""

    EVENTS = ("connect", "messageReceive", "close", "error")


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    """Servers a test starts; stopped at the end."""
    made: list[Any] = []
    yield made
    for server in made:
        if server.state.name == "RUNNING":
            server.stop().result(TIMEOUT)


def start(made: list[Any], profile: str) -> tuple[Any, ServerEvents]:
    server = createWebSocketServer(profile=profile)
    events = ServerEvents(server)
    assert server.start({**CONFIG, **LIMITS}).result(TIMEOUT) is True
    made.append(server)
    return server, events


def portability(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, PortabilityWarning)]


def received(events: ServerEvents) -> list[Any]:
    return [value.data for value in events.values("messageReceive")]


# -- creating ------------------------------------------------------------------------------------
def test_the_profile_is_taken_at_creation_and_kept() -> None:
    before = createWebSocket()
    server_before = createWebSocketServer()
    set_profile("device")
    after, server_after = createWebSocket(), createWebSocketServer()
    picked = create_websocket(profile=" SEED ")
    assert (before.profile, server_before.profile) == ("seed", "seed")
    assert (after.profile, server_after.profile) == ("device", "device")
    assert picked.profile == "seed"
    assert create_websocket_server(profile="seed").profile == "seed"
    set_profile("seed")
    assert (after.profile, server_after.profile) == ("device", "device")
    with pytest.raises(AttributeError):
        after.profile = "seed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        server_after.profile = "seed"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["phone", "", 1, b"device"])
@pytest.mark.parametrize("create", [createWebSocket, createWebSocketServer])
def test_a_bad_profile_is_401_naming_the_argument(create: Any, bad: Any) -> None:
    with pytest.raises(BusinessError) as info:
        create(profile=bad)
    assert info.value.code == 401
    assert info.value.message == (
        "Parameter error: profile must be 'seed' or 'device' (or left out for the default, "
        f"'seed'), not {bad!r}"
    )


def test_the_profile_is_a_keyword_only_extension() -> None:
    with pytest.raises(TypeError):
        createWebSocket("device")  # type: ignore[misc]
    with pytest.raises(TypeError):
        createWebSocketServer("device")  # type: ignore[misc]


# -- clients side by side --------------------------------------------------------------------------
def test_a_seed_and_a_device_client_on_one_server_each_by_its_own_rules(servers: list) -> None:
    server, events = start(servers, "seed")
    set_profile("device")  # the default is neither client's business once they exist
    seed, device = createWebSocket(profile="seed"), createWebSocket()
    assert (seed.profile, device.profile) == ("seed", "device")
    seed_rec, device_rec = Recorder(seed), Recorder(device)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opening = [device.connect(server.url), seed.connect(server.url)]
        early_device = device.send("device early")  # a device queues it until open
        early_seed = seed.send("seed early")  # the seed refuses it
        assert [p.result(TIMEOUT) for p in opening] == [True, True]
        assert early_device.result(TIMEOUT) is True
        with pytest.raises(BusinessError) as refused:
            early_seed.result(TIMEOUT)
    assert refused.value.code == 2302999
    assert refused.value.message.startswith("Websocket Unknown Other Error: cannot send: ")
    assert len([m for m in portability(caught) if m.startswith("send() before 'open'")]) == 1

    # Interleaved sends from both, on one server: each arrives, in its sender's order.
    for i in range(20):
        (seed if i % 2 else device).send(f"{'seed' if i % 2 else 'device'} {i}")
    events.wait("messageReceive", 21)
    texts = received(events)
    assert "device early" in texts and "seed early" not in texts
    assert [t for t in texts if t.startswith("seed")] == [f"seed {i}" for i in range(1, 20, 2)]
    assert [t for t in texts if t.startswith("device") and t != "device early"] == [
        f"device {i}" for i in range(0, 20, 2)
    ]

    # A second connect on an open object: each words the error by its own profile.
    with pytest.raises(BusinessError) as on_device:
        device.connect(server.url).result(TIMEOUT)
    with pytest.raises(BusinessError) as on_seed:
        seed.connect(server.url).result(TIMEOUT)
    assert (on_device.value.code, on_device.value.message) == (
        2302003,
        "Websocket connection already exist",
    )
    assert on_device.value.hint is not None and "close it first" in on_device.value.hint
    assert on_seed.value.message.startswith("Websocket connection already exists: ")
    assert on_seed.value.hint is None

    # Closing with an application code and no reason: a device sends 1000 'CLOSE_NORMAL'.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        device_closed = device.close({"code": 4000})
        seed_closed = seed.close({"code": 4000})
        assert device_closed.result(TIMEOUT) is True and seed_closed.result(TIMEOUT) is True
    assert len(portability(caught)) == 2  # the seed's code and empty reason, the device's none
    device_rec.wait("close")
    seed_rec.wait("close")
    assert device_rec.values("close") == [CloseResult(1000, "CLOSE_NORMAL")]
    assert seed_rec.values("close") == [CloseResult(4000, "")]
    events.wait("close", 2)
    closes = sorted((v.code, v.reason) for v in events.values("close"))
    assert closes == [(1000, "CLOSE_NORMAL"), (4000, "")]


def test_listeners_and_raised_errors_follow_each_object(servers: list) -> None:
    server, _ = start(servers, "seed")
    seed, device = createWebSocket(), createWebSocket(profile="device")
    set_profile("device")
    calls: dict[str, list[str]] = {"seed": [], "device": []}
    for ws in (seed, device):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for which in ("first", "second"):
                ws.on("open", lambda *a, which=which, ws=ws: calls[ws.profile].append(which))
        assert len(portability(caught)) == (1 if ws is seed else 0)
        opened = ws.once("open")
        assert ws.connect(server.url).result(TIMEOUT) is True
        opened.result(TIMEOUT)  # queued on the lane after the two 'open' callbacks
    assert calls == {"seed": ["first", "second"], "device": ["second"]}  # a device keeps one
    with pytest.raises(BusinessError) as on_seed:
        seed.on("nope", print)
    with pytest.raises(BusinessError) as on_device:
        device.on("nope", print)
    assert on_seed.value.message.startswith("Parameter error: WebSocket has no event 'nope'")
    assert (on_device.value.message, on_device.value.hint is not None) == ("Parameter error", True)
    # A malformed call rejects at once, worded by its object too.
    needs = "Parameter error: send() needs the data: a str or bytes"
    assert seed.send().exception().message == needs
    assert device.send().exception().message == "Parameter error"
    for ws in (seed, device):
        ws.close({"reason": "done"}).result(TIMEOUT)


# -- servers side by side --------------------------------------------------------------------------
def test_a_seed_and_a_device_server_at_once(servers: list) -> None:
    seed_server, seed_events = start(servers, "seed")
    device_server, device_events = start(servers, "device")
    set_profile("device")
    a, b = createWebSocket(profile="seed"), createWebSocket(profile="seed")
    a_rec, b_rec = Recorder(a), Recorder(b)
    assert a.connect(seed_server.url).result(TIMEOUT) is True
    assert b.connect(device_server.url).result(TIMEOUT) is True
    a_conn = seed_events.wait("connect")[0][0]
    b_conn = device_events.wait("connect")[0][0]

    # listAllConnections: a list from the seed server, a promise from the device's.
    set_profile("seed")
    device_list = device_server.listAllConnections()
    set_profile("device")
    seed_list = seed_server.listAllConnections()
    assert isinstance(seed_list, list) and list(seed_list) == [a_conn]
    assert isinstance(device_list, Promise) and device_list.result(TIMEOUT) == [b_conn]

    # Sends to a connection that is gone: each server words 2302006 its own way.
    nobody = WebSocketConnection("127.0.0.1", 1)
    with pytest.raises(BusinessError) as on_seed:
        seed_server.send("x", nobody).result(TIMEOUT)
    with pytest.raises(BusinessError) as on_device:
        device_server.send("x", nobody).result(TIMEOUT)
    assert on_seed.value.message.startswith("Websocket connection does not exist: ")
    assert on_device.value.message == "websocket connection does not exist"

    # Interleaved sends from both servers, then closes with a code and no reason.
    for i in range(10):
        seed_server.send(f"seed {i}", a_conn)
        device_server.send(f"device {i}", b_conn)
    a_rec.wait("message", 10)
    b_rec.wait("message", 10)
    assert a_rec.values("message") == [f"seed {i}" for i in range(10)]
    assert b_rec.values("message") == [f"device {i}" for i in range(10)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        closing = [
            device_server.close(b_conn, {"code": 4000, "reason": ""}),
            seed_server.close(a_conn, {"code": 4000, "reason": ""}),
        ]
        assert [p.result(TIMEOUT) for p in closing] == [True, True]
    assert len(portability(caught)) == 2  # the seed server's, under a device default
    assert a_rec.wait("close")[0][-1] == CloseResult(4000, "")
    assert b_rec.wait("close")[0][-1] == CloseResult(1000, "CLOSE_NORMAL")
    assert type(seed_events.wait("close")[0][1]) is CloseResult
    assert device_events.wait("close")[0][1] == ServerCloseResult(1000, "CLOSE_NORMAL")


def test_two_profiles_from_two_threads_at_once(servers: list) -> None:
    """Objects of both profiles used from two threads while the default flips."""
    server, events = start(servers, "seed")
    outcomes: dict[str, Any] = {}
    go = threading.Barrier(3, timeout=TIMEOUT)

    def run(profile: str) -> None:
        ws = createWebSocket(profile=profile)
        rec = Recorder(ws)
        go.wait()
        ws.connect(server.url).result(TIMEOUT)
        for i in range(50):
            ws.send(f"{profile} {i}")
        ws.close({"code": 4000}).result(TIMEOUT)
        outcomes[profile] = rec.wait("close")[0][-1]

    threads = [threading.Thread(target=run, args=(p,)) for p in ("seed", "device")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PortabilityWarning)
        for thread in threads:
            thread.start()
        go.wait()
        for name in ("device", "seed", "device"):
            set_profile(name)
        for thread in threads:
            thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert outcomes == {"seed": CloseResult(4000, ""), "device": CloseResult(1000, "CLOSE_NORMAL")}
    events.wait("messageReceive", 100)
    for profile in ("seed", "device"):
        mine = [t for t in received(events) if t.startswith(profile)]
        assert mine == [f"{profile} {i}" for i in range(50)]
