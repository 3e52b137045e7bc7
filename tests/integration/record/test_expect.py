"""``expect`` and ``request`` against the embedded lab server and plain ``websockets`` peers."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter import BusinessError, WebSocket, createWebSocket, createWebSocketServer
from ohws_jupyter.record.expect import ExpectationError, expect, expect_record, request
from ohws_jupyter.record.transcript import transcript
from tests.helpers import running_server

TIMEOUT = 10


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    server = createWebSocketServer()
    assert server.start({"serverPort": 0, "mode": "lab"}).result(TIMEOUT) is True
    yield server.url
    server.stop().result(TIMEOUT)


@pytest.fixture
def ws(lab: str) -> Iterator[WebSocket]:
    client = createWebSocket()
    client.connect(lab).result(TIMEOUT)
    yield client
    if client.readyState != 3:
        client.close().result(TIMEOUT)


def failure(promise: Any) -> BusinessError:
    with pytest.raises(BusinessError) as info:
        promise.result(TIMEOUT)
    return info.value


# -- expect ------------------------------------------------------------------------------------
def test_a_dict_matches_a_json_subset(ws: WebSocket) -> None:
    p = expect(ws, {"type": "joined", "user": {"name": "ada"}})
    ws.send('{"type": "left"}')
    ws.send("not json")
    ws.send('{"type": "joined", "user": {"name": "bob"}}')
    wanted = '{"type": "joined", "room": 1, "user": {"name": "ada", "id": 7}}'
    ws.send(wanted)
    assert p.result(TIMEOUT) == wanted


def test_a_regular_expression_searches_text_or_bytes(ws: WebSocket) -> None:
    text = expect(ws, re.compile(r"score=(\d+)"))
    binary = expect(ws, re.compile(rb"^\x01\x02"))
    ws.send(b"score=1")  # bytes never match a str pattern
    ws.send("final score=42!")
    ws.send(b"\x01\x02\x03")
    assert text.result(TIMEOUT) == "final score=42!"
    assert binary.result(TIMEOUT) == b"\x01\x02\x03"


def test_a_str_or_bytes_must_be_the_whole_message(ws: WebSocket) -> None:
    exact = expect(ws, "hello")
    raw = expect(ws, b"\xff")
    ws.send("hello world")
    ws.send("hello")
    ws.send(b"\xff")
    assert exact.result(TIMEOUT) == "hello"
    assert raw.result(TIMEOUT) == b"\xff"


def test_a_callable_decides_and_one_that_raises_counts_as_no_match(ws: WebSocket) -> None:
    def even(message: str) -> bool:
        return json.loads(message)["n"] % 2 == 0

    p = expect(ws, even, 1.0)
    for message in ('{"m": 1}', "oops", '{"n": 3}', '{"n": 4}'):
        ws.send(message)
    assert p.result(TIMEOUT) == '{"n": 4}'

    q = expect(ws, even, 0.5)
    ws.send("oops")
    err = failure(q)
    assert str(err) == (
        "expected a message for which even() is true within 0.5 s, last received 'oops'; "
        "the match function raised JSONDecodeError on 1 of them"
    )


def test_the_timeout_text_names_what_was_expected_and_last_received(ws: WebSocket) -> None:
    p = expect(ws, {"type": "joined"}, 0.3)
    ws.send('{"type": "waiting"}')
    ws.send('{"type": "left"}')
    started = time.monotonic()
    err = failure(p)
    assert time.monotonic() - started >= 0.25  # not sooner than its 0.3 s
    assert isinstance(err, ExpectationError) and isinstance(err, AssertionError)
    assert err.code == 2302999
    assert str(err) == (
        'expected JSON containing {"type": "joined"} within 0.3 s, '
        'last received \'{"type": "left"}\' (2 messages, none matched)'
    )
    nothing = failure(expect(ws, re.compile("^x"), 0.2))
    assert str(nothing) == "expected a message matching /^x/ within 0.2 s, nothing received"


def test_a_close_ends_the_wait_at_once(ws: WebSocket) -> None:
    p = expect(ws, "never", 3600)
    ws.send("/close 4001 enough")
    err = failure(p)  # waits TIMEOUT s at most: only the close can end it that soon
    assert str(err) == (
        "expected 'never', but the connection closed (4001 'enough') first; nothing received"
    )


def test_whole_messages_not_pieces(ws: WebSocket) -> None:
    p = expect_record(ws, lambda m: len(m) == 10000)
    ws.send("/text 10000")
    rec = p.result(TIMEOUT)
    assert rec.pieces == 3 and len(rec.data) == 10000 and rec.direction == "<"


def test_the_backlog_is_looked_at_first(ws: WebSocket) -> None:
    first = expect(ws, "early")
    ws.send("early")
    first.result(TIMEOUT)
    history = transcript(ws)
    assert expect(ws, "early", 0.5, backlog=history.received).result(TIMEOUT) == "early"


def test_bad_arguments_reject_with_401(ws: WebSocket) -> None:
    for match, timeout, text in (
        (42, 1, "match must be a dict, a regular expression (re.compile), a str, bytes or a "
         "callable, not int"),
        ("x", 0, "expect() timeout must be more than 0 seconds, not 0"),
        ("x", "1", "expect() timeout must be seconds, not str"),
    ):  # fmt: skip
        err = failure(expect(ws, match, timeout))
        assert err.code == 401 and err.message == f"Parameter error: {text}"


# -- request -----------------------------------------------------------------------------------
async def reverse_replies(conn: Any) -> None:
    """Answer JSON requests three at a time, last first, each with its id."""
    batch = []
    async for message in conn:
        batch.append(json.loads(message))
        if len(batch) == 3:
            for body in reversed(batch):
                await conn.send(json.dumps({"id": body["id"], "echo": body["op"]}))
                await asyncio.sleep(0.01)
            batch = []


def test_request_pairs_out_of_order_replies_by_id() -> None:
    with running_server(reverse_replies) as server:
        ws = createWebSocket()
        ws.connect(server.url).result(TIMEOUT)
        promises = [request(ws, {"id": n, "op": f"op{n}"}) for n in (1, 2, 3)]
        replies = [json.loads(p.result(TIMEOUT)) for p in promises]
        assert replies == [{"id": n, "echo": f"op{n}"} for n in (1, 2, 3)]
        ws.close().result(TIMEOUT)
        t = transcript(ws)
    pairs = {trip.key: trip for trip in t.round_trips}
    assert sorted(pairs) == [1, 2, 3]
    received = [json.loads(r.data)["id"] for r in t.received]
    assert received == [3, 2, 1]  # they really came back in reverse
    for key, trip in pairs.items():
        assert json.loads(t[trip.request].data)["id"] == key
        assert json.loads(t[trip.reply].data)["id"] == key
        assert trip.rtt > 0


async def lookalike_replies(conn: Any) -> None:
    """Answer each request first with replies whose id only looks the same, then truly."""
    async for message in conn:
        key = json.loads(message)["id"]
        for decoy in (True, False, 1, 0, "1", str(key), [key], {"id": key}, None, 1.5):
            if json.dumps(decoy) != json.dumps(key):
                await conn.send(json.dumps({"id": decoy, "from": "decoy"}))
        await conn.send(json.dumps({"id": key, "from": "the reply"}))


@pytest.mark.parametrize("key", [1, 0, True, "1", 2.0, [1, "a"]])
def test_request_pairs_ids_by_json_kind_and_value(key: Any) -> None:
    with running_server(lookalike_replies) as server:
        ws = createWebSocket()
        ws.connect(server.url).result(TIMEOUT)
        reply = json.loads(request(ws, {"id": key, "op": "x"}).result(TIMEOUT))
        assert reply == {"id": key, "from": "the reply"}
        ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)


async def integer_float_replies(conn: Any) -> None:
    """Answer as a JavaScript peer does: the id 1.0 goes back as 1."""
    async for message in conn:
        await conn.send(json.dumps({"id": int(json.loads(message)["id"])}))


def test_request_id_1_0_is_answered_by_1_as_json_has_one_number_type() -> None:
    with running_server(integer_float_replies) as server:
        ws = createWebSocket()
        ws.connect(server.url).result(TIMEOUT)
        assert json.loads(request(ws, '{"id": 1.0}').result(TIMEOUT)) == {"id": 1}
        ws.close({"code": 1000, "reason": "done"}).result(TIMEOUT)


def test_a_dict_match_compares_values_by_json_kind(ws: WebSocket) -> None:
    wanted = expect(ws, {"ok": True})
    ws.send('{"ok": 1}')
    ws.send('{"ok": "true"}')
    ws.send('{"ok": true, "n": 3}')
    assert json.loads(wanted.result(TIMEOUT)) == {"ok": True, "n": 3}


def test_request_adds_an_id_when_missing(ws: WebSocket) -> None:
    reply = json.loads(request(ws, {"op": "ping"}).result(TIMEOUT))
    assert reply["op"] == "ping" and isinstance(reply["id"], int)
    other = json.loads(request(ws, {"op": "ping"}).result(TIMEOUT))
    assert other["id"] != reply["id"]


def test_lab_delays_pair_with_a_dict_match(ws: WebSocket) -> None:
    slow = request(ws, '/delay 0.4 {"id": "slow"}', match={"id": "slow"})
    fast = request(ws, '/delay 0.05 {"id": "fast"}', match={"id": "fast"})
    assert json.loads(fast.result(TIMEOUT)) == {"id": "fast"}
    assert slow.state == "pending"  # the fast reply overtook it
    assert json.loads(slow.result(TIMEOUT)) == {"id": "slow"}
    trips = transcript(ws).round_trips
    assert len(trips) == 2
    assert max(t.rtt for t in trips) >= 0.35 and min(t.rtt for t in trips) < 0.35


def test_request_timeout_and_closed_connection(ws: WebSocket, lab: str) -> None:
    err = failure(request(ws, '/delay 5 {"id": 9}', match={"id": 9}, timeout=0.3))
    assert str(err) == (
        'expected a reply that is JSON containing {"id": 9} within 0.3 s, nothing received'
    )
    keyless = failure(request(ws, '{"x": 1}', match="nope"))
    assert str(keyless) == (
        "[401] Parameter error: request() pairs replies by 'nope', but the message has no "
        "'nope'; add one or pass match=callable"
    )
    ws.close().result(TIMEOUT)
    err = failure(request(ws, {"id": 11}))
    assert err.code == 2302999 and "there is no open connection" in str(err)


def test_request_argument_mistakes_are_401(ws: WebSocket) -> None:
    for data, match, text in (
        ("plain text", "id", "request() pairs replies by the JSON key 'id', but the data is "
         "not JSON; send a dict, or pass match=callable"),
        (42, "id", "request() data must be a dict, list, str or bytes, not int"),
        ({"id": 1}, 5, "request() match must be a JSON key such as 'id', a dict the reply "
         "contains, a regular expression or a callable, not int"),
        ({"id": 1}, "", "request() match key must not be empty"),
    ):  # fmt: skip
        err = failure(request(ws, data, match))
        assert err.code == 401 and err.message == f"Parameter error: {text}", err.message
