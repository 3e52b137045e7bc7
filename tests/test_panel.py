"""The panel's model: bounded log, batching, masking, explanations, actions.

Widgets here talk to a recording comm (ipywidgets' own test approach), so every
message the front end would get is inspected; the network is real (loopback
servers). One test runs a real kernel to count widget messages on iopub.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import comm
import pytest
from comm import DummyComm
from conftest import running_server, wait_until

from ohws_jupyter import createWebSocket
from ohws_jupyter.panel import (
    CLOSE_CODE_TEXT,
    WebSocketPanel,
    close_code_text,
    mask_url,
    parse_composer,
)

STATIC = pathlib.Path(__file__).parent.parent / "ohws_jupyter" / "static"


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
    """Echo, 'kick' closes 4001, and 'flood N' sends N numbered messages at once."""
    async for message in conn:
        if message == "kick":
            await conn.close(4001, "kicked")
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
    panel.connect(server.url + url_suffix)
    wait_until(lambda: panel.state == "OPEN", what="panel state OPEN")
    return panel


def finish(panel: WebSocketPanel) -> None:
    if panel.ws.readyState in (0, 1):
        panel.ws.close().result(10)
    panel.close()


def entry_where(panel: WebSocketPanel, **want: Any) -> dict[str, Any]:
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


def test_front_end_never_parses_html() -> None:
    js = (STATIC / "panel.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js


def test_core_does_not_import_the_panel() -> None:
    code = "import sys, ohws_jupyter; ohws_jupyter.createWebSocket(); " + (
        "assert not {'ohws_jupyter.panel', 'ipywidgets', 'anywidget'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError):
        WebSocketPanel("ws://x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        WebSocketPanel(createWebSocket(), max_entries=0)


# -- against a real server ------------------------------------------------------------


def test_connect_send_echo_and_server_close(sent: list, server: Any) -> None:
    panel = open_panel(server)
    try:
        panel.send_input("hello", "text")
        entry_where(panel, kind="message", dir="<", text="hello")
        panel.send_input("01 02 ff", "hex")
        echo = entry_where(panel, kind="message", dir="<", binary=True)
        assert echo["text"] == "01 02 ff" and echo["size"] == 3
        assert [h["text"] for h in panel.history] == ["hello", "01 02 ff"]
        panel.send_input("kick")
        closed = entry_where(panel, kind="close")
        assert (closed["code"], closed["reason"]) == (4001, "kicked")
        assert closed["explain"].startswith("Application code")
        wait_until(lambda: panel.state == "CLOSED", what="CLOSED")
        kinds = [e["kind"] for e in panel.entries]
        assert kinds[:2] == ["connect", "open"]
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
        ws.close({"code": 1000, "reason": "done"}).result(10)
        closing = entry_where(panel, kind="close")
        assert closing["code"] == 1000 and closing["explain"].startswith("Normal closure")
        wait_until(lambda: panel.state == "CLOSED", what="CLOSED")
    finally:
        finish(panel)


def test_mistakes_are_logged_not_raised(sent: list, server: Any) -> None:
    panel = WebSocketPanel(createWebSocket())
    try:
        panel.send_input("zz", "hex")
        assert "not valid hex" in entry_where(panel, kind="error")["text"]
        panel.send_input("too early")
        entry_where(panel, kind="error", code=2302999)
        panel.connect("http://nowhere")
        entry_where(panel, kind="error", code=2302001)
        panel.connect(server.url)
        wait_until(lambda: panel.state == "OPEN", what="OPEN")
        panel.close_connection("abc")
        wait_until(
            lambda: any("not a number" in e.get("text", "") for e in panel.entries),
            what="bad close code logged",
        )
        panel.close_connection(999)
        entry_where(panel, kind="error", code=401)
        assert "401" in panel.counters["lastError"]
        panel.close_connection(4000, "bye")
        assert entry_where(panel, kind="close")["code"] == 4000
    finally:
        finish(panel)


def test_large_message_shows_pieces_and_is_truncated(sent: list, server: Any) -> None:
    panel = open_panel(server)
    try:
        panel.ws.send("é" * 5000).result(10)  # 10,000 UTF-8 bytes: three 4K pieces
        echo = entry_where(panel, kind="message", dir="<")
        assert echo["pieces"] == 3 and echo["size"] == 10000
        assert echo["truncated"] and len(echo["text"]) == 4096
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
        panel._handle_custom_msg({"type": "hello", "view": "v"}, [])
        wait_until(lambda: customs(sent, "snapshot"), what="snapshot")
        published = json.dumps([d for _, _, d in sent], default=str)
        state = json.dumps(panel.get_state(), default=str)
        for secret in secrets:
            assert secret not in published
            assert secret not in state
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
    finally:
        finish(panel)


def test_second_view_gets_its_own_snapshot(sent: list, server: Any) -> None:
    panel = open_panel(server, max_entries=10)
    try:
        for i in range(30):
            panel.ws.send(f"x{i}")
        entry_where(panel, text="x29", dir="<")
        panel._handle_custom_msg({"type": "hello", "view": "second"}, [])
        wait_until(lambda: customs(sent, "snapshot"), what="snapshot")
        snap = customs(sent, "snapshot")[0]
        assert snap["view"] == "second"
        assert snap["entries"] == panel.entries and len(snap["entries"]) == 10
        assert snap["seq"] == snap["entries"][-1]["seq"] and snap["dropped"] == panel.dropped
        assert [h["text"] for h in snap["history"]] == []  # sent from code, not the composer
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
    panel = WebSocketPanel(createWebSocket())
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


def test_log_text_is_plain() -> None:
    panel = WebSocketPanel(createWebSocket())
    panel.send_input("x", "hex")
    wait_until(lambda: panel.entries, what="error entry")
    assert "not sent: not valid hex" in panel.log_text()
    panel.close()


# -- a real kernel ----------------------------------------------------------------------

KERNEL_FLOOD = textwrap.dedent(
    """
    import asyncio, threading, time
    from websockets.asyncio.server import serve
    from ohws_jupyter import createWebSocket
    from ohws_jupyter.panel import WebSocketPanel

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


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    jupyter_client = pytest.importorskip("jupyter_client.manager")
    km, kc = jupyter_client.start_new_kernel(kernel_name="python3")
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_flood_in_a_real_kernel_is_rate_limited(kernel: Any) -> None:
    n = 30000
    msg_id = kernel.execute(KERNEL_FLOOD.replace('"N"', f'"{n}"'))
    comm_times: list[float] = []
    idle = False
    errors = []
    deadline = time.monotonic() + 60
    while not idle and time.monotonic() < deadline:
        msg = kernel.get_iopub_msg(timeout=30)
        if msg["msg_type"] == "comm_msg":
            comm_times.append(time.monotonic())
        if msg["msg_type"] == "error":
            errors.append(msg["content"])
        idle = (
            msg["msg_type"] == "status"
            and msg["parent_header"].get("msg_id") == msg_id
            and msg["content"]["execution_state"] == "idle"
        )
    assert idle and not errors, errors
    # Keep reading comm traffic while the kernel answers a probe.
    probe = kernel.execute(
        f"import time\nwhile ws.stats.messagesIn < {n}: time.sleep(0.02)\n"
        "time.sleep(0.3)\nprint(ws.stats.messagesIn, len(panel.entries), panel.dropped)"
    )
    out = ""
    done = False
    while not done and time.monotonic() < deadline:
        msg = kernel.get_iopub_msg(timeout=30)
        kind = msg["msg_type"]
        if kind == "comm_msg":
            comm_times.append(time.monotonic())
        elif kind == "stream" and msg["parent_header"].get("msg_id") == probe:
            out += msg["content"]["text"]
        elif kind == "error":
            errors.append(msg["content"])
        done = (
            kind == "status"
            and msg["parent_header"].get("msg_id") == probe
            and msg["content"]["execution_state"] == "idle"
        )
    assert done and not errors, errors
    received, shown, dropped = map(int, out.split())
    assert received == n and shown == 100
    assert shown + dropped == n + 2 + 1  # connect, open, the sent "N", the flood
    for i, t in enumerate(comm_times):
        assert len([u for u in comm_times[i:] if u - t < 1.0]) <= 15
