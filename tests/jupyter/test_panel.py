"""The panels' model: entries, detail, timeline, handshake, rates, saved messages,
batching, masking, lifetime; the client panel and the server panel.

Widgets here talk to a recording comm (ipywidgets' own test approach), so every
message the front end would get is inspected; the network is real (loopback
servers). Tests at the end run a real kernel: widget messages on iopub under a
flood, and re-running a cell that makes a panel.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import itertools
import json
import pathlib
import re
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any, ClassVar

import comm
import pytest
import traitlets
from comm import DummyComm
from websockets.protocol import State

from ohws_jupyter import (
    BusinessError,
    ReconnectPolicy,
    Record,
    WebSocketServer,
    createWebSocket,
    createWebSocketServer,
)
from ohws_jupyter.client.reconnect import reconnector_of
from ohws_jupyter.client.websocket import HISTORY_LIMIT
from ohws_jupyter.jupyter import panel_tools
from ohws_jupyter.jupyter.panel import (
    CLOSE_CODE_TEXT,
    WebSocketPanel,
    close_code_text,
    mask_url,
    matcher,
    parse_composer,
)
from ohws_jupyter.jupyter.panel_base import scheduler
from ohws_jupyter.jupyter.panel_model import (
    FULL_BUDGET,
    LogWindow,
    Rates,
    hexdump,
    parse_close_code,
    plural,
    saved_item,
)
from ohws_jupyter.jupyter.panel_reconnect import reconnect_line
from ohws_jupyter.jupyter.panel_tools import TOOLS, TRANSCRIPT_FORMATS
from ohws_jupyter.jupyter.server_panel import WebSocketServerPanel
from ohws_jupyter.record import Transcript, copy_as_code
from ohws_jupyter.record.export import FORMATS
from tests.helpers import ROOT, running_server, wait_until
from tests.helpers.kernel import Kernel

STATIC = ROOT / "ohws_jupyter" / "jupyter" / "static"


class RecordingComm(DummyComm):
    """A comm that keeps what it would publish to the front end, with a timestamp."""

    log: ClassVar[list[tuple[float, str, dict[str, Any]]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, **keys: Any):
        with self.lock:
            self.log.append((time.monotonic(), msg_type, data or {}))


@pytest.fixture
def sent() -> Iterator[list[tuple[float, str, dict[str, Any]]]]:
    """Everything widgets publish during the test."""
    original = comm.create_comm
    RecordingComm.log = []
    comm.create_comm = lambda *a, **k: RecordingComm(*a, **k)
    try:
        yield RecordingComm.log
    finally:
        comm.create_comm = original


def customs(sent: list, kind: str | None = None) -> list[dict[str, Any]]:
    """The custom messages (log batches, snapshots...) among the published ones."""
    with RecordingComm.lock:
        out = [d["content"] for _, t, d in sent if t == "comm_msg" and d.get("method") == "custom"]
    return [m for m in out if kind is None or m["type"] == kind]


async def flood_handler(conn: Any) -> None:
    """Echo; 'kick' closes 4001, 'drop' cuts TCP, 'flood N' sends N numbered messages."""
    async for message in conn:
        if message == "kick":
            await conn.close(4001, "kicked")
            return
        if message == "drop":
            conn.transport.abort()
            return
        if isinstance(message, str) and message.startswith("flood "):
            for i in range(int(message.split()[1])):
                await conn.send(f"n{i}")
            continue
        await conn.send(message)


@pytest.fixture
def server() -> Iterator[Any]:
    with running_server(flood_handler) as srv:
        yield srv


def open_panel(server: Any, url_suffix: str = "", **kwargs: Any) -> WebSocketPanel:
    ws = createWebSocket()
    panel = WebSocketPanel(ws, **kwargs)
    panel._test_ws = ws  # the panel holds its WebSocket weakly: the test keeps it
    panel.connect(server.url + url_suffix)
    wait_until(lambda: panel.state == "OPEN", what="panel state OPEN")
    return panel


def finish(panel: WebSocketPanel) -> None:
    ws = panel.ws
    if ws is not None and ws.readyState in (0, 1):
        ws.close().result(10)
    panel.close()


def entry_where(panel: Any, **want: Any) -> dict[str, Any]:
    """Wait for a log entry with these fields and return it."""
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        found[:] = [e for e in panel.entries if all(e.get(k) == v for k, v in want.items())]
        return bool(found)

    wait_until(seen, what=f"log entry {want}")
    return found[0]


# -- pure helpers ------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1011])
def test_close_codes_explained(code: int) -> None:
    assert close_code_text(code) == CLOSE_CODE_TEXT[code]
    assert len(close_code_text(code)) > 20


def test_application_and_unknown_close_codes() -> None:
    assert close_code_text(4001).startswith("Application code")
    assert close_code_text(4999).startswith("Application code")
    assert close_code_text(3000).startswith("Registered code")
    assert close_code_text(2000) == "Unknown close code."
    assert close_code_text(None) == ""


def test_mask_url_hides_passwords_and_tokens() -> None:
    assert mask_url("ws://u:pw@h:1/p?token=t0k&x=1") == "ws://u:***@h:1/p?token=***&x=1"
    assert mask_url("wss://h/p?api_key=k") == "wss://h/p?api_key=***"
    assert mask_url("ws://h/p?x=1") == "ws://h/p?x=1"
    assert mask_url("") == ""


def test_parse_composer_modes() -> None:
    assert parse_composer("hi", "text") == "hi"
    assert parse_composer("", "text") == ""
    assert parse_composer('{\n  "a": [1, 2]\n}', "json") == '{"a":[1,2]}'
    assert parse_composer("0x01 ff", "hex") == b"\x01\xff"
    assert parse_composer("AQL/", "base64") == b"\x01\x02\xff"
    for text, mode, why in [
        ("{", "json", "not valid JSON"),
        ("abc", "hex", "not valid hex"),
        ("a", "base64", "not valid base64"),
        ("x", "morse", "unknown composer mode"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_composer(text, mode)


def test_close_code_must_be_a_whole_number() -> None:
    assert parse_close_code("") == parse_close_code(None) == 1000
    assert parse_close_code(" 4000 ") == 4000 and parse_close_code(4001) == 4001
    for bad in ("1000.5", 1000.5, "0x3e8", "4OO1", True, "-1", "４０００"):
        with pytest.raises(ValueError) as caught:
            parse_close_code(bad)
        assert str(caught.value) == (
            f"close code {bad!r} is not a whole number; use 1000, or 3000-4999 for your own codes"
        )


def test_hexdump_layout() -> None:
    assert hexdump(b"Hello, world\n\x00\x01\xff!") == (
        "00000000  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 0a 00 01 ff  |Hello, world....|\n"
        "00000010  21                                                |!|"
    )
    assert hexdump(b"") == ""
    dump = hexdump(bytes(range(256)) * 20, limit=5000).splitlines()
    assert len(dump) == 313 and dump[-1].startswith("00001380  80 81 82 83 84 85 86 87")


def test_matcher_filters_and_regex_search() -> None:
    entries = [
        {"kind": "message", "dir": "<", "type": "json", "text": '{"a": 1}'},
        {"kind": "message", "dir": ">", "type": "text", "text": "Hello (there"},
        {"kind": "close", "dir": "=", "type": "event", "code": 4001, "reason": "kicked"},
        {"kind": "error", "dir": "=", "type": "error", "text": "boom"},
    ]

    def shown(kind_filter: str, search: str = "") -> list[int]:
        keep = matcher(kind_filter, search)
        return [i for i, e in enumerate(entries) if keep(e)]

    assert shown("all") == [0, 1, 2, 3]
    assert (shown("in"), shown("out"), shown("json"), shown("text")) == ([0], [1], [0], [1])
    assert (shown("events"), shown("errors"), shown("binary")) == ([2], [3], [])
    assert shown("all", "^message hel+o") == [1]  # a regex, case-insensitive
    assert shown("all", "4001 kick") == [2]
    assert shown("all", "(there") == [1]  # not a regex: matched as plain text


def test_log_window_keeps_whole_messages_within_a_budget() -> None:
    window = LogWindow(10, full_budget=25_000)
    for seq in range(1, 5):
        window.add(seq, Record(float(seq), "message", "<", data="x" * 10_000, pieces=3))
    assert [e["seq"] for e in window.entries] == [1, 2, 3, 4]
    assert window.detail(4)["complete"] and window.detail(4)["data"] == "x" * 10_000
    old = window.detail(1)  # left the byte budget: only its preview is kept
    assert not old["complete"] and old["data"] == "x" * 4096
    assert window.find(9) is None and window.detail(9) is None
    window.add(5, Record(5.0, "message", "<", data=bytes(2000), pieces=1))
    assert window.detail(5)["data"] == bytes(2000)
    window.skip(3)
    assert window.dropped == 3


def test_keepalive_entries_and_arrows() -> None:
    """Our ping and its pong (with the round trip), and the peer's ping and our pong."""
    window = LogWindow(10)
    window.add(1, Record(1.0, "ping", ">"))
    window.add(2, Record(1.004, "pong", "<", data=0.004))
    window.add(3, Record(2.0, "ping", "<"))
    window.add(4, Record(2.0, "pong", ">"))
    pong = window.entries[1]
    assert pong["rtt"] == 0.004 and pong["type"] == "event"
    assert [e["text"] for e in window.entries] == [
        "keepalive sent",
        "round trip 4.0 ms",
        "from the peer",
        "answer to the peer",
    ]
    assert "rtt" not in window.entries[3]
    assert [e["flow"] for e in window.entries] == [
        [["c", "s", "Ping", "keepalive", 0]],
        [["s", "c", "Pong · 4.0 ms", "keepalive", 0]],
        [["s", "c", "Ping", "keepalive", 0]],
        [["c", "s", "Pong", "keepalive", 0]],
    ]
    server_side = LogWindow(10, server_side=True)
    server_side.add(1, Record(1.0, "ping", ">"))
    server_side.add(2, Record(1.001, "pong", "<", data=0.001))
    assert [e["flow"][0][:2] for e in server_side.entries] == [["s", "c"], ["c", "s"]]
    rates = Rates()
    rates.add_rtt(1.004, 0.004)
    assert rates.series(now=2.0)["rtt"] == [[1.004, 0.004]]


def test_rates_are_exact_per_second() -> None:
    rates = Rates()
    assert rates.update((0, 0, 0, 0), now=100.2) == []
    assert rates.update((3, 30, 1, 5), now=100.5) == [[100, 3, 30, 1, 5]]
    assert rates.update((5, 50, 1, 5), now=100.9) == [[100, 5, 50, 1, 5]]
    assert rates.update((5, 50, 1, 5), now=101.5) == []  # nothing new
    assert rates.update((6, 51, 1, 5), now=102.0) == [[102, 1, 1, 0, 0]]
    series = rates.series(now=102.5)
    assert len(series["seconds"]) == 60 and series["seconds"][-1] == 102
    assert series["messagesIn"][-3:] == [5, 0, 1] and sum(series["bytesIn"]) == 51
    rates.update((6, 51, 1, 5), now=300.0)
    rates.update((7, 52, 1, 5), now=300.0)
    assert rates.buckets() == [[300, 1, 1, 0, 0]]  # older than a minute: gone


def test_saved_item_checks() -> None:
    assert saved_item(" hi ", "x") == {"name": "hi", "mode": "text", "text": "x"}
    for args, why in [
        (("", "x"), "needs a name"),
        (("n", "{", "json"), "not valid JSON"),
        (("n", "zz", "hex"), "not valid hex"),
        (("n", "x", "morse"), "unknown composer mode"),
        (("n", 3), "must be a str"),
        (("n" * 81, "x"), "at most 80"),
    ]:
        with pytest.raises(ValueError, match=why):
            saved_item(*args)


def test_front_end_never_parses_html() -> None:
    js = (STATIC / "panel.js").read_text()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "DOMParser",
    ):
        assert sink not in js


def test_core_does_not_import_the_panel() -> None:
    code = "import sys, ohws_jupyter; ohws_jupyter.createWebSocket(); " + (
        "assert not {'ohws_jupyter.jupyter.panel', 'ipywidgets', 'anywidget'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_package_exports_both_panels() -> None:
    import ohws_jupyter

    assert ohws_jupyter.WebSocketPanel is WebSocketPanel
    assert ohws_jupyter.WebSocketServerPanel is WebSocketServerPanel


def test_rejects_bad_arguments(sent: list) -> None:
    with pytest.raises(TypeError):
        WebSocketPanel("ws://x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        WebSocketPanel(createWebSocket(), max_entries=0)
    with pytest.raises(TypeError):
        WebSocketServerPanel(createWebSocket())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not valid hex"):
        WebSocketPanel(createWebSocket(), saved=[{"name": "x", "text": "zz", "mode": "hex"}])
    assert not [c for _, kind, c in sent if kind == "comm_open"]  # no half-made widget
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    with pytest.raises(Exception, match="view must be one of"):
        panel.view = "graphs"
    panel.view = "timeline"
    with pytest.raises(IndexError, match="the list shows 0"):
        panel.select(0)
    panel.close()


# -- the client panel against a real server ---------------------------------------------


def test_connect_send_echo_and_server_close(sent: list, server: Any) -> None:
    panel = open_panel(server)
    try:
        panel.send_input("hello", "text")
        entry_where(panel, kind="message", dir="<", text="hello")
        panel.send_input("01 02 ff", "hex")
        echo = entry_where(panel, kind="message", dir="<", binary=True)
        assert echo["text"] == "01 02 ff" and echo["size"] == 3 and echo["type"] == "binary"
        assert [h["text"] for h in panel.history] == ["hello", "01 02 ff"]
        panel.send_input("kick")
        closed = entry_where(panel, kind="close")
        assert (closed["code"], closed["reason"]) == (4001, "kicked")
        assert closed["explain"].startswith("Application code")
        wait_until(lambda: panel.state == "CLOSED", what="CLOSED")
        kinds = [e["kind"] for e in panel.entries]
        assert kinds[:2] == ["connect", "open"]
        # The server started the close: its frame first, then the client's reply.
        steps = [(t["from"], t["to"], t["label"]) for t in panel.timeline[-2:]]
        assert steps == [("s", "c", "Close 4001 kicked"), ("c", "s", "Close 4001 (reply)")]
    finally:
        finish(panel)


def test_the_timeline_obeys_the_filter_as_the_view_does(sent: list, server: Any) -> None:
    panel = open_panel(server)
    try:
        panel.send_input('{"a": 1}', "json")
        entry_where(panel, kind="message", dir="<", type="json")
        everything = panel.timeline
        panel.kind_filter = "json"
        labels = [t["label"] for t in panel.timeline]
        assert len(labels) == 2 and all(label.startswith("json · ") for label in labels)
        assert len(everything) > len(labels)  # the upgrade and its answer are left out
        panel.kind_filter = "all"
        panel.search = "never seen"
        assert panel.timeline == []
    finally:
        finish(panel)


def test_counts_say_one_thing_once() -> None:
    assert [plural(n, "attempt") for n in (0, 1, 2, 1200)] == [
        "0 attempts",
        "1 attempt",
        "2 attempts",
        "1,200 attempts",
    ]
    assert [plural(n, "reply", "replies") for n in (1, 3)] == ["1 reply", "3 replies"]


def test_entry_line_fields(sent: list, server: Any) -> None:
    """Each entry has what its line shows: direction, time, Δ, size, type, preview."""
    panel = open_panel(server)
    try:
        ws = panel.ws
        for message in ("plain", '{"a": [1, {"b": null}]}', "[not json", b"\x00\x01", ""):
            ws.send(message).result(10)
        wait_until(lambda: len(_seqs(panel, "<")) == 5, what="five echoes in the log")
        got = [e for e in panel.entries if e["kind"] == "message" and e["dir"] == "<"]
        assert [e["type"] for e in got] == ["text", "json", "text", "binary", "text"]
        assert [e["size"] for e in got] == [5, 23, 9, 2, 0]
        times = [e["time"] for e in panel.entries]
        deltas = [e["delta"] for e in panel.entries]
        assert deltas[0] is None
        assert deltas[1:] == pytest.approx([b - a for a, b in itertools.pairwise(times)])
        assert all(e["type"] == "event" for e in panel.entries[:2])
    finally:
        finish(panel)


def _seqs(panel: WebSocketPanel, direction: str) -> list[int]:
    return [e["seq"] for e in panel.entries if e["kind"] == "message" and e["dir"] == direction]


def test_select_gives_the_whole_message(sent: list, server: Any) -> None:
    """Detail: the whole message (not the 4K preview), for text and binary, sent on select."""
    panel = open_panel(server)
    try:
        ws = panel.ws
        big = "é" * 5000 + "END"  # 10,003 UTF-8 bytes: three 4K pieces
        ws.send(big).result(10)
        ws.send(bytes(range(256)) * 20).result(10)
        wait_until(lambda: ws.stats.messagesIn == 2, what="echoes")
        entry_where(panel, dir="<", binary=True)
        panel.kind_filter = "in"
        detail = panel.select(0)
        assert detail["data"] == big and detail["complete"] and detail["pieces"] == 3
        assert detail["size"] == 10_003 and detail["truncated"]  # the entry's preview is cut
        wait_until(lambda: customs(sent, "detail"), what="detail message")
        msg = customs(sent, "detail")[-1]
        assert msg["seq"] == panel.selected and msg["text"] == big and msg["length"] == len(big)
        detail = panel.select(-1)
        assert detail["data"] == bytes(range(256)) * 20 and detail["type"] == "binary"
        wait_until(lambda: customs(sent, "detail")[-1]["seq"] == panel.selected, what="detail")
        assert base64.b64decode(customs(sent, "detail")[-1]["b64"]) == detail["data"]
        panel.kind_filter = "all"
        panel.select(None)
        assert panel.detail is None
        wait_until(lambda: customs(sent, "detail")[-1]["entry"] is None, what="cleared detail")
    finally:
        finish(panel)


def test_actions_from_code_show_in_the_panel(sent: list, server: Any) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        ws.connect(server.url).result(10)
        wait_until(lambda: panel.state == "OPEN", what="OPEN")
        assert panel.url == server.url
        ws.send("from code").result(10)
        entry_where(panel, dir=">", text="from code")
        entry_where(panel, dir="<", text="from code")  # the echo, before we close
        ws.close({"code": 1000, "reason": "done"}).result(10)
        closing = entry_where(panel, kind="close")
        assert closing["code"] == 1000 and closing["explain"].startswith("Normal closure")
        wait_until(lambda: panel.state == "CLOSED", what="CLOSED")
        # We closed: our close frame, then the server's reply.
        steps = [(t["from"], t["to"], t["label"], t["style"]) for t in panel.timeline]
        assert steps[0] == (
            "c",
            "s",
            "GET / · Upgrade: websocket",
            "http",
        )
        assert steps[1] == ("s", "c", "101 Switching Protocols", "http")
        assert steps[2] == ("c", "s", "text · 9 B · from code", "msg")
        assert steps[-2:] == [
            ("c", "s", "Close 1000 done", "close"),
            ("s", "c", "Close 1000 (reply)", "close"),
        ]
    finally:
        finish(panel)


def test_timeline_shows_pieces_errors_and_a_lost_connection(sent: list, server: Any) -> None:
    panel = open_panel(server)
    try:
        ws = panel.ws
        ws.send("x" * 9000).result(10)
        entry_where(panel, dir="<", size=9000)
        ws.send("drop").result(10)
        entry_where(panel, kind="close")
        arrows = panel.timeline
        big = next(t for t in arrows if t["style"] == "msg" and t["from"] == "s")
        assert big["pieces"] == 3 and big["label"].startswith("text · 8.8 KiB · 3 pieces · xxx")
        assert [t["style"] for t in arrows[-2:]] == ["error", "lost"]
        assert (arrows[-1]["from"], arrows[-1]["to"]) == ("x", "x")
        assert "1006" in arrows[-1]["label"]
    finally:
        finish(panel)


def test_handshake_model(sent: list, server: Any) -> None:
    """Every request header as sent (yours marked, masked), status, response headers
    (masked), subprotocol, time to open."""
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        assert panel.handshake == {}
        opts = {"header": {"Authorization": "Bearer s3cret", "X-Trace": "1"}, "protocol": "chat"}
        ws.connect(server.url + "/room?token=t0k", opts).result(10)
        wait_until(lambda: panel.handshake.get("status"), what="handshake")
        hs = panel.handshake
        assert hs["url"].endswith("/room?token=***")
        assert hs["headersAsSent"] and hs["requestHeaders"] == ws.requestHeaders
        sent_headers = hs["requestHeaders"]
        assert {k: sent_headers[k] for k in ("Authorization", "X-Trace")} == {
            "Authorization": "***",
            "X-Trace": "1",
        }
        assert hs["userHeaders"] == ["Authorization", "X-Trace"]
        port = server.url.rsplit(":", 1)[1]
        assert sent_headers["Host"] == f"127.0.0.1:{port}"
        assert sent_headers["Upgrade"] == "websocket" and sent_headers["Sec-WebSocket-Key"] == "***"
        assert sent_headers["Sec-WebSocket-Version"] == "13"
        assert sent_headers["Sec-WebSocket-Protocol"] == "chat"
        assert "User-Agent" in sent_headers
        # The 'connect' entry keeps the headers you gave: what a replay repeats.
        assert entry_where(panel, kind="connect")["headers"] == {
            "Authorization": "***",
            "X-Trace": "1",
        }
        assert hs["offered"] == ["chat"] and hs["protocol"] == ""  # the server chose none
        assert hs["status"] == "101 Switching Protocols"
        assert hs["responseHeaders"]["Sec-WebSocket-Accept"] == "***"
        assert hs["responseHeaders"]["Upgrade"] == "websocket"
        assert 0 < hs["timeToOpen"] < 5 and hs["openedAt"] == pytest.approx(ws.stats.openedAt)
        wait_until(
            lambda: any(
                b.get("handshake", {}).get("headersAsSent") for b in customs(sent, "batch")
            ),
            what="sent",
        )
        published = json.dumps(customs(sent), default=str)
        assert "s3cret" not in published and "t0k" not in published
    finally:
        finish(panel)


def test_handshake_of_a_second_connection_shows_its_own_headers(sent: list, server: Any) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        ws.connect(server.url, {"header": {"X-First": "1"}}).result(10)
        wait_until(lambda: panel.handshake.get("headersAsSent"), what="first handshake")
        assert "X-First" in panel.handshake["requestHeaders"]
        ws.close().result(10)
        ws.connect(server.url, {"header": {"X-Second": "2"}}).result(10)
        wait_until(lambda: "X-Second" in panel.handshake["requestHeaders"], what="second")
        hs = panel.handshake
        assert "X-First" not in hs["requestHeaders"] and hs["userHeaders"] == ["X-Second"]
        assert hs["status"] == "101 Switching Protocols"
    finally:
        finish(panel)


def test_keepalive_round_trips_in_the_timeline_and_the_rates(sent: list, server: Any) -> None:
    """Our keepalive pings: arrows with their round trip, the rates' rtt series, the
    counters, and the round trips sent to the front end in the batches."""
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        ws.connect(server.url, {"pingInterval": 0.05}).result(10)
        wait_until(lambda: len(panel.rates["rtt"]) >= 3, what="three round trips")
        pongs = [e for e in panel.entries if e["kind"] == "pong"]
        pings = [e for e in panel.entries if e["kind"] == "ping"]
        assert pings and all(e["dir"] == ">" for e in pings)
        assert pongs and all(e["dir"] == "<" and 0 < e["rtt"] < 5 for e in pongs)
        # The rates take each round trip as it comes; the list at the next flush.
        points = [[e["time"], e["rtt"]] for e in pongs]
        assert panel.rates["rtt"][: len(points)] == points
        arrows = [t for t in panel.timeline if t["style"] == "keepalive"]
        assert (arrows[0]["from"], arrows[0]["to"], arrows[0]["label"]) == ("c", "s", "Ping")
        pong_arrow = next(t for t in arrows if t["label"].startswith("Pong"))
        assert (pong_arrow["from"], pong_arrow["to"]) == ("s", "c")
        assert pong_arrow["label"].endswith(" ms")
        wait_until(
            lambda: (
                ws.stats.pingRoundTrip is not None
                and panel.counters["pingRoundTrip"] == ws.stats.pingRoundTrip
            ),
            what="counters",
        )
        wait_until(lambda: any(b.get("rtt") for b in customs(sent, "batch")), what="batch rtt")
        sent_rtt = [p for b in customs(sent, "batch") for p in b.get("rtt", [])]
        assert sent_rtt == [[e["time"], e["rtt"]] for e in pongs][: len(sent_rtt)]
        # A second view's snapshot takes none of them from the batches of the first.
        panel._handle_custom_msg({"type": "hello", "view": "second"}, [])
        wait_until(lambda: customs(sent, "snapshot"), what="snapshot")
        seen = len(panel.rates["rtt"])
        wait_until(lambda: len(panel.rates["rtt"]) >= seen + 2, what="two more round trips")
        wait_until(
            lambda: len([p for b in customs(sent, "batch") for p in b.get("rtt", [])]) > seen,
            what="their batches",
        )
        sent_rtt = [p for b in customs(sent, "batch") for p in b.get("rtt", [])]
        pongs = [e for e in panel.entries if e["kind"] == "pong"]
        assert sent_rtt == [[e["time"], e["rtt"]] for e in pongs][: len(sent_rtt)]
    finally:
        finish(panel)


def test_the_peers_keepalive_pings_are_drawn(sent: list) -> None:
    with running_server(flood_handler, ping_interval=0.05) as peer:
        ws = createWebSocket()
        panel = WebSocketPanel(ws)
        try:
            ws.connect(peer.url, {"pingInterval": 0}).result(10)
            entry_where(panel, kind="pong", dir=">")
            ping = entry_where(panel, kind="ping", dir="<")
            assert ping["text"] == "from the peer" and "rtt" not in ping
            arrows = [(t["from"], t["to"], t["label"]) for t in panel.timeline[2:4]]
            assert arrows == [("s", "c", "Ping"), ("c", "s", "Pong")]
            assert panel.rates["rtt"] == []  # the peer's pings measure nothing of ours
        finally:
            finish(panel)


def test_handshake_failure_is_explained(sent: list, server: Any) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        with pytest.raises(Exception, match="connection refused"):
            ws.connect(f"ws://127.0.0.1:{_closed_port()}").result(10)
        wait_until(lambda: panel.handshake.get("error"), what="handshake error")
        assert panel.handshake["status"] == ""
    finally:
        panel.close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mistakes_are_logged_not_raised(sent: list, server: Any) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        panel.send_input("zz", "hex")
        assert "not valid hex" in entry_where(panel, kind="error")["text"]
        panel.send_input("too early")
        entry_where(panel, kind="error", code=2302999)
        panel.connect("http://nowhere")
        entry_where(panel, kind="error", code=2302001)
        panel.connect(server.url)
        wait_until(lambda: panel.state == "OPEN", what="OPEN")
        for typo in ("abc", "1000.5", "0x3e8", "4OO1"):
            panel.close_connection(typo)
            entry_where(
                panel,
                kind="error",
                text=f"not closed: close code {typo!r} is not a whole number; "
                "use 1000, or 3000-4999 for your own codes",
            )
        assert panel.state == "OPEN"
        panel.close_connection(999)
        entry_where(panel, kind="error", code=401)
        assert "401" in panel.counters["lastError"]
        panel.close_connection(4000, "bye")
        assert entry_where(panel, kind="close")["code"] == 4000
    finally:
        finish(panel)


def test_last_error_clears_after_a_success(sent: list, server: Any) -> None:
    panel = open_panel(server)
    try:
        panel.send_input("zz", "hex")
        wait_until(lambda: "not valid hex" in panel.counters["lastError"], what="last error")
        assert not panel.counters["lastError"].startswith("| ")
        panel.send_input("fine")
        entry_where(panel, dir=">", text="fine")
        wait_until(lambda: panel.counters["lastError"] == "", what="last error cleared")
    finally:
        finish(panel)


def test_empty_text_message_is_sent(sent: list, server: Any) -> None:
    panel = open_panel(server)
    try:
        panel._handle_custom_msg({"type": "send", "mode": "text", "text": ""}, [])
        echo = entry_where(panel, dir="<", kind="message")
        assert echo["text"] == "" and echo["size"] == 0
        assert panel.ws.stats.messagesOut == 1
    finally:
        finish(panel)


def test_server_text_is_kept_verbatim(sent: list, server: Any) -> None:
    """Markup is data: stored and sent to the front end as is, for text nodes."""
    panel = open_panel(server)
    evil = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    try:
        panel.ws.send(evil).result(10)
        assert entry_where(panel, dir="<", kind="message")["text"] == evil
        wait_until(
            lambda: any(
                e.get("text") == evil for m in customs(sent, "batch") for e in m["entries"]
            ),
            what="batch with the message",
        )
    finally:
        finish(panel)


def test_credentials_never_reach_the_front_end(sent: list, server: Any) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    secrets = ["Bearer-s3cret", "c00kie", "t0ken", "pa55"]
    try:
        url = server.url.replace("ws://", "ws://user:pa55@") + "/?token=t0ken"
        opts = {"header": {"Authorization": "Bearer-s3cret", "Cookie": "c00kie", "X-Ok": "1"}}
        ws.connect(url, opts).result(10)
        connect = entry_where(panel, kind="connect")
        assert connect["headers"]["Authorization"] == "***"
        assert connect["headers"]["X-Ok"] == "1"
        assert "***" in connect["text"]
        entry_where(panel, kind="open")
        panel.connect(panel.url)  # the masked field still reconnects to the real URL
        entry_where(panel, kind="error", code=2302003)
        ws.close().result(10)
        wait_until(lambda: panel.state == "CLOSED", what="CLOSED")
        panel.connect(panel.url)
        wait_until(lambda: ws.stats.connects == 2 and panel.state == "OPEN", what="reconnect")
        assert ws.options.header["Authorization"] == "Bearer-s3cret"  # options reused
        panel.save_message("note", "a saved message")
        panel._handle_custom_msg({"type": "hello", "view": "v"}, [])
        wait_until(lambda: customs(sent, "snapshot"), what="snapshot")
        published = json.dumps([d for _, _, d in sent], default=str)
        state = json.dumps(panel.get_state(), default=str)
        for secret in secrets:
            assert secret not in published
            assert secret not in state
        # The widget state (what a saved notebook keeps) has the saved messages,
        # never the log, the handshake or the headers.
        data = {k: v for k, v in panel.get_state().items() if k not in ("_esm", "_css")}
        kept = json.dumps(data, default=str)
        assert "a saved message" in kept and "X-Ok" not in kept
        assert '"kind"' not in kept and "GET /" not in kept  # no entry, no timeline arrow
    finally:
        finish(panel)


def test_burst_keeps_log_bounded_and_counters_exact(sent: list, server: Any) -> None:
    panel = open_panel(server, max_entries=100)
    n = 5000
    try:
        for i in range(n):
            panel.ws.send(f"m{i}")
        wait_until(
            lambda: panel.counters["messagesIn"] == n and panel.counters["messagesOut"] == n,
            what="all echoes counted",
        )
        c = panel.counters
        expected_bytes = sum(len(f"m{i}") for i in range(n))
        assert (c["bytesIn"], c["bytesOut"], c["piecesIn"]) == (
            expected_bytes,
            expected_bytes,
            n,
        )
        entry_where(panel, dir="<", text=f"m{n - 1}")
        entries = panel.entries
        assert len(entries) == 100
        seqs = [e["seq"] for e in entries]
        assert seqs == list(range(seqs[0], seqs[0] + 100))
        # connect + open + 2n messages: everything not in view was counted as dropped
        assert panel.dropped + len(entries) == seqs[-1] == 2 + 2 * n
        # The rates count every message, shown or not.
        rates = panel.rates
        assert sum(rates["messagesIn"]) == n and sum(rates["bytesOut"]) == expected_bytes
    finally:
        finish(panel)


def test_flood_is_batched_append_only(sent: list, server: Any) -> None:
    panel = open_panel(server, max_entries=200)
    n = 20000
    try:
        start = time.monotonic()
        panel.ws.send(f"flood {n}")
        wait_until(lambda: panel.counters["messagesIn"] == n, timeout=30, what="flood received")
        entry_where(panel, text=f"n{n - 1}")
        wait_until(
            lambda: customs(sent, "batch")[-1]["counters"]["messagesIn"] == n,
            what="a refresh after the last message",
        )
        elapsed = time.monotonic() - start
        with RecordingComm.lock:
            times = [t for t, kind, _ in sent if kind == "comm_msg" and t >= start]
        # ~10 updates a second, plus a few for state changes, whatever the rate
        assert len(times) <= elapsed / panel.flush_interval + 5, (len(times), elapsed)
        for i, t in enumerate(times):
            assert len([u for u in times[i:] if u - t < 1.0]) <= 14
        batches = customs(sent, "batch")
        seqs = [e["seq"] for b in batches for e in b["entries"]]
        assert seqs == sorted(set(seqs)), "an entry was sent twice or out of order"
        assert max(len(b["entries"]) for b in batches) <= 200
        assert batches[-1]["counters"]["messagesIn"] == n
        assert sum(r[1] for b in batches for r in b["rates"] if r) >= n  # per-second buckets
    finally:
        finish(panel)


def test_each_refresh_sends_at_most_one_widget_message_under_a_flood(
    sent: list, server: Any
) -> None:
    """A flood that ends with the server closing: entries, counters and a change of
    state all arrive while messages pour in. Each refresh publishes at most one
    widget message (the state's trait update and the batch take turns), refreshes
    are at least ``flush_interval`` apart (so at most 10 a second), and the last
    batch carries the exact counters."""
    panel = open_panel(server, max_entries=200)
    n = 20000
    refreshes: list[tuple[float, int]] = []  # (start, widget messages it published)
    flush = panel._flush

    def counted_flush() -> None:
        start = time.monotonic()
        with RecordingComm.lock:
            before = len(sent)
        flush()
        with RecordingComm.lock:
            refreshes.append((start, len(sent) - before))

    panel._flush = counted_flush  # the scheduler calls the panel's refresh by this name
    try:
        panel.ws.send(f"flood {n}")
        panel.ws.send("kick")  # the server closes (4001) right behind the flood
        wait_until(lambda: panel.state == "CLOSED", timeout=60, what="the close")
        wait_until(
            lambda: (
                customs(sent, "batch")[-1]["counters"]["messagesIn"] == n
                and any(e.get("code") == 4001 for e in customs(sent, "batch")[-1]["entries"])
            ),
            timeout=30,
            what="a last batch with every message and the close",
        )
        assert len(refreshes) >= 3, refreshes
        assert max(count for _, count in refreshes) == 1, refreshes
        starts = [start for start, _ in refreshes]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert min(gaps) >= panel.flush_interval * 0.99, min(gaps)
        counters = customs(sent, "batch")[-1]["counters"]
        assert (counters["messagesIn"], counters["messagesOut"]) == (n, 2)
    finally:
        finish(panel)


def test_second_view_gets_its_own_snapshot(sent: list, server: Any) -> None:
    panel = open_panel(server, max_entries=10)
    try:
        for i in range(30):
            panel.ws.send(f"x{i}")
        entry_where(panel, text="x29", dir="<")
        panel.select(-1)
        panel._handle_custom_msg({"type": "hello", "view": "second"}, [])
        wait_until(lambda: customs(sent, "snapshot"), what="snapshot")
        snap = customs(sent, "snapshot")[0]
        assert snap["view"] == "second"
        assert snap["entries"] == panel.entries and len(snap["entries"]) == 10
        assert snap["seq"] == snap["entries"][-1]["seq"] and snap["dropped"] == panel.dropped
        assert [h["text"] for h in snap["history"]] == []  # sent from code, not the composer
        assert snap["handshake"]["status"] == "101 Switching Protocols"
        assert snap["detail"]["seq"] == panel.selected and snap["detail"]["text"] == "x29"
        assert sum(r[1] for r in snap["rates"]) == 30
    finally:
        finish(panel)


def test_pause_resume_and_clear(sent: list, server: Any) -> None:
    panel = open_panel(server)
    try:
        panel.paused = True
        panel.ws.send("while paused").result(10)
        seq = entry_where(panel, text="while paused", dir="<")["seq"]
        wait_until(
            lambda: any(b["seq"] >= seq for b in customs(sent, "batch")), what="paused batch"
        )
        paused = [b for b in customs(sent, "batch") if b["seq"] >= seq]
        assert all(b["entries"] == [] for b in paused), "entries were sent while paused"
        panel.paused = False
        wait_until(lambda: customs(sent, "reset"), what="reset on resume")
        assert customs(sent, "reset")[-1]["entries"][-1]["text"] == "while paused"
        panel._handle_custom_msg({"type": "clear"}, [])
        wait_until(lambda: len(customs(sent, "reset")) == 2, what="reset on clear")
        assert customs(sent, "reset")[-1]["entries"] == [] and panel.entries == []
        assert panel.dropped == 0 and panel.counters["messagesIn"] == 1
    finally:
        finish(panel)


def test_front_end_buttons(sent: list, server: Any) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        panel._handle_custom_msg({"type": "connect", "url": server.url}, [])
        wait_until(lambda: panel.state == "OPEN", what="OPEN")
        panel._handle_custom_msg({"type": "send", "mode": "json", "text": '{ "a": 1 }'}, [])
        assert entry_where(panel, dir="<", kind="message")["text"] == '{"a":1}'
        wait_until(lambda: customs(sent, "history"), what="history update")
        panel._handle_custom_msg({"type": "close", "code": "", "reason": ""}, [])
        assert entry_where(panel, kind="close")["code"] == 1000
    finally:
        finish(panel)


def test_saved_messages(sent: list, server: Any) -> None:
    """Named messages: kept in the synced state, replaced by name, sent with one call."""
    panel = open_panel(server, saved=[{"name": "ping", "mode": "text", "text": "ping?"}])
    try:
        assert panel.saved == [{"name": "ping", "mode": "text", "text": "ping?"}]
        panel.save_message("bin", "00 ff", "hex")
        panel.save_message("ping", "ping!")  # same name: replaced in place
        assert [(s["name"], s["text"]) for s in panel.saved] == [
            ("ping", "ping!"),
            ("bin", "00 ff"),
        ]
        panel._handle_custom_msg({"type": "send_saved", "name": "bin"}, [])
        assert entry_where(panel, dir="<", binary=True)["text"] == "00 ff"
        panel.send_saved("ping")
        entry_where(panel, dir="<", text="ping!")
        # Save a received message from its detail; binary is kept as base64.
        panel.kind_filter = "binary"
        panel.select(-1)
        panel._handle_custom_msg({"type": "save", "name": "echoed", "seq": panel.selected}, [])
        assert panel.saved_message("echoed") == {"name": "echoed", "mode": "base64", "text": "AP8="}
        panel._handle_custom_msg(
            {"type": "save", "name": "typed", "text": "[1]", "mode": "json"}, []
        )
        panel._handle_custom_msg({"type": "delete_saved", "name": "bin"}, [])
        assert [s["name"] for s in panel.saved] == ["ping", "echoed", "typed"]
        panel._handle_custom_msg({"type": "save", "name": "bad", "text": "{", "mode": "json"}, [])
        assert "not valid JSON" in entry_where(panel, kind="error")["text"]
        with pytest.raises(KeyError):
            panel.send_saved("nothing")
        assert panel.get_state()["saved"] == panel.saved  # synced: it travels with the notebook
        for i in range(97):
            panel.save_message(f"m{i}", "x")
        with pytest.raises(ValueError, match="at most 100"):
            panel.save_message("one too many", "x")
        panel.save_message("m0", "replacing is fine")
    finally:
        finish(panel)


def test_log_text_is_plain(sent: list) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    panel.send_input("x", "hex")
    wait_until(lambda: panel.entries, what="error entry")
    assert "not sent: not valid hex" in panel.log_text()
    panel.close()


# -- history: a panel opened on a connection that already talked ----------------------------


def test_panel_opened_late_shows_the_kept_history_then_live(sent: list, server: Any) -> None:
    """What the WebSocket kept comes first (connect, open, the messages), then live
    records: nothing missing, nothing twice; the handshake is the real one."""
    ws = createWebSocket()
    try:
        ws.connect(server.url, {"header": {"Authorization": "Bearer s3cret"}}).result(10)
        for i in range(3):
            ws.send(f"early {i}").result(10)
        wait_until(lambda: ws.stats.messagesIn == 3, what="three echoes")
        panel = WebSocketPanel(ws)
        ws.send("live").result(10)
        entry_where(panel, dir="<", text="live")
        kinds = [(e["kind"], e["dir"], e.get("text")) for e in panel.entries]
        assert kinds[:2] == [("connect", "=", server.url), ("open", "=", "")]
        for direction in "><":  # sent, and echoed: each once, in order
            texts = [t for k, d, t in kinds if k == "message" and d == direction]
            assert texts == ["early 0", "early 1", "early 2", "live"]
        assert "history" not in [k for k, _, _ in kinds]
        assert [e["seq"] for e in panel.entries] == list(range(1, 11))
        hs = panel.handshake
        assert hs["timeToOpen"] > 0 and hs["note"] == ""
        assert hs["headersAsSent"] and hs["requestHeaders"] == ws.requestHeaders
        assert hs["requestHeaders"]["Authorization"] == "***"
        # The front end got each replayed entry once, in order.
        wait_until(lambda: customs(sent, "batch"), what="a batch")
        seqs = [e["seq"] for b in customs(sent, "batch") for e in b["entries"]]
        assert seqs == sorted(set(seqs))
        panel.close()
    finally:
        ws.close().result(10)


@contextlib.contextmanager
def panels_held() -> Iterator[None]:
    """Hold the panels' refresh thread, as a slow refresh would: no flush runs inside."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(60)

    scheduler.call_soon(hold)
    assert started.wait(10), "the panel thread did not start"
    try:
        yield
    finally:
        release.set()


def test_entries_and_log_text_show_the_history_at_once(sent: list, server: Any) -> None:
    """A synchronous read shows every record observed before it, with no refresh yet;
    the front end still gets each of those entries once, at the next refresh."""
    ws = createWebSocket()
    try:
        ws.connect(server.url).result(10)
        for i in range(3):
            ws.send(f"early {i}").result(10)
        wait_until(lambda: ws.stats.messagesIn == 3, what="three echoes")
        with panels_held():
            panel = WebSocketPanel(ws)
            kinds = [(e["kind"], e["dir"], e.get("text")) for e in panel.entries]
            text = panel.log_text()
        assert kinds[:2] == [("connect", "=", server.url), ("open", "=", "")]
        assert [t for k, d, t in kinds if k == "message" and d == "<"] == [
            f"early {i}" for i in range(3)
        ]
        assert "early 2" in text and len(text.splitlines()) == len(kinds) == 8
        wait_until(lambda: customs(sent, "batch"), what="a batch")
        seqs = [e["seq"] for b in customs(sent, "batch") for e in b["entries"]]
        assert seqs == list(range(1, 9))
        panel.close()
    finally:
        ws.close({"code": 1000, "reason": "done"}).result(10)


async def big_messages(conn: Any) -> None:
    """Send 100 text messages of 1 MiB each, then close."""
    body = "x" * (1024 * 1024 - 4)
    for i in range(100):
        await conn.send(f"{i:04d}{body}")
    await conn.close(1000, "sent 100")


def test_a_flood_of_big_messages_keeps_the_panel_within_its_budget(sent: list) -> None:
    """100 x 1 MiB while the panel's refresh is late: the bodies the panel keeps
    alive beyond the WebSocket's own history stay within FULL_BUDGET (32 MiB)."""
    import tracemalloc

    from ohws_jupyter.engine import connection

    with running_server(big_messages) as srv:
        ws = createWebSocket()
        closed = threading.Event()
        ws.on("close", lambda *_: closed.set())
        tracemalloc.start()
        try:
            with panels_held():
                panel = WebSocketPanel(ws)
                ws.connect(srv.url).result(10)
                assert closed.wait(60), "the server did not finish"
                assert ws.stats.messagesIn == 100
                gc.collect()
                # Message bodies are made where the engine decodes them.
                where = [tracemalloc.Filter(True, connection.__file__)]
                alive = sum(
                    stat.size
                    for stat in tracemalloc.take_snapshot()
                    .filter_traces(where)
                    .statistics("filename")
                )
        finally:
            tracemalloc.stop()
        kept = sum(len(r.data) for r in ws.history() if r.kind == "message")
        assert alive - kept <= FULL_BUDGET, f"{(alive - kept) / 2**20:.0f} MiB beyond the history"
        # The newest message is there whole; every one has its entry and its size.
        messages = [e for e in panel.entries if e["kind"] == "message"]
        assert len(messages) == 100 and {e["size"] for e in messages} == {1024 * 1024}
        panel.selected = messages[-1]["seq"]
        assert panel.detail is not None and panel.detail["complete"] is True
        panel.close()


def test_panel_opened_after_the_history_was_trimmed_says_so(sent: list, server: Any) -> None:
    """When the WebSocket's kept history no longer starts at the connect, the panel
    says so first, and the handshake comes from what the WebSocket still knows."""
    ws = createWebSocket()
    n = HISTORY_LIMIT + 1
    try:
        ws.connect(server.url, {"header": {"Authorization": "Bearer s3cret"}}).result(10)
        ws.send(f"flood {n}").result(10)
        wait_until(lambda: ws.stats.messagesIn == n, timeout=30, what="the flood")
        assert ws.history()[0].kind == "message"  # the connect fell out of the history
        panel = WebSocketPanel(ws, max_entries=2 * HISTORY_LIMIT)
        note = entry_where(panel, kind="history")
        assert note["seq"] == 1 and note["text"].startswith(
            f"earlier records were not kept (a WebSocket keeps its last {HISTORY_LIMIT:,} records"
        )
        assert f"{n:,} messages in" in note["text"]
        wait_until(lambda: len(panel.entries) == 1 + len(ws.history()), what="the replay")
        assert panel.entries[-1]["text"] == f"n{n - 1}"
        hs = panel.handshake
        assert hs["status"] == "101 Switching Protocols" and hs["timeToOpen"] is None
        assert hs["note"].startswith("opened before the oldest record")
        assert hs["requestHeaders"] == ws.requestHeaders and hs["userHeaders"] == ["Authorization"]
        assert hs["requestHeaders"]["Authorization"] == "***"
        assert hs["requestHeaders"]["Sec-WebSocket-Key"] == "***"
        assert hs["responseHeaders"]["Sec-WebSocket-Accept"] == "***"
        published = json.dumps(customs(sent), default=str)
        assert "s3cret" not in published
        panel.close()
    finally:
        ws.close().result(10)


def test_panel_opened_on_a_fresh_websocket_starts_empty(sent: list, server: Any) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        assert panel.entries == [] and panel.handshake == {}
        ws.connect(server.url).result(10)
        entry_where(panel, kind="open")
        assert [e["kind"] for e in panel.entries] == ["connect", "open"]
    finally:
        finish(panel)


# -- lifetime: a panel must not keep its WebSocket alive ---------------------------------


def test_dropped_panels_do_not_keep_connections(sent: list, server: Any) -> None:
    """Many dropped WebSocket+panel pairs leave no open connection and no panel."""
    panels = []
    for _ in range(300):
        ws = createWebSocket()
        panel = WebSocketPanel(ws)
        ws.connect(server.url).result(10)
        panels.append(weakref.ref(panel))
    del ws, panel
    gc.collect()

    def open_on_server() -> int:
        return sum(1 for c in list(server.connections) if c.state is State.OPEN)

    wait_until(lambda: open_on_server() == 0, timeout=30, what="every connection closed")

    def alive() -> int:
        gc.collect()
        return sum(1 for ref in panels if ref() is not None)

    wait_until(lambda: alive() == 0, timeout=30, what="every panel freed")


def test_panel_closes_when_its_websocket_is_collected(sent: list, server: Any) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    ws.connect(server.url).result(10)
    conn_count = len(server.connections)
    del ws
    gc.collect()
    wait_until(lambda: panel.comm is None, what="panel closed")
    assert panel.ws is None
    wait_until(lambda: server.connections[conn_count - 1].state is State.CLOSED, what="closed 1001")
    assert server.connections[conn_count - 1].close_code == 1001


def test_closing_the_panel_keeps_the_connection(sent: list, server: Any) -> None:
    panel = open_panel(server)
    ws = panel.ws
    panel.close()
    ws.send("still open").result(10)
    assert ws.readyState == 1
    ws.close().result(10)


# -- the tool bar: reconnect countdown, Export, Save transcript, Replay, Expect -----------

EVIL = '<img src=x onerror="window.__ohwsXss=1">'
RECONNECT = {"attempts": 3, "minDelay": 0.8, "maxDelay": 0.8, "factor": 1}


def updates(sent: list, trait: str) -> list[Any]:
    """Every value of ``trait`` the kernel synced to the front end, in order."""
    with RecordingComm.lock:
        return [
            d["state"][trait]
            for _, t, d in sent
            if t == "comm_msg" and d.get("method") == "update" and trait in d.get("state", {})
        ]


def tool_result(panel: WebSocketPanel, name: str, *states: str) -> dict[str, Any]:
    """Wait until the ``name`` pane's result is in one of ``states``; return it."""

    def result() -> dict[str, Any]:
        return getattr(panel, f"{name}_result")

    wait_until(lambda: result().get("state") in states, what=f"{name} result {states}")
    return result()


def reconnect_entries(panel: WebSocketPanel) -> list[str]:
    return [e["text"] for e in panel.entries if e["kind"] == "reconnecting"]


def test_reconnect_line_counts_down_in_tenths() -> None:
    waiting = {"state": "waiting", "attempt": 2, "attempts": 5, "delay": 1.5, "at": 100.0}
    assert reconnect_line(waiting, 98.5) == "reconnecting: attempt 2 in 1.5 s"
    assert reconnect_line(waiting, 99.75) == "reconnecting: attempt 2 in 0.3 s"  # rounded up
    assert reconnect_line(waiting, 99.99) == "reconnecting: attempt 2 in 0.1 s"
    assert reconnect_line(waiting, 100.0) == "reconnecting: attempt 2 now"
    assert reconnect_line({"state": "connecting", "attempt": 2}) == (
        "reconnecting: attempt 2, connecting…"
    )
    assert reconnect_line({"state": "gave up", "attempt": 5}) == (
        "reconnecting gave up after 5 attempts"
    )
    assert reconnect_line({"state": "cancelled", "attempt": 1}) == "reconnecting cancelled"
    assert reconnect_line({}) == ""


def test_reconnect_countdown_then_open_again(sent: list, server: Any) -> None:
    """A dropped connection: the countdown with attempt and time left, the wait in the
    log and the timeline before its attempt, then nothing once open again."""
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        ws.connect(server.url, {"reconnect": RECONNECT}).result(10)
        assert panel.reconnect_status == {} and panel.reconnect_text == ""
        dropped = time.time()
        ws.send("drop")
        wait_until(lambda: panel.reconnect_status.get("state") == "waiting", what="waiting")
        status = panel.reconnect_status
        assert {k: status[k] for k in ("attempt", "attempts", "delay")} == {
            "attempt": 1,
            "attempts": 3,
            "delay": 0.8,
        }
        assert status["at"] == reconnector_of(ws).next_attempt_at
        assert dropped + 0.8 <= status["at"] <= time.time() + 0.8
        shown = re.fullmatch(r"reconnecting: attempt 1 in (\d\.\d) s", panel.reconnect_text)
        assert (shown and 0.1 <= float(shown[1]) <= 0.8) or time.time() >= status["at"]
        assert updates(sent, "reconnect_status")[-1] == status  # the front end has it
        wait_until(lambda: ws.readyState == 1 and ws.stats.connects == 2, what="open again")
        wait_until(lambda: panel.reconnect_status == {}, what="countdown gone")
        assert panel.reconnect_text == ""
        wait_until(
            lambda: [e["kind"] for e in panel.entries].count("connect") == 2, what="2 connects"
        )
        assert reconnect_entries(panel) == ["attempt 1 of 3 in 0.8 s"]
        kinds = [e["kind"] for e in panel.entries if e["kind"] in ("connect", "reconnecting")]
        assert kinds == ["connect", "reconnecting", "connect"]  # the wait, then its attempt
        waits = [a for a in panel.timeline if a["label"].startswith("reconnecting")]
        assert [(a["from"], a["to"], a["label"], a["style"]) for a in waits] == [
            ("x", "x", "reconnecting · attempt 1 of 3 in 0.8 s", "reconnect")
        ]
        seen = [u.get("state") for u in updates(sent, "reconnect_status")]
        assert seen[0] == "waiting" and seen[-1] is None  # and {} at the end
    finally:
        finish(panel)


def test_reconnect_cancel_button_calls_close(sent: list, server: Any) -> None:
    """Cancel stops the wait through ws.close(): no attempt, no error shown; a close()
    from code while waiting shows as cancelled too."""
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        ws.connect(server.url, {"reconnect": RECONNECT}).result(10)
        ws.send("drop")
        wait_until(lambda: panel.reconnect_status.get("state") == "waiting", what="waiting")
        at = panel.reconnect_status["at"]
        panel._handle_custom_msg({"type": "cancel_reconnect"}, [])  # the Cancel button
        wait_until(lambda: panel.reconnect_status.get("state") == "cancelled", what="cancelled")
        assert panel.reconnect_text == "reconnecting cancelled"
        assert not reconnector_of(ws).waiting
        entry_where(panel, kind="reconnecting", text="cancelled")
        assert reconnect_entries(panel) == ["attempt 1 of 3 in 0.8 s", "cancelled"]
        # The attempt's time passes without an attempt (a bounded wait past it).
        wait_until(lambda: time.time() > at + 0.3, what="the cancelled attempt's time")
        assert ws.stats.connects == 1 and ws.readyState == 3
        # close()'s "not open" answer is expected here: not shown as an error.
        assert [e["text"] for e in panel.entries if e["kind"] == "error"] == [
            "[200] Websocket connection error: the connection was lost without a close frame (1006)"
        ]

        # A connect of the user's clears it; close() from code cancels as the button does.
        panel.connect()
        wait_until(lambda: panel.state == "OPEN", what="OPEN")
        wait_until(lambda: panel.reconnect_status == {}, what="cleared by the connect")
        ws.send("drop")
        wait_until(lambda: panel.reconnect_status.get("state") == "waiting", what="waiting")
        with pytest.raises(BusinessError, match="there is no open connection"):
            ws.close({"code": 1000, "reason": "enough"}).result(10)
        wait_until(lambda: panel.reconnect_status.get("state") == "cancelled", what="cancelled")
        assert ws.stats.connects == 2
    finally:
        finish(panel)


def test_reconnect_that_gives_up_shows_each_attempt(sent: list) -> None:
    """A server that drops the first connection and then refuses: two attempts, each
    wait before its attempt in the log, then "gave up"."""
    count = itertools.count()

    def refuse_after_the_first(conn: Any, request: Any) -> Any:
        return None if next(count) == 0 else conn.respond(503, "try again later\n")

    async def drop(conn: Any) -> None:
        conn.transport.abort()

    policy = {"attempts": 2, "minDelay": 0.3, "maxDelay": 0.6, "factor": 2}
    with running_server(drop, process_request=refuse_after_the_first) as srv:
        ws = createWebSocket()
        panel = WebSocketPanel(ws)
        try:
            ws.connect(srv.url, {"reconnect": policy}).result(10)
            wait_until(lambda: panel.reconnect_status.get("state") == "gave up", what="gave up")
            assert panel.reconnect_status == {"state": "gave up", "attempt": 2, "attempts": 2}
            assert panel.reconnect_text == "reconnecting gave up after 2 attempts"
            entry_where(panel, kind="reconnecting", text="gave up after 2 attempts")
            texts = reconnect_entries(panel)
            assert len(texts) == 3 and texts[2] == "gave up after 2 attempts"
            for n, text in enumerate(texts[:2], 1):
                low, high = ReconnectPolicy(**policy).bounds(n)
                found = re.fullmatch(rf"attempt {n} of 2 in (\d\.\d) s", text)
                assert found and round(low, 1) <= float(found[1]) <= round(high, 1), text
            kinds = [e["kind"] for e in panel.entries if e["kind"] in ("connect", "reconnecting")]
            assert kinds == ["connect", *["reconnecting", "connect"] * 2, "reconnecting"]
            states = [u.get("state") for u in updates(sent, "reconnect_status")]
            assert states.count("waiting") >= 2 and states[-1] == "gave up"
        finally:
            finish(panel)


def test_a_panel_opened_during_a_wait_shows_the_countdown(sent: list, server: Any) -> None:
    ws = createWebSocket()
    first = WebSocketPanel(ws)
    ws.connect(server.url, {"reconnect": RECONNECT}).result(10)
    ws.send("drop")
    wait_until(lambda: first.reconnect_status.get("state") == "waiting", what="waiting")
    late = WebSocketPanel(ws)
    try:
        wait_until(lambda: late.reconnect_status.get("state") == "waiting", what="late countdown")
        assert late.reconnect_status["at"] == first.reconnect_status["at"]
        entry_where(late, kind="reconnecting", text="attempt 1 of 3 in 0.8 s")
        assert late.entries[-1]["kind"] == "reconnecting"  # after the replayed records
    finally:
        late.close()
        finish(first)


def test_export_button_shows_code_of_every_format(sent: list, server: Any) -> None:
    """Export is copy_as_code over the public API: credentials stay ***, the code is a
    'tool' message and part of each view's snapshot, never of the widget state."""
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        url = server.url + "/?token=t0ken"
        ws.connect(url, {"header": {"Authorization": "Bearer s3cret"}}).result(10)
        echo = ws.once("message")
        ws.send(EVIL).result(10)
        echo.result(10)
        panel._handle_custom_msg({"type": "export", "format": "python"}, [])  # the button
        wait_until(lambda: customs(sent, "tool"), what="a tool message")
        shown = customs(sent, "tool")[-1]
        assert shown["name"] == "export" and shown["value"]["format"] == "python"
        code = shown["value"]["text"]
        assert code == panel.export_text == str(copy_as_code(ws, "python"))
        assert f"    {EVIL!r}," in code and "'Authorization': '***'" in code
        assert panel.export_format == "python"
        for fmt in FORMATS:
            assert panel.export(fmt) == str(copy_as_code(ws, fmt)) == panel.export_text
            assert "s3cret" not in panel.export_text and "t0ken" not in panel.export_text
        assert panel.export_format == "arkts"
        with pytest.raises(BusinessError, match="cannot export as 'perl'") as err:
            panel.export("perl")
        assert err.value.code == 401
        panel._handle_custom_msg({"type": "export", "format": "perl"}, [])
        wait_until(lambda: "error" in customs(sent, "tool")[-1]["value"], what="error shown")
        assert "use one of js, python" in panel.tool_results()["export"]["error"]
        panel.export("js")
        panel._handle_custom_msg({"type": "hello", "view": "v"}, [])
        wait_until(lambda: customs(sent, "snapshot"), what="snapshot")
        assert customs(sent, "snapshot")[-1]["tools"]["export"]["text"] == panel.export_text
        state = json.dumps(panel.get_state(), default=str)
        assert "new WebSocket" not in state and "onerror" not in state
    finally:
        finish(panel)


def test_save_transcript_button_downloads_the_file(
    sent: list, server: Any, tmp_path: pathlib.Path
) -> None:
    """Save transcript: the button's view gets the file's text to download, masked,
    in the format chosen; it loads back as the same transcript."""
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        url = server.url.replace("ws://", "ws://user:pa55@") + "/?token=t0ken"
        ws.connect(url, {"header": {"Authorization": "Bearer s3cret"}}).result(10)
        for text in ["one", EVIL]:
            echo = ws.once("message")
            ws.send(text).result(10)
            echo.result(10)
        for fmt, suffix in (("har", ".har"), ("jsonl", ".jsonl")):
            before = len(customs(sent, "download"))
            panel._handle_custom_msg({"type": "save_transcript", "format": fmt, "view": "v1"}, [])
            wait_until(lambda n=before: len(customs(sent, "download")) > n, what="download")
            file = customs(sent, "download")[-1]
            assert file["view"] == "v1" and file["name"].endswith(suffix)
            assert file["mime"] == TRANSCRIPT_FORMATS[fmt][1]
            for secret in ("s3cret", "pa55", "t0ken"):
                assert secret not in file["text"]
            again = panel.save_transcript(fmt)  # the same, but for a JSON-lines "created" time
            assert file["text"].splitlines()[1:] == again.splitlines()[1:]
            assert {k: file[k] for k in ("format", "size", "records")} == {
                k: panel.transcript_file[k] for k in ("format", "size", "records")
            }
            assert file["size"] == len(file["text"].encode())
            path = tmp_path / f"saved{suffix}"
            path.write_text(file["text"])
            loaded = Transcript.load(path)
            assert [r.data for r in loaded.messages] == ["one", "one", EVIL, EVIL]
            assert panel.transcript_file["records"] == len(ws.transcript())
            assert panel.transcript_format == fmt
        har = json.loads(panel.save_transcript("har"))
        (entry,) = har["log"]["entries"]
        assert [m["type"] for m in entry["_webSocketMessages"]] == ["send", "receive"] * 2
        with pytest.raises(BusinessError, match="use 'jsonl' or 'har'"):
            panel.save_transcript("pdf")
    finally:
        finish(panel)


async def upper_handler(conn: Any) -> None:
    """Like the echo, but a text reply in capitals: a server that changed."""
    async for message in conn:
        await conn.send(message.upper() if isinstance(message, str) else message)


def test_replay_button_shows_the_table(sent: list, server: Any) -> None:
    """Replay against the current URL (the field's default): every row ✓; against a
    server that changed, typed in the field: the differing rows ✗."""
    panel = open_panel(server)
    try:
        ws = panel.ws
        assert ws is not None
        for text in ["hello", EVIL]:
            echo = ws.once("message")
            ws.send(text).result(10)
            echo.result(10)
        panel._handle_custom_msg({"type": "replay", "url": "", "timing": "fast"}, [])
        assert panel.replay_result["state"] == "running"
        done = tool_result(panel, "replay", "done")
        assert done["ok"] is True and done["url"] == server.url
        assert done["summary"] == f"replay of {server.url}: all 4 steps as recorded"
        assert [(r["dir"], r["recorded"], r["replayed"], r["ok"]) for r in done["rows"]] == [
            (">", "hello", "hello", True),
            ("<", "hello", "hello", True),
            (">", EVIL, EVIL, True),
            ("<", EVIL, EVIL, True),
        ]
        assert panel.replay_url == ""  # the field shows the connection's own URL
        with running_server(upper_handler) as changed:
            panel._handle_custom_msg({"type": "replay", "url": changed.url}, [])
            wait_until(
                lambda: (
                    panel.replay_result.get("url") == changed.url
                    and panel.replay_result["state"] == "done"
                ),
                what="the second replay",
            )
        done = panel.replay_result
        assert done["ok"] is False and "2 of 4 steps differ" in done["summary"]
        bad = [(r["step"], r["recorded"], r["replayed"]) for r in done["rows"] if not r["ok"]]
        assert bad == [(2, "hello", "HELLO"), (4, EVIL, EVIL.upper())]
        assert panel.replay_url == changed.url
        pushed = [m["value"] for m in customs(sent, "tool") if m["name"] == "replay"]
        assert pushed[-1] == done and "running" in [p["state"] for p in pushed]
        report = panel.replay(server.url).result(30)  # from code: the report itself
        assert report.ok and len(report.rows) == 4
    finally:
        finish(panel)


def test_replay_without_messages_says_why(sent: list) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        panel._handle_custom_msg({"type": "replay", "url": "ws://127.0.0.1:9/"}, [])
        failed = tool_result(panel, "replay", "error")
        assert "no connection with messages to replay" in failed["message"]
        panel._handle_custom_msg({"type": "replay", "url": ""}, [])
        wait_until(lambda: "type the URL" in panel.replay_result.get("message", ""), what="no URL")
    finally:
        panel.close()


def test_expect_button_matches_regex_and_json(sent: list, server: Any) -> None:
    """Expect: ✓ with the matching message (markup kept as text), ✗ with "expected …,
    last received …", and a plain error for input that cannot be a match."""
    panel = open_panel(server)
    try:
        ws = panel.ws
        assert ws is not None
        panel._handle_custom_msg(
            {"type": "expect", "text": "onerror=", "kind": "regex", "timeout": "5"}, []
        )
        assert panel.expect_result["state"] == "waiting"
        assert panel.expect_result["what"] == "a message matching /onerror=/"
        ws.send("not this one").result(10)
        ws.send(EVIL).result(10)
        ok = tool_result(panel, "expect", "ok")
        # "ok" means matched within its own 5 s timeout; took is what it reports.
        assert ok["message"] == EVIL and ok["binary"] is False and ok["took"] >= 0
        assert (panel.expect_text, panel.expect_kind, panel.expect_timeout) == (
            "onerror=",
            "regex",
            5.0,
        )

        panel._handle_custom_msg(
            {"type": "expect", "text": '{"type": "joined"}', "kind": "json", "timeout": 5}, []
        )
        ws.send(json.dumps({"type": "joined", "room": "lab"})).result(10)
        ok = tool_result(panel, "expect", "ok")
        assert ok["what"] == 'JSON containing {"type": "joined"}'
        assert json.loads(ok["message"]) == {"type": "joined", "room": "lab"}

        promise = panel.expect('{"type": "left"}', "json", timeout=0.5)
        ws.send(EVIL).result(10)
        with pytest.raises(BusinessError) as err:
            promise.result(10)
        failed = tool_result(panel, "expect", "failed")
        assert failed["message"] == str(err.value)
        expected = 'expected JSON containing {"type": "left"} within 0.5 s'
        assert failed["message"].startswith(expected)
        assert f"last received {EVIL!r}" in failed["message"]

        for text, kind, timeout, why in [
            ("(unclosed", "regex", 5, "is not a regular expression"),
            ("[1, 2]", "json", 5, "must be an object"),
            ("{nope", "json", 5, "not valid JSON"),
            ("", "regex", 5, "type what to expect"),
            ("x", "regex", "soon", "timeout must be more than 0 seconds"),
            ("x", "regex", 0, "timeout must be more than 0 seconds"),
        ]:
            panel._handle_custom_msg(
                {"type": "expect", "text": text, "kind": kind, "timeout": timeout}, []
            )
            assert panel.expect_result["state"] == "error"
            assert why in panel.expect_result["message"], (text, panel.expect_result)
            assert (panel.expect_text, panel.expect_kind) == (text, kind)  # kept as typed
            with pytest.raises(BusinessError, match=re.escape(why)) as err:
                panel.expect(text, kind, timeout).result(1)
            assert err.value.code == 401

        # From code, anything ws.expect takes: here a callable; binary shown as hex.
        promise = panel.expect(lambda m: isinstance(m, bytes), timeout=5)
        ws.send(bytes([0, 1, 254, 255])).result(10)
        assert promise.result(10) == bytes([0, 1, 254, 255])
        ok = tool_result(panel, "expect", "ok")
        assert ok["binary"] is True and ok["message"] == "00 01 fe ff (4 bytes)"
    finally:
        finish(panel)


def test_tool_traits_check_their_values(sent: list) -> None:
    ws = createWebSocket()
    panel = WebSocketPanel(ws)
    try:
        for name, bad in [
            ("tool", "debugger"),
            ("export_format", "perl"),
            ("transcript_format", "csv"),
            ("replay_timing", "slow"),
            ("expect_kind", "glob"),
        ]:
            with pytest.raises(traitlets.TraitError, match=f"{name} must be one of"):
                setattr(panel, name, bad)
        for name in TOOLS:
            panel.tool = name
        assert panel.tool_results() == {"export": {}, "replay": {}, "expect": {}}
        for name in panel_tools.__all__:
            assert hasattr(panel_tools, name), name
    finally:
        panel.close()


# -- the server panel ------------------------------------------------------------------


@pytest.fixture
def room() -> Iterator[WebSocketServer]:
    srv = createWebSocketServer()
    srv.start({"serverPort": 0, "mode": "echo"}).result(10)
    yield srv
    if srv.state.name == "RUNNING":
        srv.stop().result(10)


def test_server_panel_clients_messages_and_actions(sent: list, room: WebSocketServer) -> None:
    early = createWebSocket()
    early.connect(room.url).result(10)
    said = early.once("message")
    early.send("before the panel").result(10)
    assert said.result(10) == "before the panel"
    panel = WebSocketServerPanel(room)
    members = [early]
    try:
        for _ in range(2):
            ws = createWebSocket()
            ws.connect(room.url + "/chat?token=t0k").result(10)
            members.append(ws)
        wait_until(lambda: len(panel.clients) == 3, what="three clients")
        rows = panel.clients
        (listed,) = room.clients()[:1]
        # Connected before the panel: the server's own counts, bytes from the panel on.
        assert rows[0]["since"] == listed.connected_at and rows[0]["bytesFrom"] > rows[0]["since"]
        assert (rows[0]["messagesIn"], rows[0]["messagesOut"]) == (1, 1)
        assert (rows[0]["bytesIn"], rows[0]["bytesOut"]) == (0, 0)
        assert rows[1]["since"] > rows[0]["since"] and rows[1]["bytesFrom"] is None
        assert [r["state"] for r in rows] == ["open"] * 3
        wait_until(lambda: panel.client == rows[0]["address"], what="the first client selected")
        assert panel.entries[0]["kind"] == "history"

        for message in ("hello server", b"\x01\x02"):
            echo = members[1].once("message")
            members[1].send(message).result(10)
            echo.result(10)
        # The echo mode's replies are the server's messages out.
        wait_until(lambda: panel.clients[1]["messagesOut"] == 2, what="replies counted")
        assert panel.clients[1]["messagesIn"] == 2
        assert panel.clients[1]["bytesIn"] == panel.clients[1]["bytesOut"] == 14
        panel.select_client(1)
        assert panel.client == rows[1]["address"] and panel.selected == -1
        wait_until(lambda: len(panel.entries) == 5, what="entries of client 1")
        kinds = [(e["kind"], e["dir"], e.get("text")) for e in panel.entries]
        assert kinds == [
            ("connect", "=", "/chat?token=***"),
            ("message", "<", "hello server"),
            ("message", ">", "hello server"),
            ("message", "<", "01 02"),
            ("message", ">", "01 02"),
        ]
        connect = panel.entries[0]
        assert connect["headers"]["Sec-WebSocket-Key"] == "***" and "Host" in connect["headers"]
        assert panel.select(-2)["data"] == b"\x01\x02"
        assert [t["from"] + t["to"] for t in panel.timeline] == ["cs", "sc", "cs", "sc", "cs", "sc"]
        assert panel.timeline[0]["label"] == "GET /chat?token=*** · Upgrade: websocket"

        got = members[2].once("message")
        assert panel.send_to(2, "just you") == 1
        assert got.result(10) == "just you"
        heard = [m.once("message") for m in members]
        panel._handle_custom_msg({"type": "send", "target": "all", "text": "everyone"}, [])
        assert [h.result(10) for h in heard] == ["everyone"] * 3
        # What code sends with server.send counts too.
        from_code = members[2].once("message")
        room.send("from code", room.listAllConnections()[2]).result(10)
        assert from_code.result(10) == "from code"
        wait_until(lambda: panel.clients[2]["messagesOut"] == 3, what="out counted")
        assert [r["messagesOut"] for r in panel.clients] == [2, 3, 3]
        assert [r["messagesOut"] for r in panel.clients] == [c.messages_out for c in room.clients()]
        assert [r["messagesIn"] for r in panel.clients] == [c.messages_in for c in room.clients()]
        assert panel.counters["messagesOut"] == 8 and panel.counters["messagesIn"] == 3

        closed = members[0].once("close")
        panel._handle_custom_msg(
            {"type": "close_client", "target": rows[0]["address"], "code": "4002", "reason": "out"},
            [],
        )
        result = closed.result(10)
        assert (result.code, result.reason) == (4002, "out")
        wait_until(lambda: panel.clients[0]["state"] == "closed", what="closed in the table")
        assert panel.clients[0]["close"] == [4002, "out"]
        assert (panel.clients[0]["messagesIn"], panel.clients[0]["messagesOut"]) == (1, 2)
        panel.close_client(1, "1000.5")
        assert "not a whole number" in panel.counters["lastError"]

        panel.select_client(0)
        wait_until(lambda: panel.entries and panel.entries[-1]["kind"] == "close", what="close")
        assert [e["kind"] for e in panel.entries][-2:] == ["closing", "close"]
        assert [(t["from"], t["to"], t["label"]) for t in panel.timeline[-2:]] == [
            ("s", "c", "Close 4002 out"),
            ("c", "s", "Close 4002 (reply)"),
        ]

        panel._handle_custom_msg({"type": "stop"}, [])
        wait_until(lambda: panel.state == "STOPPED", what="stopped")
        wait_until(lambda: all(r["state"] == "closed" for r in panel.clients), what="all closed")
        assert panel.clients[1]["close"] == [1001, "server stopping"]
        batches = customs(sent, "batch")
        assert any(b.get("clients") for b in batches)
        published = json.dumps(customs(sent), default=str)
        assert "t0k" not in published
    finally:
        panel.close()
        for ws in members:
            if ws.readyState in (0, 1):
                ws.close().result(10)


def test_server_panel_shows_markup_verbatim_and_masks_nothing_it_has_not(
    sent: list, room: WebSocketServer
) -> None:
    evil = "<img src=x onerror=alert(1)>"
    panel = WebSocketServerPanel(room)
    ws = createWebSocket()
    try:
        ws.connect(room.url).result(10)
        ws.send(evil).result(10)
        ws.close({"code": 4000, "reason": evil}).result(10)
        wait_until(lambda: panel.clients and panel.clients[0]["state"] == "closed", what="closed")
        assert panel.clients[0]["close"] == [4000, evil]
        assert entry_where(panel, dir="<")["text"] == evil
        assert entry_where(panel, kind="close")["reason"] == evil
        # The client started the close: its frame, then the server's reply.
        assert [(t["from"], t["to"], t["label"]) for t in panel.timeline[-2:]] == [
            ("c", "s", f"Close 4000 {evil}"),
            ("s", "c", "Close 4000 (reply)"),
        ]
    finally:
        panel.close()


def test_server_panel_stops_watching_when_closed(sent: list, room: WebSocketServer) -> None:
    panel = WebSocketServerPanel(room)
    panel.close()
    with RecordingComm.lock:
        published = len(sent)
    ws = createWebSocket()
    try:
        ws.connect(room.url).result(10)
        echo = ws.once("message")
        ws.send("after the panel closed").result(10)
        assert echo.result(10) == "after the panel closed"
        wait_until(lambda: room.clients() and room.clients()[0].messages_out == 1, what="echo")
        assert panel.clients == [] and panel.counters["messagesIn"] == 0
        with RecordingComm.lock:
            assert len(sent) == published
    finally:
        ws.close().result(10)


def test_server_panel_counts_a_flood_exactly(sent: list, room: WebSocketServer) -> None:
    """Entries stay bounded per client; the counts in the table are exact."""
    panel = WebSocketServerPanel(room, max_entries=50)
    ws = createWebSocket()
    n = 3000
    try:
        ws.connect(room.url).result(10)
        for i in range(n):
            ws.send(f"m{i}")
        wait_until(lambda: ws.stats.messagesIn == n, timeout=30, what="every echo")
        wait_until(lambda: panel.clients[0]["messagesOut"] == n, what="out counted")
        row = panel.clients[0]
        size = sum(len(f"m{i}") for i in range(n))
        assert (row["messagesIn"], row["bytesIn"], row["bytesOut"]) == (n, size, size)
        entry_where(panel, dir=">", text=f"m{n - 1}")
        assert len(panel.entries) == 50 and panel.dropped + 50 == 1 + 2 * n
    finally:
        ws.close().result(10)
        panel.close()


# -- a real kernel ----------------------------------------------------------------------

KERNEL_FLOOD = textwrap.dedent(
    """
    import asyncio, threading, time
    from websockets.asyncio.server import serve
    from ohws_jupyter import createWebSocket
    from ohws_jupyter.jupyter.panel import WebSocketPanel

    ready = threading.Event()
    state = {}

    async def handler(conn):
        async for message in conn:
            for i in range(int(message)):
                await conn.send("n%d" % i)

    def run_server():
        async def main():
            async with serve(handler, "127.0.0.1", 0) as srv:
                state["port"] = srv.sockets[0].getsockname()[1]
                ready.set()
                await asyncio.Future()
        asyncio.run(main())

    threading.Thread(target=run_server, daemon=True).start()
    ready.wait(10)
    ws = createWebSocket()
    panel = WebSocketPanel(ws, max_entries=100)
    display(panel)
    ws.connect("ws://127.0.0.1:%d" % state["port"]).result(10)
    ws.send("N")
    """
)


def run_cell(kernel: Kernel, code: str, comm_times: list[float] | None = None) -> str:
    """Execute ``code``; its stdout. Widget messages seen meanwhile go to ``comm_times``."""
    cell = kernel.run(code)
    assert not cell.errors, cell.errors
    if comm_times is not None:
        comm_times.extend(
            m["received_at"] for m in kernel.messages[cell.start :] if m["msg_type"] == "comm_msg"
        )
    return cell.stdout


def test_flood_in_a_real_kernel_is_rate_limited(kernel: Kernel) -> None:
    n = 30000
    comm_times: list[float] = []
    run_cell(kernel, KERNEL_FLOOD.replace('"N"', f'"{n}"'), comm_times)
    out = run_cell(
        kernel,
        # The panel takes records on its own lane: wait (bounded) until it has seen all.
        "import time\n"
        "deadline = time.monotonic() + 30\n"
        f"while len(panel.entries) + panel.dropped < {n + 3} and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
        "print(ws.stats.messagesIn, len(panel.entries), panel.dropped)",
        comm_times,
    )
    received, shown, dropped = map(int, out.split())
    assert received == n and shown == 100
    assert shown + dropped == n + 2 + 1  # connect, open, the sent "N", the flood
    for i, t in enumerate(comm_times):
        assert len([u for u in comm_times[i:] if u - t < 1.0]) <= 15


def test_rerunning_a_cell_with_a_panel_leaves_one_connection(kernel: Kernel) -> None:
    """The README's promise, with a panel: the cell run 20 times, one connection open."""
    run_cell(
        kernel,
        "from ohws_jupyter import createWebSocket, createWebSocketServer\n"
        "from ohws_jupyter.jupyter.panel import WebSocketPanel\n"
        "room = createWebSocketServer()\n"
        "room.start({'serverPort': 0, 'maxConcurrentClientsNumber': 50,"
        " 'maxConnectionsForOneClient': 50}).result(10)",
    )
    cell = "ws = createWebSocket(); ws.connect(room.url); panel = WebSocketPanel(ws)"
    for _ in range(20):
        run_cell(kernel, cell)
    out = run_cell(
        kernel,
        "import time\n"
        "from ipywidgets.widgets.widget import _instances\n"
        "ws.once('open').result(10) if ws.readyState == 0 else None\n"
        "deadline = time.monotonic() + 20\n"
        "while len(room.listAllConnections()) > 1 and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "panels = [w for w in _instances.values() if isinstance(w, WebSocketPanel)]\n"
        "print(len(room.listAllConnections()), len(panels), ws.readyState)",
    )
    assert out.split() == ["1", "1", "1"]


def test_server_panel_follows_a_server_started_later(sent: list) -> None:
    srv = createWebSocketServer()
    panel = WebSocketServerPanel(srv)
    try:
        assert (panel.state, panel.url, panel.clients) == ("STOPPED", "", [])
        srv.start({"serverPort": 0}).result(10)
        wait_until(lambda: panel.state == "RUNNING", what="RUNNING seen")
        assert panel.url == srv.url
        panel.stop_server()
        wait_until(lambda: panel.state == "STOPPED", what="STOPPED seen")
    finally:
        panel.close()
