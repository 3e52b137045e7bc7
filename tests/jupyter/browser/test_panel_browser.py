"""The panels in a real JupyterLab, driven by headless Chromium.

The module starts JupyterLab on 127.0.0.1 with a token and a fresh HOME, opens
a notebook whose cells start the embedded server (lab mode), a client panel
(shown twice), a second client panel on a peer that puts markup in every place
a server controls text (a message, a response header, the close reason; the
subprotocol is an HTML entity), and a server panel with three clients. The
tests then click through every view, in the light and the dark theme, saving
screenshots to ``artifacts/``. Actions that a notebook user would do in code
run in the same kernel through a second kernel client.

The tests share one browser page and run in file order; each states what it
needs from the ones before.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter.jupyter.panel_model import hexdump
from tests.helpers import ROOT
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

REPO = ROOT
ARTIFACTS = REPO / "artifacts"
# Runs only if the page ever parses it as HTML: the tests check it never did.
EVIL = '<img src=x onerror="window.__ohwsXss=(window.__ohwsXss||0)+1">'
# A subprotocol must be a token (no '<'), but an entity shows if parsed as HTML.
PROTO = "&ltimg&gt"
JSON_TEXT = '{"lesson": 1, "topics": ["frames", "close codes"], "ok": true, "next": null}'

SETUP = f"""\
import asyncio, threading
from websockets.asyncio.server import serve
from ohws_jupyter import createWebSocket, createWebSocketServer
from ohws_jupyter.jupyter.panel import WebSocketPanel
from ohws_jupyter.jupyter.server_panel import WebSocketServerPanel

EVIL = {EVIL!r}
lab = createWebSocketServer()
lab.start({{"serverPort": 0, "mode": "lab"}}).result(10)
ws = createWebSocket()
panel = WebSocketPanel(ws)
panel.url = lab.url
panel"""

EVIL_CELL = f"""\
def _headers(conn, request, response):
    response.headers["X-Evil"] = EVIL
    return response

async def _evil(conn):
    async for message in conn:
        if message == "bye":
            await conn.close(4000, EVIL)
            return
        await conn.send(message)

_ready, _port = threading.Event(), []

def _serve():
    async def main():
        pick = lambda conn, offered: offered[0] if offered else None
        async with serve(_evil, "127.0.0.1", 0, process_response=_headers,
                         select_subprotocol=pick) as srv:
            _port.append(srv.sockets[0].getsockname()[1])
            _ready.set()
            await asyncio.Future()
    asyncio.run(main())

threading.Thread(target=_serve, daemon=True).start()
_ready.wait(10)
evil_ws = createWebSocket()
evil_panel = WebSocketPanel(evil_ws)
evil_ws.connect(f"ws://127.0.0.1:{{_port[0]}}", {{"protocol": {PROTO!r},
    "header": {{"Authorization": "Bearer s3cret", "X-Probe": EVIL}}}}).result(10)
echo = evil_ws.once("message")
evil_ws.send(EVIL).result(10)
echo.result(10)
closed = evil_ws.once("close")
evil_ws.send("bye").result(10)
closed.result(10)
evil_panel"""

SERVER_CELL = f"""\
room = createWebSocketServer()
room.start({{"serverPort": 0, "mode": "echo"}}).result(10)
server_panel = WebSocketServerPanel(room)
members = []
for i in range(3):
    member = createWebSocket()
    member.connect(room.url).result(10)
    members.append(member)
members[0].send(EVIL).result(10)
members[1].send({JSON_TEXT!r}).result(10)
members[2].send(bytes(range(64))).result(10)
server_panel"""

TOUR_CELL = f"""\
tour_ws = createWebSocket()
tour = WebSocketPanel(tour_ws)
tour_ws.connect(lab.url + "/lesson", {{"header": {{"Authorization": "Bearer s3cret"}}}}).result(10)
for message in ["hello", {JSON_TEXT!r}, "/bytes 5000", "/text 9000"]:
    got = tour_ws.once("message")
    tour_ws.send(message).result(10)
    got.result(10)
closed = tour_ws.once("close")
tour_ws.send("/close 4000 class is over").result(10)
closed.result(10)
tour"""

TOOLS_CELL = """\
tools_ws = createWebSocket()
tools = WebSocketPanel(tools_ws)
tools_ws.connect(lab.url + "/tools?token=t0ken", {
    "header": {"Authorization": "Bearer s3cret"},
    "reconnect": {"attempts": 3, "minDelay": 30, "maxDelay": 30, "factor": 1},
}).result(10)
for message in ["hello", EVIL, "/text 12"]:
    got = tools_ws.once("message")
    tools_ws.send(message).result(10)
    got.result(10)
tools"""

CELLS = [
    SETUP,
    "panel  # the same panel, displayed a second time",
    EVIL_CELL,
    SERVER_CELL,
    TOUR_CELL,
    TOOLS_CELL,
]


def _notebook(cells: list[str]) -> dict[str, Any]:
    return {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": c,
                "outputs": [],
                "execution_count": None,
            }
            for c in cells
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # The server and its kernels share one process group: end them together.
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Lab:
    """The running JupyterLab: its address, token, and a client of the notebook's kernel."""

    def __init__(self, base: str, token: str, home: pathlib.Path) -> None:
        self.base, self.token, self.home = base, token, home
        self.kc: Any = None

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def set_theme(self, theme: str) -> None:
        self.api(
            "/lab/api/settings/@jupyterlab/apputils-extension:themes",
            "PUT",
            {"raw": json.dumps({"theme": theme})},
        )

    def kernel(self) -> Any:
        """A second client of the notebook's kernel, so a test can run code in it."""
        if self.kc is None:
            from jupyter_client import BlockingKernelClient

            sessions = self.api("/api/sessions")
            assert len(sessions) == 1, sessions
            kernel_id = sessions[0]["kernel"]["id"]
            kc = BlockingKernelClient(
                connection_file=str(self.home / "runtime" / f"kernel-{kernel_id}.json")
            )
            kc.load_connection_file()
            kc.start_channels()
            kc.wait_for_ready(timeout=30)
            self.kc = kc
        return self.kc

    def run(self, code: str, timeout: float = 60) -> str:
        """Run ``code`` in the notebook's kernel; its printed output."""
        kc = self.kernel()
        msg_id = kc.execute(code)
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                raise AssertionError("kernel: " + "\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)
        raise AssertionError(f"the kernel did not finish {code[:60]!r}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("lab")
    home = root / "home"
    notebooks = root / "notebooks"
    home.mkdir()
    notebooks.mkdir()
    (notebooks / "panel.ipynb").write_text(json.dumps(_notebook(CELLS)))
    # No "get notified about Jupyter news?" toast over the screenshots.
    settings = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / ".ipython"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    log = (root / "lab.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--allow-root",
            "--no-browser",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={notebooks}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lab = Lab(f"http://127.0.0.1:{port}", token, home)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                lab.api("/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "JupyterLab did not start:\n" + (root / "lab.log").read_text()
                    ) from None
                time.sleep(0.2)
        yield lab
    finally:
        if lab.kc is not None:
            lab.kc.stop_channels()
        _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def page(lab: Lab) -> Iterator[Any]:
    """The notebook, open with every cell run; one page for the whole module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.grant_permissions(["clipboard-read", "clipboard-write"])
            page = context.new_page()
            page.dialogs = []  # type: ignore[attr-defined]
            page.console_errors = []  # type: ignore[attr-defined]
            page.on(
                "console",
                lambda m: m.type == "error" and page.console_errors.append(m.text),  # type: ignore[attr-defined]
            )

            def on_dialog(dialog: Any) -> None:
                page.dialogs.append(dialog.message)  # type: ignore[attr-defined]
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.set_default_timeout(30_000)
            from playwright.sync_api import expect

            # A loaded machine renders JupyterLab slowly: assertions wait up to
            # 20 s (Playwright's default is 5 s); each still fails when its
            # condition never holds.
            expect.set_options(timeout=20_000)
            page.goto(f"{lab.base}/lab/tree/panel.ipynb?reset&token={lab.token}")
            _run_cells(page, len(CELLS))
            expect(page.locator(".ohws-panel")).to_have_count(6, timeout=90_000)
            yield page
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def failure_screenshot(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "page" in request.fixturenames:
        page = request.getfixturevalue("page")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"failure-{request.node.name}.png"))
        print("browser console errors:", *page.console_errors, sep="\n")


def _run_cells(page: Any, count: int) -> None:
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=60_000)
    # The indicator reads idle before a kernel is attached; the status bar waits for one.
    page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=60_000)
    page.locator(".jp-Cell .jp-InputArea-editor").first.click()
    page.keyboard.press("Escape")
    for _ in range(count):
        page.keyboard.press("Shift+Enter")


def _client(page: Any) -> Any:
    return page.locator(".ohws-client-panel").nth(0)


def _second(page: Any) -> Any:
    return page.locator(".ohws-client-panel").nth(1)


def _evil(page: Any) -> Any:
    return page.locator(".ohws-client-panel").nth(2)


def _server(page: Any) -> Any:
    return page.locator(".ohws-server-panel").nth(0)


def _tour(page: Any) -> Any:
    """A short lesson's conversation, for the pictures in the README."""
    return page.locator(".ohws-client-panel").nth(3)


def _tour_shots(page: Any, theme: str) -> None:
    from playwright.sync_api import expect

    tour = _tour(page)
    _view(tour, "messages")
    expect(tour.locator(".ohws-row.ohws-kind-close")).to_have_count(1)
    tour.locator(".ohws-row.ohws-type-json.ohws-dir-received").click()
    expect(tour.locator(".ohws-detail .ohws-json")).to_have_count(1)
    _view(tour, "messages")
    _shot(tour, f"docs-messages-{theme}")
    _view(tour, "timeline")
    expect(tour.locator(".ohws-step-label", has_text=re.compile("^Close 4000"))).to_have_text(
        ["Close 4000 class is over", "Close 4000 (reply)"]
    )
    _shot(tour, f"docs-timeline-{theme}")
    _view(tour, "messages")


def _tools(page: Any) -> Any:
    """A lab session with reconnect on, for the tool bar."""
    return page.locator(".ohws-client-panel").nth(4)


def _view(panel: Any, name: str) -> None:
    from playwright.sync_api import expect

    panel.locator(f'.ohws-tab[data-view="{name}"]').click()
    expect(panel).to_have_attribute("data-view", name)


def _shot(panel: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _kernel_says(lab: Lab, code: str, words: list[str], timeout: float = 10) -> None:
    """Run ``code`` until it prints ``words``: a selection made in the browser reaches
    the kernel as a comm message, which a second client's code may overtake."""
    deadline = time.monotonic() + timeout
    while (said := lab.run(code).split()) != words:
        assert time.monotonic() < deadline, f"the kernel says {said}, not {words}"
        time.sleep(0.05)


def _no_markup_ran(page: Any) -> None:
    """Nothing the servers sent was parsed as HTML."""
    assert page.dialogs == []
    found = page.evaluate(
        """() => ({
            ran: window.__ohwsXss ?? 0,
            img: document.querySelectorAll('.ohws-panel img, img[src="x"]').length,
            script: document.querySelectorAll('.ohws-panel script').length,
            foreign: document.querySelectorAll('.ohws-panel foreignObject').length,
        })"""
    )
    assert found == {"ran": 0, "img": 0, "script": 0, "foreign": 0}


# -- the client panel -----------------------------------------------------------------


def test_connect_send_select_and_detail(lab: Lab, page: Any) -> None:
    """Messages view: connect, send, the list line, and the detail of text, JSON, binary."""
    from playwright.sync_api import expect

    first, second = _client(page), _second(page)
    expect(first.locator(".ohws-badge")).to_have_text("CLOSED")
    expect(first.locator(".ohws-url")).to_have_value(re.compile(r"^ws://127\.0\.0\.1:\d+$"))
    first.locator(".ohws-connect").click()
    expect(first.locator(".ohws-badge")).to_have_text("OPEN")
    expect(second.locator(".ohws-badge")).to_have_text("OPEN")

    first.locator(".ohws-input").fill("hello panel")
    first.locator(".ohws-send").click()
    received = ".ohws-row.ohws-dir-received .ohws-text"
    expect(first.locator(received)).to_have_text(["hello panel"])
    expect(second.locator(received)).to_have_text(["hello panel"])  # both views follow
    row = first.locator(".ohws-row.ohws-dir-received").first
    expect(row.locator(".ohws-dir")).to_have_text("↓")
    expect(row.locator(".ohws-size")).to_have_text("11 B")
    expect(row.locator(".ohws-type")).to_have_text("text")
    expect(row.locator(".ohws-delta")).to_have_text(re.compile(r"^\+\d+ ms$"))
    expect(row.locator(".ohws-time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$"))

    # Ctrl+Enter sends; an empty text message is a message too.
    first.locator(".ohws-input").fill("")
    first.locator(".ohws-input").press("Control+Enter")
    expect(first.locator(".ohws-row.ohws-dir-received")).to_have_count(2)

    first.locator(".ohws-mode").select_option("json")
    first.locator(".ohws-input").fill(JSON_TEXT)
    first.locator(".ohws-input").press("Control+Enter")
    first.locator(".ohws-mode").select_option("text")
    first.locator(".ohws-input").fill("/bytes 5000")
    first.locator(".ohws-send").click()
    binary = first.locator(".ohws-row.ohws-dir-received.ohws-type-binary")
    expect(binary).to_have_count(1)
    expect(binary.locator(".ohws-size")).to_have_text("4.9 KiB")

    # Select the binary message: a hex dump, 16 bytes a row, from the whole message.
    binary.click()
    _kernel_says(lab, "print(panel.detail['size'], len(panel.detail['data']))", ["5000", "5000"])
    detail = first.locator(".ohws-detail")
    expect(detail.locator(".ohws-pieces")).to_have_text("2 pieces of 4K")
    whole = (bytes(range(256)) * 20)[:5000]
    expect(detail.locator(".ohws-hexdump")).to_have_text(hexdump(whole))
    assert detail.locator(".ohws-hexdump").inner_text().count("\n") == 312  # 313 rows

    # ↑ moves to the JSON echo: a collapsible tree.
    first.locator(".ohws-list").press("ArrowUp")
    first.locator(".ohws-list").press("ArrowUp")
    expect(detail.locator(".ohws-detail-head")).to_contain_text("received · JSON")
    tree = detail.locator(".ohws-json")
    expect(tree.locator(".ohws-json-key").first).to_have_text("lesson: ")
    expect(tree.locator(".ohws-json-string")).to_have_text(['"frames"', '"close codes"'])
    detail.locator(".ohws-raw").click()
    expect(detail.locator(".ohws-detail-text")).to_have_text(
        json.dumps(json.loads(JSON_TEXT), separators=(",", ":"))
    )
    _kernel_says(lab, "print(panel.detail['type'], panel.detail['dir'])", ["json", "<"])
    # Selecting from code moves the browser's selection too.
    lab.run("panel.kind_filter = 'in'; panel.select(0)")
    expect(detail.locator(".ohws-detail-text")).to_have_text("hello panel")
    expect(first.locator(".ohws-row.ohws-selected .ohws-text")).to_have_text("hello panel")
    lab.run("panel.kind_filter = 'all'")

    # Resend puts the message in the composer; Save keeps it, named.
    detail.locator(".ohws-resend").click()
    expect(first.locator(".ohws-input")).to_have_value("hello panel")
    detail.locator(".ohws-save").click()
    detail.locator(".ohws-save-name").fill("greeting")
    detail.locator(".ohws-save-ok").click()
    expect(first.locator(".ohws-saved-send")).to_have_text(["▶ greeting"])
    assert json.loads(lab.run("import json; print(json.dumps(panel.saved))")) == [
        {"name": "greeting", "mode": "text", "text": "hello panel"}
    ]
    before = int(lab.run("print(ws.stats.messagesOut)"))
    first.locator(".ohws-saved-send").click()  # one click sends it
    expect(first.locator(".ohws-row.ohws-dir-sent .ohws-text").last).to_have_text("hello panel")
    assert int(lab.run("print(ws.stats.messagesOut)")) == before + 1

    # Recent… lists the newest first.
    options = first.locator(".ohws-recent option").all_inner_texts()
    assert options[1] == "[text] /bytes 5000" and options[-1] == "[text] hello panel"

    # The search is a regular expression; the kind filters narrow the list.
    first.locator(".ohws-search").fill("^message hel+o")
    expect(first.locator(".ohws-row")).to_have_count(4)  # sent, echo, sent again, echo
    first.locator(".ohws-search").fill("")
    first.locator(".ohws-filter").select_option("binary")
    expect(first.locator(".ohws-row")).to_have_count(1)
    expect(second.locator(".ohws-row")).to_have_count(1)  # a shared trait
    first.locator(".ohws-filter").select_option("all")

    # Copy puts the whole message on the clipboard.
    first.locator(".ohws-row.ohws-type-json.ohws-dir-received").click()
    detail.locator(".ohws-copy").click()
    expect(detail.locator(".ohws-copied")).to_have_text("copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == json.dumps(json.loads(JSON_TEXT), separators=(",", ":"))
    _shot(first, "panel-messages-light")


def test_close_code_mistakes_and_last_error(lab: Lab, page: Any) -> None:
    """A close code that is not a whole number is refused in one line; a later success clears it."""
    from playwright.sync_api import expect

    first = _client(page)
    first.locator(".ohws-code").fill("1000.5")
    first.locator(".ohws-close").click()
    expect(first.locator(".ohws-last-error")).to_have_text(
        "last error: not closed: close code '1000.5' is not a whole number; "
        "use 1000, or 3000-4999 for your own codes"
    )
    expect(first.locator(".ohws-badge")).to_have_text("OPEN")
    first.locator(".ohws-input").fill("still here")
    first.locator(".ohws-send").click()
    expect(first.locator(".ohws-last-error")).to_have_text("")
    # After a send the composer keeps what was sent, in both panels (see the server's test).
    expect(first.locator(".ohws-row.ohws-dir-sent .ohws-text").last).to_have_text("still here")
    expect(first.locator(".ohws-input")).to_have_value("still here")
    first.locator(".ohws-code").fill("")


def test_handshake_view(lab: Lab, page: Any) -> None:
    """Every request header as sent, response headers, status, subprotocol,
    extensions, time to open."""
    from playwright.sync_api import expect

    first = _client(page)
    _view(first, "handshake")
    view = first.locator(".ohws-handshake")
    expect(view).to_contain_text("101 Switching Protocols")
    expect(view.locator("th", has_text="Sec-WebSocket-Accept").locator("xpath=..")).to_contain_text(
        "***"
    )
    request = view.locator(".ohws-hs-col").first
    expect(request.locator(".ohws-field-name").nth(2)).to_have_text(
        "headers as sent (credentials masked; ✎ yours)"
    )
    sent = json.loads(lab.run("import json; print(json.dumps(ws.requestHeaders))"))
    assert sent["Sec-WebSocket-Key"] == "***" and sent["Upgrade"] == "websocket"
    expect(request.locator("tr th")).to_have_text(list(sent))
    expect(request.locator("tr td:nth-child(2)")).to_have_text(list(sent.values()))
    expect(request.locator("tr.ohws-header-yours")).to_have_count(0)  # none of them is yours
    expect(view.locator(".ohws-field", has_text="time to open")).to_contain_text(
        re.compile(r"\d+\.\d ms")
    )
    expect(view.locator(".ohws-field", has_text="extensions")).to_contain_text("permessage-deflate")
    # In each column the header values start where the values above them start.
    starts = view.evaluate(
        """(v) => [...v.querySelectorAll('.ohws-hs-col')].map((col) => [
            ...col.querySelectorAll('.ohws-field-value'),
            ...col.querySelectorAll('.ohws-headers tr td:nth-child(2)'),
        ].map((e) => e.getBoundingClientRect().left))"""
    )
    assert len(starts) == 2 and all(len(col) > 3 for col in starts), starts
    for col in starts:
        assert max(col) - min(col) < 1, starts
    _shot(first, "panel-handshake-light")


def test_timeline_view(lab: Lab, page: Any) -> None:
    """The sequence diagram: upgrade, messages with their pieces and dataEnd, both close frames."""
    from playwright.sync_api import expect

    first = _client(page)
    _view(first, "timeline")
    svg = first.locator(".ohws-timeline-view")
    expect(svg.locator(".ohws-lane-name")).to_have_text(
        ["client (this notebook)", re.compile(r"^server 127\.0\.0\.1:\d+$")]
    )
    labels = svg.locator(".ohws-step-label")
    expect(labels.first).to_have_text(re.compile(r"^GET / · Upgrade: websocket$"))
    expect(labels.nth(1)).to_have_text("101 Switching Protocols")
    binary = svg.locator(".ohws-step", has_text="binary · 4.9 KiB · 2 pieces")
    expect(binary.locator(".ohws-piece")).to_have_count(1)  # one boundary: two pieces
    expect(binary.locator(".ohws-dataend")).to_have_count(1)
    expect(binary.locator(".ohws-dataend-label")).to_have_text("dataEnd")
    binary.hover()
    expect(first.locator(".ohws-hover")).to_contain_text("received message · 00 01 02 03")
    steps = lab.run("print(len(panel.timeline))")
    expect(svg.locator(".ohws-step")).to_have_count(int(steps))
    _ticks_clear_of_labels(first)
    _shot(first, "panel-timeline-light")
    _tour_shots(page, "light")


def _ticks_clear_of_labels(panel: Any) -> None:
    """No 4K-piece tick of a timeline arrow touches the text of any label."""
    crossed = panel.evaluate(
        """(el) => {
            const boxes = (sel) => [...el.querySelectorAll(sel)].map((n) => n.getBBox());
            const labels = boxes('.ohws-step-label, .ohws-step-time, .ohws-dataend-label');
            const ticks = boxes('.ohws-piece');
            const meet = (a, b) => a.x <= b.x + b.width && b.x <= a.x + a.width
                && a.y <= b.y + b.height && b.y <= a.y + a.height;
            return {ticks: ticks.length,
                    crossed: ticks.filter((t) => labels.some((l) => meet(t, l))).length};
        }"""
    )
    assert crossed["ticks"] > 0 and crossed["crossed"] == 0, crossed


def _rates_fill_the_view(panel: Any) -> None:
    """The rate charts fill the view: across its width, and down to near its bottom."""
    fill = panel.evaluate(
        """(el) => {
            const view = el.querySelector('.ohws-view').getBoundingClientRect();
            const charts = [...el.querySelectorAll('.ohws-chart')].map(
                (c) => c.getBoundingClientRect());
            return {left: Math.min(...charts.map((c) => c.left)) - view.left,
                    right: view.right - Math.max(...charts.map((c) => c.right)),
                    bottom: view.bottom - Math.max(...charts.map((c) => c.bottom))};
        }"""
    )
    assert fill["left"] < 10 and fill["right"] < 20 and 0 <= fill["bottom"] < 60, fill


def test_rates_view(lab: Lab, page: Any) -> None:
    """Messages/s and bytes/s over the last minute, and the keepalive round trip,
    with the keepalive ping/pong in the list and the timeline."""
    from playwright.sync_api import expect

    first = _client(page)
    try:
        _rates_view_checks(lab, first)
    finally:
        # Back to the messages view and the default keepalive, so the tests after
        # this one measure and read a list that only their own traffic changes.
        _view(first, "messages")
        lab.run("ws.close().result(10)\nws.connect(lab.url).result(10)")
    expect(first.locator(".ohws-badge")).to_have_text("OPEN")


def _rates_view_checks(lab: Lab, first: Any) -> None:
    from playwright.sync_api import expect

    _view(first, "rates")
    charts = first.locator(".ohws-chart-box")
    expect(charts.locator(".ohws-chart-title")).to_have_text(
        ["messages per second", "bytes per second", "keepalive round trip"]
    )
    expect(charts.nth(0).locator("rect.ohws-bar-in")).not_to_have_count(0)
    expect(charts.nth(0).locator("rect.ohws-bar-out")).not_to_have_count(0)
    rates = json.loads(lab.run("import json; print(json.dumps(panel.rates))"))
    assert sum(rates["messagesIn"]) == int(lab.run("print(ws.stats.messagesIn)"))
    expect(charts.nth(2)).to_contain_text("no keepalive round trip reported yet")
    # Reconnect with a keepalive ping every 0.3 s: the round trips are drawn live.
    lab.run(
        "ws.close().result(10)\n"
        "ws.connect(lab.url, {'pingInterval': 0.3}).result(10)\n"
        "import time\n"
        "deadline = time.monotonic() + 10\n"
        "while ws.stats.pingRoundTrip is None and time.monotonic() < deadline: time.sleep(0.05)\n"
        "assert ws.stats.pingRoundTrip is not None"
    )
    expect(charts.nth(2).locator("rect.ohws-bar-rtt")).not_to_have_count(0)
    now = charts.nth(2).locator(".ohws-chart-now")
    expect(now).to_contain_text(re.compile(r"latest \d+\.\d ms"))
    expect(charts.nth(0).locator(".ohws-legend-item")).to_have_text(["↓ received", "↑ sent"])
    expect(charts.nth(2).locator(".ohws-legend-item")).to_have_text(
        ["round trip of a keepalive ping"]
    )
    # The legend's swatches are drawn as the bars are.
    # Read from the panel at the moment of reading: each refresh draws the charts
    # anew, so a chart found earlier may be detached (no computed style) by then.
    colours_js = """(el) => {
        const box = el.querySelector('.ohws-chart-box');
        return ['in', 'out'].map((k) => [
            getComputedStyle(box.querySelector(`.ohws-legend rect.ohws-bar-${k}`)).fill,
            getComputedStyle(box.querySelector(`.ohws-chart rect.ohws-bar-${k}`)).fill]);
    }"""
    colours = first.evaluate(colours_js)
    assert all(legend == bar for legend, bar in colours) and colours[0] != colours[1], colours
    _rates_fill_the_view(first)
    _shot(first, "panel-rates-light")
    _view(first, "messages")
    pong = first.locator(".ohws-row.ohws-kind-pong").last
    expect(pong.locator(".ohws-dir")).to_have_text("↓")
    expect(pong.locator(".ohws-text")).to_have_text(re.compile(r"^pong round trip \d+\.\d ms$"))
    _view(first, "timeline")
    expect(first.locator(".ohws-step-label", has_text=re.compile(r"^Pong · ")).last).to_have_text(
        re.compile(r"^Pong · \d+\.\d ms$")
    )


def _in_sight(panel: Any, box: str, item: str) -> bool:
    """Whether ``item`` (inside the scrolling ``box``) is at least partly in sight."""
    return panel.evaluate(
        """(el, [box, item]) => {
            const b = el.querySelector(box).getBoundingClientRect();
            const i = el.querySelector(item);
            if (!i) return false;
            const r = i.getBoundingClientRect();
            return r.bottom > b.top && r.top < b.bottom;
        }""",
        [box, item],
    )


def _more_traffic(lab: Lab, count: int) -> None:
    """``count`` more echoed messages in the first panel's log."""
    lab.run(
        "import time\n"
        "n0 = ws.stats.messagesIn\n"
        f"for i in range({count}): ws.send(f'more {{i}}')\n"
        "deadline = time.monotonic() + 30\n"
        f"while ws.stats.messagesIn < n0 + {count} and time.monotonic() < deadline: "
        "time.sleep(0.02)\n"
        f"assert ws.stats.messagesIn >= n0 + {count}"
    )


def test_filter_bar_selection_and_plurals(lab: Lab, page: Any) -> None:
    """The filter bar shows where it acts, the timeline obeys it too; a selected entry
    stays in sight while new ones arrive (a keepalive ping every second); 1 msg, 1 key."""
    from playwright.sync_api import expect

    first = _client(page)
    bar = first.locator(".ohws-filterbar")
    lab.run(
        "ws.close().result(10)\n"
        "ws.connect(lab.url, {'pingInterval': 1}).result(10)\n"
        'ws.send(\'{"only": {"one": 1}}\').result(10)'
    )
    expect(first.locator(".ohws-badge")).to_have_text("OPEN")
    expect(first.locator(".ohws-row.ohws-kind-pong")).not_to_have_count(0, timeout=15_000)
    for view in ("handshake", "rates", "timeline", "messages"):
        _view(first, view)
        if view in ("timeline", "messages"):
            expect(bar).to_be_visible()
        else:
            expect(bar).to_be_hidden()

    # JSON only: no ping, pong, open or close arrow in the timeline either.
    first.locator(".ohws-filter").select_option("json")
    _view(first, "timeline")
    steps = first.locator(".ohws-step")
    expect(steps.first).to_be_visible()
    labels = steps.locator(".ohws-step-label").all_text_contents()
    assert labels and all(label.startswith("json · ") for label in labels), labels
    arrows = json.loads(lab.run("print(json.dumps([t['label'] for t in panel.timeline]))"))
    assert arrows == labels  # the model's timeline is the view's
    first.locator(".ohws-filter").select_option("all")
    expect(first.locator(".ohws-step.ohws-step-keepalive")).not_to_have_count(0)

    # A JSON object of one key says "1 key".
    _view(first, "messages")
    first.locator(".ohws-row.ohws-type-json.ohws-dir-received").last.click()
    summaries = first.locator(".ohws-detail .ohws-json summary")
    expect(summaries).to_have_text(["{…} 1 key", "only: {…} 1 key"])

    # The selected message stays in sight while pings, pongs and messages arrive.
    _more_traffic(lab, 30)
    target = first.locator(".ohws-row.ohws-dir-received").last
    target.click()
    expect(target).to_have_class(re.compile("ohws-selected"))
    seq = target.get_attribute("data-seq")
    _more_traffic(lab, 40)
    pongs = int(lab.run("print(sum(r.kind == 'pong' for r in ws.history()))"))
    deadline = time.monotonic() + 10
    while int(lab.run("print(sum(r.kind == 'pong' for r in ws.history()))")) < pongs + 2:
        assert time.monotonic() < deadline, "no keepalive pong within 10 s (pingInterval 1)"
        time.sleep(0.2)
    expect(first.locator(".ohws-row.ohws-kind-pong").last).to_be_visible()  # drawn, if scrolled to
    assert _in_sight(first, ".ohws-list", f'.ohws-row[data-seq="{seq}"]')
    # The same in the timeline: its arrow stays in sight.
    _view(first, "timeline")
    arrow = f'.ohws-step[data-seq="{seq}"]'
    expect(first.locator(arrow)).to_have_class(re.compile("ohws-selected"))  # brought into sight
    assert _in_sight(first, ".ohws-timeline", arrow)
    _more_traffic(lab, 40)
    assert _in_sight(first, ".ohws-timeline", arrow)
    _view(first, "messages")

    # Counters say "1 msg": the markup peer's panel received one message.
    expect(_evil(page).locator(".ohws-count-in")).to_have_text(re.compile(r"^↓ in 1 msg · "))
    lab.run("ws.close().result(10)\nws.connect(lab.url).result(10)\npanel.selected = -1")
    expect(first.locator(".ohws-badge")).to_have_text("OPEN")


def test_full_window_renders_and_views_switch_fast(lab: Lab, page: Any) -> None:
    """A full 1,000-entry window renders, and each view switch draws, in under 100 ms."""
    from playwright.sync_api import expect

    first = _client(page)
    lab.run(
        "import time\n"
        "n0 = ws.stats.messagesIn\n"
        "for i in range(520): ws.send(f'load {i}: ' + 'x' * (i % 90))\n"
        "deadline = time.monotonic() + 30\n"
        "while ws.stats.messagesIn < n0 + 520 and time.monotonic() < deadline: time.sleep(0.02)\n"
        "assert ws.stats.messagesIn >= n0 + 520"
    )
    expect(first.locator(".ohws-loginfo")).to_contain_text("1000 shown of 1000")
    # Each figure is the median of three rounds, so one garbage collection or a
    # busy machine's scheduler does not decide the result.
    timings = first.evaluate(
        """(el) => {
            const rounds = [];
            const filter = el.querySelector('.ohws-filter');
            const set = (value) => {
                filter.value = value;
                filter.dispatchEvent(new Event('change'));
            };
            for (let round = 0; round < 3; round++) {
                const out = {};
                set('errors');
                let t0 = performance.now();
                set('all');  // the whole window filtered and drawn again, in both views
                void el.querySelector('.ohws-list').offsetHeight;  // layout included
                out.full = performance.now() - t0;
                for (const view of ['timeline', 'handshake', 'rates', 'messages']) {
                    t0 = performance.now();
                    el.querySelector(`.ohws-tab[data-view="${view}"]`).click();
                    void el.offsetHeight;
                    out[view] = performance.now() - t0;
                }
                rounds.push(out);
            }
            const median = {};
            for (const key of Object.keys(rounds[0])) {
                median[key] = rounds.map((r) => r[key]).sort((a, b) => a - b)[1];
            }
            median.info = el.querySelector('.ohws-loginfo').textContent;
            median.rows = el.querySelectorAll('.ohws-row').length;
            return median;
        }"""
    )
    print("browser timings (ms):", timings)
    assert timings["info"].startswith("1000 shown of 1000")
    assert 10 <= timings["rows"] <= 60  # only the rows in sight are drawn
    for name in ("full", "timeline", "handshake", "rates", "messages"):
        assert timings[name] < 100, timings


# -- markup from the network -------------------------------------------------------------


def test_markup_from_a_server_is_text_in_every_view(lab: Lab, page: Any) -> None:
    """A message, a response header, a close reason and the subprotocol, shown literally."""
    from playwright.sync_api import expect

    evil = _evil(page)
    expect(evil.locator(".ohws-badge")).to_have_text("CLOSED")
    expect(evil.locator(".ohws-row.ohws-dir-received .ohws-text")).to_have_text([EVIL])
    close = evil.locator(".ohws-row.ohws-kind-close")
    expect(close.locator(".ohws-text")).to_have_text(f"closed 4000 {EVIL}")
    close.click()
    expect(evil.locator(".ohws-detail .ohws-field", has_text="reason")).to_contain_text(EVIL)
    evil.locator(".ohws-row.ohws-dir-received").click()
    expect(evil.locator(".ohws-detail .ohws-detail-text")).to_have_text(EVIL)
    evil.locator(".ohws-row.ohws-kind-open").click()  # its detail lists the response headers
    detail_header = evil.locator(".ohws-detail tr", has=page.locator("th", has_text="X-Evil"))
    expect(detail_header.locator("td")).to_have_text(EVIL)
    expect(evil.locator(".ohws-row.ohws-kind-open .ohws-text")).to_have_text(
        f"open · protocol: {PROTO}"
    )
    _no_markup_ran(page)

    _view(evil, "handshake")
    view = evil.locator(".ohws-handshake")
    header = view.locator("tr", has=page.locator("th", has_text="X-Evil"))
    expect(header.locator("td")).to_have_text(EVIL)
    probe = view.locator("tr", has=page.locator("th", has_text="X-Probe"))
    expect(probe.locator("td")).to_have_text([EVIL, "✎"])  # a header you gave
    auth = view.locator("tr", has=page.locator("th", has_text="Authorization"))
    expect(auth.locator("td")).to_have_text(["***", "✎"])
    expect(view.locator("tr.ohws-header-yours th")).to_have_text(["Authorization", "X-Probe"])
    key = view.locator("tr", has=page.locator("th", has_text="Sec-WebSocket-Key"))
    expect(key.locator("td")).to_have_text(["***", ""])  # the library's
    for name in ("subprotocol", "subprotocols offered"):
        field = view.locator(".ohws-field", has=page.get_by_text(name, exact=True))
        expect(field.locator(".ohws-field-value")).to_have_text(PROTO)
    expect(evil.locator(".ohws-protocol")).to_have_text(f"protocol: {PROTO}")
    _shot(evil, "panel-xss-handshake-light")

    _view(evil, "timeline")
    labels = evil.locator(".ohws-step-label")
    expect(labels.nth(1)).to_have_text(f"101 Switching Protocols · {PROTO}")
    expect(evil.locator(".ohws-step-label", has_text="Close 4000")).to_have_text(
        [f"Close 4000 {EVIL}"[:80], "Close 4000 (reply)"]
    )
    evil.locator(".ohws-step", has_text="Close 4000 <img").hover()
    expect(evil.locator(".ohws-hover")).to_contain_text(EVIL)
    _view(evil, "rates")
    _view(evil, "messages")
    _no_markup_ran(page)
    shown = page.evaluate(
        "() => [...document.querySelectorAll('.ohws-panel')].map((p) => p.textContent).join(' ')"
    )
    assert "Bearer ***" not in shown and "s3cret" not in shown


# -- the tool bar: Export, Save transcript, Replay, Expect, and the reconnect countdown ------


def _tool(panel: Any, name: str) -> Any:
    """Open the pane of tool ``name`` (if it is not open); the pane."""
    from playwright.sync_api import expect

    button = panel.locator(f'.ohws-tool-btn[data-tool="{name}"]')
    if button.get_attribute("aria-pressed") != "true":
        button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    return panel.locator(f".ohws-tool-pane .ohws-tool-{name}")


def test_tool_bar_export_save_replay_expect(lab: Lab, page: Any) -> None:
    """Each button, the text it shows, and markup a server sent back shown as text."""
    from playwright.sync_api import expect

    tools = _tools(page)
    expect(tools.locator(".ohws-tool-btn")).to_have_text(
        ["Export", "Save transcript", "Replay", "Expect"]
    )
    expect(tools.locator(".ohws-tool-pane")).to_be_hidden()
    height = tools.evaluate("(el) => el.getBoundingClientRect().height")

    # Export: the code of the connection, the echoed markup in it as text.
    pane = _tool(tools, "export")
    code = pane.locator(".ohws-export-code")
    expect(code).to_contain_text("const ws = new WebSocket(")
    expect(code).to_contain_text(json.dumps(EVIL))
    expect(code).to_contain_text("//   Authorization: ***  (masked: put the real value here)")
    pane.locator(".ohws-export-format").select_option("python")
    expect(code).to_contain_text(f"    {EVIL!r},")
    expect(code).to_contain_text("URL = 'ws://127.0.0.1:")
    assert lab.run("print(tools.export_format)").strip() == "python"
    whole = lab.run("print(tools.export_text, end='')")
    assert code.inner_text().strip() == whole.strip()
    pane.locator(".ohws-export-copy").click()
    expect(pane.locator(".ohws-export-copied")).to_have_text("copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == whole
    for fmt, line in [
        ("wscat", "wscat -c 'ws://127.0.0.1:"),
        ("websocat", "websocat --linemode-strip-newlines"),
        ("arkts", "let ws = webSocket.createWebSocket();"),
    ]:
        pane.locator(".ohws-export-format").select_option(fmt)
        expect(code).to_contain_text(line)
        assert lab.run("print(tools.export_format)").strip() == fmt
    pane_height = tools.locator(".ohws-tool-pane").evaluate("(el) => el.offsetHeight")
    opened = tools.evaluate("(el) => el.getBoundingClientRect().height")
    assert opened == pytest.approx(height + pane_height, abs=6)  # the pane, and nothing else
    _no_markup_ran(page)
    _shot(tools, "panel-tools-export-light")

    # Save transcript: a download of the file, credentials masked.
    pane = _tool(tools, "transcript")
    pane.locator(".ohws-transcript-format").select_option("har")
    with page.expect_download() as download:
        pane.locator(".ohws-transcript-save").click()
    name = download.value.suggested_filename
    assert re.fullmatch(r"websocket-\d{8}-\d{6}\.har", name)
    text = pathlib.Path(download.value.path()).read_text()
    har = json.loads(text)
    (entry,) = har["log"]["entries"]
    messages = [(m["type"], m["data"]) for m in entry["_webSocketMessages"]]
    sent_and_echoed = [(kind, text) for text in ("hello", EVIL) for kind in ("send", "receive")]
    assert messages[:4] == sent_and_echoed
    assert "s3cret" not in text and "t0ken" not in text
    expect(pane.locator(".ohws-transcript-info")).to_have_text(
        re.compile(rf"^{re.escape(name)} · [\d.]+ (B|KiB) · \d+ records, 6 of them messages$")
    )
    pane.locator(".ohws-transcript-format").select_option("jsonl")
    with page.expect_download() as download:
        pane.locator(".ohws-transcript-save").click()
    assert download.value.suggested_filename.endswith(".jsonl")
    lines = pathlib.Path(download.value.path()).read_text().splitlines()
    assert json.loads(lines[0])["format"] == "ohws-transcript" and "t0ken" not in lines[0]

    # Replay: against this connection's URL (the field's default), all ✓; against a
    # server that only echoes, the lab's "/text 12" reply differs.
    pane = _tool(tools, "replay")
    field = pane.locator(".ohws-replay-url")
    expect(field).to_have_value(re.compile(r"^ws://127\.0\.0\.1:\d+/tools\?token=\*\*\*$"))
    pane.locator(".ohws-replay-run").click()
    summary = pane.locator(".ohws-replay-summary")
    expect(summary).to_have_text(re.compile(r"^✓ replay of .*/tools\?token=\*\*\*: all 6 steps"))
    rows = pane.locator(".ohws-replay-table tbody tr")
    expect(rows).to_have_count(6)
    expect(rows.locator(".ohws-replay-mark")).to_have_text(["✓"] * 6)
    expect(rows.nth(3).locator(".ohws-replay-replayed")).to_have_text(EVIL)
    expect(pane.locator(".ohws-replay-table tfoot")).to_contain_text(
        "header Authorization was masked in the recording and is left out"
    )
    echo_port = lab.run("print(_port[0])").strip()
    field.fill(f"ws://127.0.0.1:{echo_port}")
    pane.locator(".ohws-replay-run").click()
    expect(summary).to_have_text(re.compile(r"^✗ replay of ws://127\.0\.0\.1:\d+: 1 of 6 steps"))
    bad = pane.locator(".ohws-replay-table tr.ohws-replay-row-bad")
    expect(bad).to_have_count(1)
    expect(bad.locator("td")).to_have_text(["6", "↓ received", "abcdefghijkl", "/text 12", "✗"])
    report = lab.run("print(tools.replay_result['ok'], len(tools.replay_result['rows']))")
    assert report.split() == ["False", "6"]
    assert tools.locator(".ohws-tool-pane").evaluate("(el) => el.offsetHeight") == pane_height
    _no_markup_ran(page)
    _shot(tools, "panel-tools-replay-light")

    # Expect: ✓ with the matching message, shown as text; ✗ with the last one received.
    pane = _tool(tools, "expect")
    pane.locator(".ohws-expect-text").fill("onerror=")
    pane.locator(".ohws-expect-timeout").fill("10")
    pane.locator(".ohws-expect-run").click()
    mark, line = pane.locator(".ohws-expect-mark"), pane.locator(".ohws-expect-line")
    expect(line).to_have_text("waiting up to 10 s for a message matching /onerror=/")
    expect(mark).to_have_text("…")
    tools.locator(".ohws-input").fill(EVIL)
    tools.locator(".ohws-send").click()
    expect(mark).to_have_text("✓")
    expect(line).to_have_text(
        re.compile(r"^a message matching /onerror=/: received after \d+\.\d\d s$")
    )
    expect(pane.locator(".ohws-expect-message")).to_have_text(EVIL)
    # It waits for the next message: send one that does not match while it waits.
    pane.locator(".ohws-expect-kind").select_option("json")
    pane.locator(".ohws-expect-text").fill('{"type": "left"}')
    pane.locator(".ohws-expect-timeout").fill("3")
    pane.locator(".ohws-expect-text").press("Enter")  # Enter runs it too
    expect(line).to_have_text('waiting up to 3 s for JSON containing {"type": "left"}')
    tools.locator(".ohws-send").click()
    expect(mark).to_have_text("✗")
    expect(line).to_have_text(
        f'expected JSON containing {{"type": "left"}} within 3 s, last received {EVIL!r}'
    )
    expect(pane.locator(".ohws-expect-message")).to_be_hidden()
    pane.locator(".ohws-expect-kind").select_option("regex")
    pane.locator(".ohws-expect-text").fill("(unclosed")
    pane.locator(".ohws-expect-run").click()
    expect(line).to_contain_text("not started: [401] Parameter error: '(unclosed' is not a regular")
    expect(mark).to_have_text("✗")
    _no_markup_ran(page)
    _shot(tools, "panel-tools-expect-light")


def test_reconnect_countdown_and_cancel(lab: Lab, page: Any) -> None:
    """The lab drops the connection: a live countdown and its wait on the timeline;
    Cancel closes; the panel keeps its height throughout."""
    from playwright.sync_api import expect

    tools = _tools(page)
    expect(tools.locator(".ohws-badge")).to_have_text("OPEN")
    _view(tools, "messages")
    box = tools.locator(".ohws-reconnect")
    expect(box).to_be_hidden()
    counters = tools.locator(".ohws-counters")
    row = counters.evaluate("(el) => el.getBoundingClientRect().height")
    lab.run("tools_ws.send('/drop').result(10)")
    line = box.locator(".ohws-reconnect-text")
    expect(line).to_have_text(re.compile(r"^reconnecting: attempt 1 in \d+\.\d s$"))
    first = float(line.inner_text().split()[-2])
    assert 25 < first <= 30
    expect(line).not_to_have_text(line.inner_text())  # it counts down, live
    second = float(line.inner_text().split()[-2])
    assert second < first
    # The countdown and its button fit the counters line: it keeps its height. (The
    # "last error" line of the drop above it is the panel's usual error line.)
    assert counters.evaluate("(el) => el.getBoundingClientRect().height") == row
    expect(tools.locator(".ohws-last-error")).to_contain_text("without a close frame (1006)")
    height = tools.evaluate("(el) => el.getBoundingClientRect().height")
    expect(box.locator(".ohws-reconnect-cancel")).to_be_visible()
    status = json.loads(lab.run("import json; print(json.dumps(tools.reconnect_status))"))
    assert {k: status[k] for k in ("state", "attempt", "attempts", "delay")} == {
        "state": "waiting",
        "attempt": 1,
        "attempts": 3,
        "delay": 30.0,
    }
    expect(tools.locator(".ohws-row.ohws-kind-reconnecting .ohws-text").last).to_have_text(
        "reconnecting attempt 1 of 3 in 30.0 s"
    )
    _view(tools, "timeline")
    expect(tools.locator(".ohws-step-reconnect .ohws-step-label").last).to_have_text(
        "reconnecting · attempt 1 of 3 in 30.0 s"
    )
    _shot(tools, "panel-reconnect-light")
    _view(tools, "messages")
    box.locator(".ohws-reconnect-cancel").click()
    expect(line).to_have_text("reconnecting cancelled")
    expect(box.locator(".ohws-reconnect-cancel")).to_be_hidden()
    assert lab.run("print(tools_ws.readyState, tools_ws.stats.connects)").split() == ["3", "1"]
    expect(tools.locator(".ohws-row.ohws-kind-reconnecting .ohws-text").last).to_have_text(
        "reconnecting cancelled"
    )
    assert tools.evaluate("(el) => el.getBoundingClientRect().height") == height
    expect(tools.locator(".ohws-last-error")).to_have_text(
        re.compile("the connection was lost without a close frame")
    )  # the drop; the cancel itself adds no error


# -- the server panel ---------------------------------------------------------------------


def test_server_panel_clients_and_messages(lab: Lab, page: Any) -> None:
    """Three clients in the table; the selected one's messages, list and detail."""
    from playwright.sync_api import expect

    panel = _server(page)
    expect(panel.locator(".ohws-badge")).to_have_text("RUNNING")
    expect(panel.locator(".ohws-server-url")).to_have_text(re.compile(r"^ws://127\.0\.0\.1:\d+$"))
    rows = panel.locator("tr.ohws-client")
    expect(rows).to_have_count(3)
    expect(rows.locator(".ohws-client-in")).to_have_text(["1 · 62 B", "1 · 76 B", "1 · 64 B"])
    expect(rows.locator(".ohws-client-state")).to_have_text(["open", "open", "open"])
    expect(panel.locator(".ohws-clients th")).to_have_text(
        ["client", "connected since", "in", "out", "round trip", "state"]
    )
    clients = json.loads(lab.run("import json; print(json.dumps(server_panel.clients))"))
    assert [c["messagesIn"] for c in clients] == [1, 1, 1]
    assert [c["address"] for c in clients] == rows.locator(".ohws-client-address").all_inner_texts()

    # The first client (selected by default) sent the markup.
    expect(panel.locator(".ohws-row.ohws-dir-received .ohws-text")).to_have_text([EVIL])
    rows.nth(1).click()
    expect(panel.locator(".ohws-row.ohws-dir-received .ohws-text")).to_have_text([JSON_TEXT])
    panel.locator(".ohws-row.ohws-dir-received").click()
    expect(panel.locator(".ohws-detail .ohws-json-string")).to_have_text(
        ['"frames"', '"close codes"']
    )
    assert lab.run("print(server_panel.client == server_panel.clients[1]['address'])") == "True\n"
    lab.run("server_panel.select_client(2)")
    expect(rows.nth(2)).to_have_class(re.compile("ohws-selected"))
    panel.locator(".ohws-row.ohws-dir-received").click()
    expect(panel.locator(".ohws-detail .ohws-hexdump")).to_have_text(hexdump(bytes(range(64))))

    # Send to the selected client, then to all; close one with a code and a reason.
    # Out counts every message the server sent: the echo mode's replies too.
    expect(rows.locator(".ohws-client-out")).to_have_text(["1 · 62 B", "1 · 76 B", "1 · 64 B"])
    panel.locator(".ohws-input").fill("to you")
    panel.locator(".ohws-send").click()
    sent = panel.locator(".ohws-row.ohws-dir-sent .ohws-text")
    expect(sent).to_have_text([re.compile(r"^00 01 02 03"), "to you"])
    expect(panel.locator(".ohws-input")).to_have_value("to you")  # kept, as in the client panel
    panel.locator(".ohws-input").fill("to everyone")
    panel.locator(".ohws-send-all").click()
    expect(rows.locator(".ohws-client-out")).to_have_text(["2 · 73 B", "2 · 87 B", "3 · 81 B"])
    lab.run("room.send('from code', room.listAllConnections()[1]).result(10)")
    expect(rows.nth(1).locator(".ohws-client-out")).to_have_text("3 · 96 B")
    assert (
        lab.run("print([m.stats.messagesIn for m in members])").strip() == "[2, 3, 3]"
    )  # echo + "to everyone" (+ "from code", + "to you")
    rows.nth(0).click()
    panel.locator(".ohws-code").fill("4002")
    panel.locator(".ohws-reason").fill(EVIL[:40])
    panel.locator(".ohws-close-client").click()
    expect(rows.nth(0).locator(".ohws-client-state")).to_have_text(f"closed 4002 {EVIL[:40]}")
    assert lab.run("print(members[0].stats.lastClose.code)").strip() == "4002"

    # A client closes itself with markup as its reason.
    lab.run("members[2].close({'code': 4001, 'reason': EVIL}).result(10)")
    expect(rows.nth(2).locator(".ohws-client-state")).to_have_text(f"closed 4001 {EVIL}")
    _no_markup_ran(page)
    rows.nth(2).click()
    _shot(panel, "server-messages-light")
    _view(panel, "timeline")
    steps = panel.locator(".ohws-step-label")
    expect(steps.first).to_have_text("GET / · Upgrade: websocket")
    expect(panel.locator(".ohws-step-label", has_text="Close 4001")).to_have_text(
        [f"Close 4001 {EVIL}"[:80], "Close 4001 (reply)"]
    )
    _shot(panel, "server-timeline-light")
    _view(panel, "messages")
    _no_markup_ran(page)


# -- reload and the dark theme --------------------------------------------------------------


def test_reload_dark_theme_and_saved_messages_survive(lab: Lab, page: Any) -> None:
    """After a reload (here into the dark theme) every view comes back from the kernel,
    with the saved messages; screenshots of each view in the dark theme."""
    from playwright.sync_api import expect

    page.keyboard.press("Control+s")
    expect(page.locator(".jp-mod-dirty")).to_have_count(0)
    lab.set_theme("JupyterLab Dark")
    page.reload()
    expect(page.locator(".ohws-panel")).to_have_count(6, timeout=60_000)
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    first = _client(page)
    expect(first.locator(".ohws-saved-send")).to_have_text(["▶ greeting"])
    expect(first.locator(".ohws-loginfo")).to_contain_text("1000 shown of 1000")
    expect(first.locator(".ohws-recent option").nth(1)).to_have_text(re.compile(r"still here"))
    first.locator(".ohws-input").fill("after the reload")
    first.locator(".ohws-send").click()
    expect(first.locator(".ohws-row.ohws-dir-received .ohws-text").last).to_have_text(
        "after the reload"
    )
    # Both arrows are legible on the dark background.
    background = first.evaluate("(el) => getComputedStyle(el).backgroundColor")
    for direction in ("sent", "received"):
        # Looked up at the moment of reading: a refresh draws the rows anew, and a
        # row found earlier may be detached (no computed style) by then.
        colour = first.evaluate(
            """(el, dir) => getComputedStyle(
                [...el.querySelectorAll(`.ohws-row.ohws-dir-${dir} .ohws-dir`)].pop()).color""",
            direction,
        )
        assert _contrast(colour, background) >= 4.5, (direction, colour, background)

    first.locator(".ohws-row.ohws-dir-received").last.click()
    for view in ("messages", "handshake", "timeline", "rates"):
        _view(first, view)
        if view == "rates":
            _rates_fill_the_view(first)  # from the first drawing on
        _shot(first, f"panel-{view}-dark")
    _view(first, "messages")
    server = _server(page)
    expect(server.locator("tr.ohws-client")).to_have_count(3)
    for view in ("messages", "timeline"):
        _view(server, view)
        _shot(server, f"server-{view}-dark")
    _view(server, "messages")
    _tour_shots(page, "dark")
    # The tool bar comes back as it was: the open pane with its result, the countdown's end.
    tools = _tools(page)
    expect(tools.locator('.ohws-tool-btn[data-tool="expect"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(tools.locator(".ohws-expect-mark")).to_have_text("✗")
    expect(tools.locator(".ohws-expect-text")).to_have_value("(unclosed")
    expect(tools.locator(".ohws-reconnect-text")).to_have_text("reconnecting cancelled")
    _shot(tools, "panel-tools-expect-dark")
    pane = _tool(tools, "replay")
    expect(pane.locator(".ohws-replay-table tbody tr")).to_have_count(6)
    expect(pane.locator(".ohws-replay-row-bad .ohws-replay-replayed")).to_have_text("/text 12")
    _shot(tools, "panel-tools-replay-dark")
    pane = _tool(tools, "export")
    expect(pane.locator(".ohws-export-code")).to_contain_text(json.dumps(EVIL))
    _view(_evil(page), "handshake")
    _shot(_evil(page), "panel-xss-handshake-dark")
    _view(_evil(page), "messages")
    _no_markup_ran(page)
    lab.set_theme("JupyterLab Light")


def test_stop_server_from_the_panel(lab: Lab, page: Any) -> None:
    """Stop server: the clients still open are closed with 1001."""
    from playwright.sync_api import expect

    panel = _server(page)
    panel.locator(".ohws-stop").click()
    expect(panel.locator(".ohws-badge")).to_have_text("STOPPED")
    expect(panel.locator("tr.ohws-client").nth(1).locator(".ohws-client-state")).to_have_text(
        re.compile(r"^closed 1001 server stopping$")
    )
    assert lab.run("print(members[1].stats.lastClose.code)").strip() == "1001"
    assert page.console_errors == [] or all("ohws" not in e for e in page.console_errors)


def _contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two ``rgb(...)``/``rgba(...)`` colours."""

    def parse(css: str) -> tuple[float, ...]:
        return tuple(float(x) for x in re.findall(r"[\d.]+", css)[:3])

    def luminance(rgb: tuple[float, ...]) -> float:
        def channel(c: float) -> float:
            c /= 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    a, b = sorted((luminance(parse(fg)), luminance(parse(bg))), reverse=True)
    return (a + 0.05) / (b + 0.05)
