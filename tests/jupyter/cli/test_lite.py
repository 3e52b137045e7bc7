"""The JupyterLite site in a real browser, offline: every notebook, cell by cell.

The test builds the site with ``python -m ohws_jupyter lite`` (kept between
runs, keyed by everything that goes into it; downloads are cached by the
build itself), serves it on 127.0.0.1 and opens each notebook in Debian's
Chromium. Every request to anything but 127.0.0.1 is blocked and counted,
by Playwright for the page and its workers and by Chromium's host resolver
as well: the count must stay 0. Each code cell runs on its own and must
leave no error output. Then a few notebooks get one more cell each: in the
quickstart it connects from the page to a real server (``python -m
ohws_jupyter serve``) through the browser's WebSocket; after the magics it
waits by blocking (``result()``, ``Wakeup``, ``block_on``), which in a page
suspends Python while the page's loop runs; after the panel it makes the
connection work while no cell runs, and the panel in the page must show it,
then its Close button must close the connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from ohws_jupyter.cli import lite, lite_output
from tests.helpers import ROOT, without_portability_warnings
from tests.helpers.browser import CHROMIUM
from tests.helpers.browser import CHROMIUM_ARGS as BROWSER_ARGS

pytestmark = [pytest.mark.lite, pytest.mark.timeout(600)]

REPO = ROOT
NOTEBOOKS = REPO / "notebooks"
CHROMIUM_ARGS = [
    *BROWSER_ARGS,
    # A second wall behind the request counter: no name but 127.0.0.1 resolves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
#: Seconds the kernel may take to start (Pyodide's boot is ~15 s on 2 cores).
KERNEL_START = 180
#: Seconds one cell may run.
CELL_TIMEOUT = 60


#: What a lesson prints in the page when it makes its point, so that the test sees it
#: teach, not only run: notebook -> (text in a cell's source, text in that cell's output).
LESSON_OUTPUTS = {
    "00-on-the-wire.ipynb": [
        ("bold = await open_wire()", "opcode 8 code 1002"),
        ('frame_for(9, b"still there?")', "text FIN b'Hello, wire'"),
        ("/bytes 70000", "70000 bytes in a frame of 70010"),
        ('struct.pack("!H", 1000) + b"bye"', "then: the server closed the TCP connection"),
    ],
    "04-protocol-lab.ipynb": [
        ('commands = ["/fragments 3 abcdef"', "REFUSE: close code 1005 may not be sent"),
        ('commands = ["/fragments 3 abcdef"', "/fragments 3 abcdef  [(1, '-', b'ab')"),
    ],
    "05-arkts-to-python.ipynb": [
        ('await ws.send("/text 10000")', "after pieces of [4096, 4096, 1808] bytes"),
        ('failed.on("error", on_error)', "on error, error: {'code': 200"),
        ('failed.on("error", on_error)', "'data': '0'}"),
        ("page.about_to_disappear()", "the server saw (1001, 'page closed')"),
        ("createWebSocket(profile=name)", "seed   close code 4000, reason ''"),
        ("createWebSocket(profile=name)", "device close code 1000, reason 'CLOSE_NORMAL'"),
        ('check_async("fetch_long"', "fetch_long: not done yet (the reference answer passes"),
        ('check_async("probe"', "probe: not done yet (the reference answer passes"),
        ('check("join_arkts"', "join_arkts: not done yet (the reference answer passes"),
        ('check("greeter_arkts"', "greeter_arkts: not done yet (the reference answer passes"),
    ],
    "07-heartbeats-and-reconnecting.ipynb": [
        ("pongTimeout", "keepalive on:  ['Websocket connection error"),
        ('await client.send("/drop")', "ids after the drop: no prediction written"),
        ('await client.send("/restart 0.5")', "received: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"),
        ("await dropped(as_profile(name)", "the 'close' after /drop: {'seed': 1006, 'device': 0}"),
        (
            "await one_attempt(as_profile(name))",
            "connect to a server that is down: {'seed': 'rejects', 'device': 'resolves'}",
        ),
    ],
    "08-security.ipynb": [
        ("caPath", "401 Parameter error: caPath cannot be used in the browser"),
        ("careless = ", "the impostor read the token: True"),
        ("await origin_sent(", "Origin: {'seed': None, 'device': 'http://127.0.0.1'}"),
        ("def first_message", "silent:          ['closed 1008: no ticket in time']"),
        ("async def guess_sizes", "the smaller guess: no prediction written"),
    ],
    "09-application-protocol.ipynb": [
        ('timed("slow", delay=0.3)', "replies arrived in the order ['fast', 'slow']"),
    ],
    "11-websocket-today.ipynb": [
        ("conversation = websocket_over_h2()", ":status: 200"),
        ("conversation = websocket_over_h2()", "a WebSocket frame: opcode 1, masked, 'Hello'"),
        ('check("parse_sse"', "parse_sse: not done yet (the reference answer passes"),
        ('check("extended_connect"', "(':authority', 'server.example:8443')"),
        ("class Bus", "{'a1': ['hi'], 'a2': ['hi'], 'b1': ['hi'], 'b2': ['hi']}"),
    ],
    "10-backpressure-and-broadcast.ipynb": [
        ('await writer.send("/pause 2")', "sends resolved while the reader pauses: no prediction"),
        ("websockets_connect", "the server recorded 1008 for slow; slow itself saw 1006"),
        ("maxConcurrentClientsNumber", "CloseResult(code=1013"),
        (
            "await full_room(as_profile(name))",
            "{'seed': ['open', 'close 1013'], 'device': ['error 200']}",
        ),
    ],
}


def _in_the_site() -> list[str]:
    return [
        path.name
        for path in sorted(NOTEBOOKS.glob("*.ipynb"))
        if lite.browser_notebook(path)[0] is not None
    ]


def test_every_lesson_whose_point_is_checked_is_in_the_site() -> None:
    # A notebook left out of the site would skip its checks above without a word.
    assert sorted(set(LESSON_OUTPUTS) - set(_in_the_site())) == []


# -- the site --------------------------------------------------------------------------
def _inputs_key() -> str:
    """A digest of everything the site is built from."""
    digest = hashlib.sha256()
    files = [REPO / "pyproject.toml", *sorted(NOTEBOOKS.glob("*.ipynb"))]
    files += sorted(p for p in (REPO / "ohws_jupyter").rglob("*") if p.is_file())
    files += sorted(p for p in NOTEBOOKS.glob("*/*") if p.is_file())  # the lessons' certificates
    for path in files:
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    for name in ("jupyterlite-core", "jupyterlite-pyodide-kernel", *lite.LITE_PACKAGES):
        digest.update(f"{name}={importlib.metadata.version(name)}".encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="module")
def site() -> pathlib.Path:
    """The built site, reused while nothing it is built from has changed."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    pytest.importorskip("jupyterlite_core")
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (the build takes Pyodide from npm)")
    root = lite.default_cache() / "test-sites"
    folder = root / _inputs_key()
    stamp = folder / ".built"
    if not stamp.is_file():
        if root.is_dir():
            shutil.rmtree(root)  # older inputs: not needed any more
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "ohws_jupyter", "lite", "--output", str(folder)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=True,
            timeout=900,
        )
        stamp.write_text(f"built in {time.monotonic() - started:.0f} s\n")
    return folder


@pytest.fixture(scope="module")
def site_url(site: pathlib.Path) -> Iterator[str]:
    server = lite.serve(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``python -m ohws_jupyter serve`` on 127.0.0.1, its log in a file."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ohws_jupyter", "serve", "--port", "0"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("ws://127.0.0.1:"), url
        yield {"url": url, "log": log}
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def browser(site: pathlib.Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class OfflinePage:
    """A fresh browser context on the site with every outside request blocked and counted."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.blocked: list[str] = []
        self.fetched: list[str] = []
        self.sockets: list[str] = []
        self.log: list[str] = []
        self.context = browser.new_context()
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("websocket", lambda ws: self.sockets.append(ws.url))
        self.page.on("pageerror", lambda exc: self.log.append(f"page error: {exc}"))
        self.page.on("console", lambda msg: self.log.append(f"{msg.type}: {msg.text}"))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urllib.parse.urlsplit(url).hostname != "127.0.0.1":
            self.blocked.append(url)
            route.abort()
            return
        self.fetched.append(url)
        if urllib.parse.urlsplit(url).path.endswith("/jupyter-lite.json"):
            # Let the test reach JupyterLab's API (the site itself does not expose it).
            response = route.fetch()
            config = response.json()
            config["jupyter-config-data"]["exposeAppInBrowser"] = "true"
            route.fulfill(response=response, json=config)
            return
        route.continue_()

    def close(self) -> None:
        self.context.close()


WAIT_FOR_KERNEL = """async (seconds) => {
  for (let i = 0; i < seconds * 10; i++) {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const session = panel && panel.sessionContext && panel.sessionContext.session;
    const kernel = session && session.kernel;
    if (kernel && kernel.status === "idle" && panel.content && panel.content.widgets.length) {
      return panel.content.widgets.length;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the kernel did not start within ${seconds} s`);
}"""

RUN_CELL = """async ([index, seconds]) => {
  const app = window.jupyterapp;
  const notebook = app.shell.currentWidget.content;
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  const cell = notebook.widgets[index];
  if (cell.model.type !== "code") return {type: cell.model.type};
  const run = app.commands.execute("notebook:run-cell");
  const timeout = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`cell ${index} ran over ${seconds} s`)), seconds * 1000));
  await Promise.race([run, timeout]);
  return {
    type: "code",
    source: cell.model.sharedModel.getSource(),
    count: cell.model.executionCount,
    outputs: cell.model.outputs.toJSON(),
  };
}"""

ADD_CELL = """async (source) => {
  const app = window.jupyterapp;
  const notebook = app.shell.currentWidget.content;
  notebook.activeCellIndex = notebook.widgets.length - 1;
  await app.commands.execute("notebook:insert-cell-below");
  notebook.activeCell.model.sharedModel.setSource(source);
  return notebook.activeCellIndex;
}"""


def _text(output: dict[str, Any]) -> str:
    kind = output["output_type"]
    if kind == "stream":
        text = output["text"]
        return "".join(text) if isinstance(text, list) else text
    if kind == "error":
        return f"{output['ename']}: {output['evalue']}"
    data = output.get("data", {}).get("text/plain", "")
    return "".join(data) if isinstance(data, list) else data


def _problems(result: dict[str, Any]) -> list[str]:
    """The error outputs of one cell: exceptions and anything written to stderr."""
    found = []
    for output in result["outputs"]:
        if output["output_type"] == "error":
            found.append(_text(output).strip())
        elif output["output_type"] == "stream" and output["name"] == "stderr":
            # The seed profile's PortabilityWarnings are advice, not errors.
            text = without_portability_warnings(_text(output)).strip()
            if text:
                found.append(text)
    return found


def _open(offline: OfflinePage, name: str) -> int:
    offline.page.goto(f"{offline.base}/lab/index.html?path={name}")
    offline.page.wait_for_function("() => !!window.jupyterapp", timeout=KERNEL_START * 1000)
    return int(offline.page.evaluate(WAIT_FOR_KERNEL, KERNEL_START))


def _run(offline: OfflinePage, index: int) -> dict[str, Any]:
    return offline.page.evaluate(RUN_CELL, [index, CELL_TIMEOUT])


def _check_offline(offline: OfflinePage) -> None:
    assert offline.blocked == [], f"requests left 127.0.0.1: {offline.blocked}"
    # The counter sees the kernel's worker too: Pyodide itself came through it.
    assert any(u.endswith("/static/pyodide/pyodide.asm.wasm") for u in offline.fetched)
    outside = [u for u in offline.sockets if urllib.parse.urlsplit(u).hostname != "127.0.0.1"]
    assert outside == []


@pytest.mark.parametrize("name", _in_the_site())
def test_every_cell_runs_offline_without_errors(
    browser: Any, site_url: str, real_server: dict[str, Any], name: str
) -> None:
    offline = OfflinePage(browser, site_url)
    try:
        started = time.monotonic()
        cells = _open(offline, name)
        ran, problems, printed = 0, [], {}
        for index in range(cells):
            result = _run(offline, index)
            if result["type"] != "code":
                continue
            ran += 1
            printed[result["source"]] = "".join(_text(o) for o in result["outputs"])
            assert result["count"] is not None, f"cell {index} did not run"
            for problem in _problems(result):
                head = result["source"].splitlines()[0] if result["source"] else ""
                problems.append(f"cell {index} ({head!r}): {problem}")
        assert problems == [], "\n".join(problems)
        assert ran > 0
        for needle, want in LESSON_OUTPUTS.get(name, []):
            out = "".join(o for src, o in printed.items() if needle in src)
            assert want in out, f"{name}: the cell with {needle!r} printed {out!r}"
        if name == "02-magics.ipynb":
            _block_in_the_page(offline)
        if name == "03-panel.ipynb":
            _panel_is_live_in_the_page(offline)
        if name == "01-quickstart.ipynb":
            # The OHOS example's callbacks print under their own cell, as in Jupyter.
            (example,) = [out for src, out in printed.items() if "ws.connect(defaultIp" in src]
            assert "connect success" in example
            assert "on message, message:Hello, server!" in example
            _reach_the_real_server(offline, real_server)
        _check_offline(offline)
        print(f"{name}: {ran} code cells in {time.monotonic() - started:.0f} s")
    finally:
        offline.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REAL_SERVER_CELL = """\
# The browser's own WebSocket, from the page to a real server on 127.0.0.1.
from ohws_jupyter import BusinessError, webSocket

real = webSocket.createWebSocket()
pieces = []
real.on("message", lambda value: pieces.append(value))
end = real.once("dataEnd")
print("connect", await real.connect({url!r}), type(real._session).__name__)
await real.send("é" * 5000)
await end
print("pieces", [len(p.encode()) for p in pieces])
binary = real.once("message")
await real.send(b"\\x00\\xff")
print("binary", await binary)
for options in ({{"header": {{"X-Token": "t"}}}}, {{"pingInterval": 5}}):
    try:
        await webSocket.createWebSocket().connect({url!r}, options)
    except BusinessError as err:
        print("refused", err.code, err.message)
try:
    await real.close({{"code": 1001}})
except BusinessError as err:
    print("close code refused", err.code, real.state.name)
try:
    await webSocket.createWebSocket().connect("ws://127.0.0.1:{closed_port}")
except BusinessError as err:
    print("unreachable", err.code, err.data)
closed = real.once("close")
await real.close({{"code": 4000, "reason": "from the page"}})
print("closed", await closed)
"""


def _reach_the_real_server(offline: OfflinePage, real_server: dict[str, Any]) -> None:
    """One more cell: from the page to ``python -m ohws_jupyter serve`` on 127.0.0.1."""
    source = REAL_SERVER_CELL.format(url=real_server["url"], closed_port=_free_port())
    index = offline.page.evaluate(ADD_CELL, source)
    result = _run(offline, index)
    assert _problems(result) == []
    printed = [o for o in result["outputs"] if o.get("name") != "stderr"]  # not warnings
    out = "".join(_text(o) for o in printed).splitlines()
    assert out[0] == "connect True BrowserSession"
    assert out[1] == "pieces [4096, 4096, 1808]"
    assert out[2] == "binary b'\\x00\\xff'"
    assert out[3].startswith("refused 401 Parameter error: a browser's WebSocket sends only")
    assert "X-Token" in out[3]
    assert out[4].startswith("refused 401 Parameter error: pingInterval cannot be set")
    assert out[5] == "close code refused 401 OPEN"
    assert out[6] == "unreachable 200 0"
    assert out[7] == "closed CloseResult(code=4000, reason='from the page')"
    assert real_server["url"] + "/" in offline.sockets  # the browser's own WebSocket
    # The server saw the same conversation.
    log_file = real_server["log"]
    deadline = time.monotonic() + 10
    while "from the page" not in log_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = log_file.read_text()
    assert "text 5000 chars" in log
    assert "binary 2 bytes: 00 ff" in log
    assert "4000 from the page" in log


def test_the_command_builds_and_serves_on_127_0_0_1(site: pathlib.Path, tmp_path: Any) -> None:
    # Built into a publishing checkout: its .git and the user's files stay as they are.
    output = tmp_path / "site"
    (output / ".git").mkdir(parents=True)
    (output / ".git" / "HEAD").write_text("ref: refs/heads/gh-pages\n")
    (output / "CNAME").write_text("ws.example.org\n")
    command = ["lite", "--output", str(output), "--serve", "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ohws_jupyter", *command],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()  # printed once built and listening
        parts = urllib.parse.urlsplit(url)
        assert (parts.hostname, parts.path) == ("127.0.0.1", "/lab/index.html"), url
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
        base = f"{parts.scheme}://{parts.netloc}"
        for path, kind in (
            ("/static/pyodide/pyodide.asm.wasm", "application/wasm"),
            ("/static/pyodide/pyodide.mjs", "text/javascript"),
        ):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                assert response.headers["Content-Type"] == kind
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        assert (output / ".git" / "HEAD").read_text() == "ref: refs/heads/gh-pages\n"
        assert (output / "CNAME").read_text() == "ws.example.org\n"
        written = json.loads((output / lite_output.MANIFEST).read_text("utf-8"))["files"]
        assert "lab/index.html" in written and "CNAME" not in written
        assert not any(name.startswith(".git/") for name in written)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


BLOCKING_CELL = """\
# Blocking waits in the page: Python is suspended while the page's loop runs.
import asyncio
import time

from ohws_jupyter import webSocket
from ohws_jupyter.engine.runtime import Wakeup, block_on, can_block

lab = webSocket.createWebSocketServer()
print("start", lab.start({"serverPort": 0, "mode": "lab"}).result(5))
sock = webSocket.createWebSocket()
print("connect", sock.connect(lab.url).result(5))
late = sock.once("message")
sock.send("/delay 0.3 late")
started = time.monotonic()
print("message", late.result(5), time.monotonic() - started > 0.25)
try:
    sock.once("message").result(0.2)
except TimeoutError as err:
    print("timeout", "still pending" in str(err))
nap = sock.once("message")
sock.send("/delay 0.1 nap")
time.sleep(0.5)  # Pyodide's time.sleep suspends too: the message arrives meanwhile
print("sleep", nap.done() and nap.result(0))
flag = Wakeup()
asyncio.get_running_loop().call_later(0.2, flag.set)
print("wakeup", flag.wait(5), flag.wait(0))
print("block_on", block_on(asyncio.sleep(0.1, "slept"), 5), can_block())
answers = []


def reply(value):
    if value == "ping":  # a callback that waits for its own send
        answers.append(sock.send("pong").result(5))


sock.on("message", reply)
pong = sock.expect("pong")
sock.send("ping")
print("callback", pong.result(5), answers)
print("close", sock.close({"code": 1000, "reason": "done"}).result(5), lab.stop().result(5))
"""


def _block_in_the_page(offline: OfflinePage) -> None:
    """One more cell: the blocking waits the magics use, directly."""
    index = offline.page.evaluate(ADD_CELL, BLOCKING_CELL)
    result = _run(offline, index)
    assert _problems(result) == []
    printed = [o for o in result["outputs"] if o.get("name") != "stderr"]
    assert "".join(_text(o) for o in printed).splitlines() == [
        "start True",
        "connect True",
        "message late True",
        "timeout True",
        "sleep nap",
        "wakeup True True",
        "block_on slept True",
        "callback pong [True]",
        "close True True",
    ]


LIVE_PANEL_CELL = """\
# While no cell runs: a new connection, and a message sent later by a timer.
import asyncio

again = webSocket.createWebSocketServer()
await again.start({"serverPort": 0, "mode": "echo"})
await ws.connect(again.url)
asyncio.get_running_loop().call_later(1.5, ws.send, "sent while no cell runs")
"""


def _panel_is_live_in_the_page(offline: OfflinePage) -> None:
    """The panel of 03 rendered, showed what the notebook did, and keeps up while idle."""
    page = offline.page
    panel = page.locator(".ohws-client-panel").first
    panel.wait_for(state="attached", timeout=10_000)  # anywidget's front end, from the site
    shown = panel.text_content() or ""
    assert "class is over" in shown  # the last thing the notebook did
    # Server text arrives as text: the literal characters, no element made of it.
    assert "<img src=x onerror=alert(1)> <script>alert(2)</script>" in shown
    assert panel.locator("img, script").count() == 0
    assert panel.locator(".ohws-badge").text_content() == "CLOSED"

    result = _run(offline, page.evaluate(ADD_CELL, LIVE_PANEL_CELL))
    assert _problems(result) == []
    # The timer fires after the cell and its settling are over: only the page's
    # loop runs it, and only the panel's own updates can show it.
    later = panel.locator(".ohws-row", has_text="sent while no cell runs")
    later.first.wait_for(state="attached", timeout=15_000)
    assert panel.locator(".ohws-badge").text_content() == "OPEN"
    # A click in the page reaches the kernel, which closes the connection.
    page.evaluate(SHOW_CELL, 1)
    panel.locator("button.ohws-close").click(timeout=10_000)
    page.wait_for_function(
        "(el) => el.textContent === 'CLOSED'",
        arg=panel.locator(".ohws-badge").element_handle(),
        timeout=15_000,
    )


SHOW_CELL = """(index) => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  notebook.activeCellIndex = index;
  return notebook.scrollToItem(index);
}"""
