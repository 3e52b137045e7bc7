"""Reconnect against plain ``websockets`` servers that drop and refuse connections."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter import BusinessError, WebSocket, createWebSocket, createWebSocketServer
from ohws_jupyter.client.reconnect import (
    attach,
    cancel,
    disable_reconnect,
    enable_reconnect,
    reconnector_of,
)
from ohws_jupyter.core.events import Record
from ohws_jupyter.core.options import ReconnectPolicy, check_reconnect, check_request_options
from tests.helpers import ThreadServer, running_server, wait_until

TIMEOUT = 10
FAST = {"attempts": 5, "minDelay": 0.05, "maxDelay": 0.4, "factor": 2}


class Flaky:
    """A server that follows a plan per connection: drop after opening, refuse, or echo."""

    def __init__(self, plan: list[str]) -> None:
        self.plan = plan
        self.count = 0
        self.lock = threading.Lock()

    def process_request(self, conn: Any, request: Any) -> Any:
        with self.lock:
            step = self.plan[self.count] if self.count < len(self.plan) else "echo"
            self.count += 1
        conn.step = step
        if step == "refuse":
            return conn.respond(503, "try again later\n")
        return None

    async def handler(self, conn: Any) -> None:
        if conn.step == "drop":
            await asyncio.sleep(0.02)
            conn.transport.abort()  # no close frame: the network went away
            return
        if conn.step == "close":
            await asyncio.sleep(0.02)
            await conn.close(1001, "going away")  # a clean close the client did not ask for
            return
        async for message in conn:
            await conn.send(message)


class Timeline:
    """When each record came, by ``time.monotonic()``, and events to wait on."""

    def __init__(self, ws: WebSocket) -> None:
        self.items: list[tuple[float, Record]] = []
        self.cond = threading.Condition()
        ws.watch(self._observe)

    def _observe(self, rec: Record) -> None:
        with self.cond:
            self.items.append((time.monotonic(), rec))
            self.cond.notify_all()

    def count(self, kind: str) -> int:
        with self.cond:
            return sum(1 for _, r in self.items if r.kind == kind)

    def wait_for(self, kind: str, n: int, timeout: float = TIMEOUT) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: self.count(kind) >= n, timeout)
        assert ok, f"only {self.count(kind)} of {n} {kind!r} records within {timeout} s"

    def times(self, kind: str) -> list[float]:
        with self.cond:
            return [t for t, r in self.items if r.kind == kind]


@pytest.fixture
def ws() -> Iterator[WebSocket]:
    client = createWebSocket()
    yield client
    disable_reconnect(client)
    if client.readyState != 3:
        client.close().result(TIMEOUT)


def test_policies_are_validated() -> None:
    assert check_reconnect(False) is False and check_reconnect(None) is False
    assert check_reconnect(True) == ReconnectPolicy()
    assert check_reconnect({"attempts": 3}) == ReconnectPolicy(attempts=3)
    options = check_request_options({"reconnect": FAST})
    assert options.reconnect == ReconnectPolicy(5, 0.05, 0.4, 2)
    for value, text in (
        ({"tries": 3}, "unknown reconnect field 'tries'; known fields: attempts, factor, "
         "maxDelay, minDelay"),
        ({"attempts": 0}, "reconnect attempts must be 1 or more, not 0"),
        ({"attempts": 2.5}, "reconnect attempts must be a whole number such as 5"),
        ({"minDelay": -1}, "reconnect minDelay must be at least 0 and finite, not -1"),
        ({"minDelay": 2, "maxDelay": 1}, "reconnect maxDelay (1) must not be less than "
         "minDelay (2)"),
        ({"factor": 0.5}, "reconnect factor must be a number of at least 1, such as 2, not 0.5"),
        ("yes", "reconnect must be a dict or ReconnectPolicy, not str"),
    ):  # fmt: skip
        with pytest.raises(BusinessError) as info:
            check_request_options({"reconnect": value})
        assert info.value.code == 401 and info.value.message == f"Parameter error: {text}"


def test_delays_grow_with_jitter_within_bounds() -> None:
    policy = ReconnectPolicy(attempts=8, minDelay=0.5, maxDelay=10, factor=2)
    assert [policy.bounds(n) for n in (1, 2, 3, 6, 8)] == [
        (0.5, 0.5),
        (0.5, 1.0),
        (1.0, 2.0),
        (5.0, 10.0),
        (5.0, 10.0),
    ]
    rng = random.Random(7)
    draws = [policy.delay(4, rng.uniform) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in draws)
    assert max(draws) - min(draws) > 1.0  # jitter spreads the clients out


def check_delays(history: list[dict[str, Any]], policy: ReconnectPolicy) -> None:
    for entry in history:
        low, high = policy.bounds(entry["attempt"])
        assert low <= entry["delay"] <= high, entry


def test_a_server_that_drops_three_times(ws: WebSocket) -> None:
    # Open then drop; refuse twice; open then drop; open then drop; then stay.
    flaky = Flaky(["drop", "refuse", "refuse", "drop", "drop"])
    with running_server(flaky.handler, process_request=flaky.process_request) as server:
        timeline = Timeline(ws)
        opens: list[Any] = []
        ws.on("open", lambda err, value: opens.append(value))
        reconnector = enable_reconnect(ws, FAST)
        heard: list[dict[str, Any]] = []
        reconnector.on_reconnecting(heard.append)
        ws.connect(server.url).result(TIMEOUT)
        timeline.wait_for("open", 4)
        wait_until(lambda: len(opens) == 4, what="four 'open' events")
        assert ws.send("still here").result(TIMEOUT) is True
        wait_until(lambda: len(heard) == 5, what="five 'reconnecting' values")
        history = list(reconnector.history)
        closes, errors = timeline.count("close"), timeline.count("error")
        disable_reconnect(ws)  # the server's stop below is not part of the test

    assert [e["attempt"] for e in history] == [1, 2, 3, 1, 1]  # the count restarts on open
    assert heard == [{"attempt": e["attempt"], "delay": e["delay"]} for e in history]
    policy = ReconnectPolicy(**FAST)
    check_delays(history, policy)
    assert history[0]["delay"] == 0.05  # the first wait is minDelay
    # Each new connect waited at least its delay after the 'reconnecting' value.
    connects = timeline.times("connect")[1:]
    assert len(connects) == 5
    for entry, started in zip(history, connects, strict=True):
        assert entry["delay"] - 0.01 <= started - entry["at"] < entry["delay"] + 2
    assert flaky.count == 6 and closes == 3 and errors == 5
    assert reconnector.attempt == 0 and not reconnector.gave_up


def test_a_server_that_closes_cleanly_is_reconnected(ws: WebSocket) -> None:
    flaky = Flaky(["close"])
    with running_server(flaky.handler, process_request=flaky.process_request) as server:
        reconnector = enable_reconnect(ws, FAST)
        timeline = Timeline(ws)
        ws.connect(server.url).result(TIMEOUT)
        timeline.wait_for("open", 2)
        assert [(r.code, r.reason) for _, r in timeline.items if r.kind == "close"] == [
            (1001, "going away")
        ]
        assert [e["attempt"] for e in reconnector.history] == [1] and flaky.count == 2
        assert ws.send("back").result(TIMEOUT) is True


def test_a_user_close_is_not_reconnected(ws: WebSocket) -> None:
    flaky = Flaky([])
    with running_server(flaky.handler, process_request=flaky.process_request) as server:
        reconnector = enable_reconnect(ws, FAST)
        timeline = Timeline(ws)
        ws.connect(server.url).result(TIMEOUT)
        ws.close().result(TIMEOUT)
        # Well past maxDelay: a reconnect would have started by then.
        with timeline.cond:
            assert not timeline.cond.wait_for(lambda: timeline.count("connect") > 1, 1.0)
    assert reconnector.history == [] and flaky.count == 1


def test_cancel_stops_a_pending_attempt(ws: WebSocket) -> None:
    server = createWebSocketServer()
    server.start({"serverPort": 0, "mode": "lab"}).result(TIMEOUT)
    try:
        reconnector = enable_reconnect(ws, {"minDelay": 30, "maxDelay": 30})
        timeline = Timeline(ws)
        ws.connect(server.url).result(TIMEOUT)
        ws.send("/drop")
        wait_until(lambda: reconnector.waiting, what="a pending attempt")
        assert reconnector.next_attempt_at is not None
        assert reconnector.history[0]["delay"] == 30
        cancel(ws)  # what the user's close() does
        assert not reconnector.waiting and reconnector.next_attempt_at is None
        assert timeline.count("connect") == 1
    finally:
        server.stop().result(TIMEOUT)


def test_giving_up_after_the_attempts(ws: WebSocket) -> None:
    flaky = Flaky(["drop", "refuse", "refuse", "refuse", "echo"])
    with running_server(flaky.handler, process_request=flaky.process_request) as server:
        reconnector = enable_reconnect(ws, {**FAST, "attempts": 3})
        ws.connect(server.url).result(TIMEOUT)
        wait_until(lambda: reconnector.gave_up, what="giving up")
    assert [e["attempt"] for e in reconnector.history] == [1, 2, 3]
    assert flaky.count == 4 and ws.readyState == 3
    check_delays(reconnector.history, ReconnectPolicy(**{**FAST, "attempts": 3}))


def test_a_user_connect_meanwhile_starts_afresh(ws: WebSocket) -> None:
    flaky = Flaky(["drop"])
    with running_server(flaky.handler, process_request=flaky.process_request) as server:
        reconnector = enable_reconnect(ws, {"minDelay": 30, "maxDelay": 30})
        ws.connect(server.url).result(TIMEOUT)
        wait_until(lambda: reconnector.waiting, what="a pending attempt")
        ws.connect(server.url).result(TIMEOUT)  # the user did not wait
        assert not reconnector.waiting and reconnector.attempt == 0
        assert ws.send("ok").result(TIMEOUT) is True


def test_the_connect_hook_follows_the_request_option(ws: WebSocket) -> None:
    """``attach`` is what ``connect`` calls with its options once they are valid."""
    flaky = Flaky(["drop"])
    with running_server(flaky.handler, process_request=flaky.process_request) as server:
        emitted: list[dict[str, Any]] = []
        ws.on("reconnecting", emitted.append)  # connect() hands attach() this event
        ws.connect(server.url, {"reconnect": FAST}).result(TIMEOUT)
        reconnector = reconnector_of(ws)
        assert reconnector is not None and reconnector.source == "option"
        wait_until(lambda: flaky.count == 2 and ws.readyState == 1, what="the reconnection")
        wait_until(lambda: len(emitted) == 1, what="the 'reconnecting' event")
        assert [e["attempt"] for e in emitted] == [1]
        assert emitted[0] == {"attempt": 1, "delay": 0.05}
        ws.close().result(TIMEOUT)
        # A later connect without the option turns off what the option turned on.
        plain = check_request_options(None)
        attach(ws, plain)
        assert reconnector_of(ws) is None
        # ... but keeps what enable_reconnect turned on.
        enable_reconnect(ws, FAST)
        attach(ws, plain)
        assert reconnector_of(ws) is not None


def test_close_during_an_attempts_handshake_stops_reconnecting(ws: WebSocket) -> None:
    """A handshake the server never answers: the user's close() cancels that attempt."""
    gate = threading.Event()
    flaky = Flaky(["drop"])

    async def slow_process_request(conn: Any, request: Any) -> Any:
        if flaky.count >= 1:
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, TIMEOUT)
        return flaky.process_request(conn, request)

    server = ThreadServer(flaky.handler, process_request=slow_process_request).start()
    try:
        reconnector = enable_reconnect(ws, FAST)
        timeline = Timeline(ws)
        ws.connect(server.url).result(TIMEOUT)
        timeline.wait_for("connect", 2)  # the first attempt is under way
        assert ws.readyState == 0
        ws.close().result(TIMEOUT)
        gate.set()
        assert ws.readyState == 3
        with timeline.cond:
            assert not timeline.cond.wait_for(lambda: timeline.count("connect") > 2, 1.0)
        assert len(reconnector.history) == 1
    finally:
        gate.set()
        server.stop()


def test_a_device_connection_retries_after_failures_it_reports_in_error() -> None:
    # A device resolves connect() once the attempt starts and reports a refusal in
    # 'error' alone: those attempts count as failed ones all the same.
    flaky = Flaky(["drop", "refuse", "refuse", "echo"])
    ws = createWebSocket(profile="device")
    errors: list[Any] = []
    ws.on("error", lambda err: errors.append(err))
    with running_server(flaky.handler, process_request=flaky.process_request) as server:
        reconnector = enable_reconnect(ws, FAST)
        ws.connect(server.url).result(TIMEOUT)
        wait_until(lambda: flaky.count == 4 and ws.readyState == 1, what="the fourth connection")
        assert ws.send("back").result(TIMEOUT) is True
        disable_reconnect(ws)
        ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)
    assert [e["attempt"] for e in reconnector.history] == [1, 2, 3]
    assert [e.data for e in errors] == ["0", "503", "503"]
