"""The client against a third-party peer: a Node.js ``ws`` server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from ohws_jupyter import CloseResult, createWebSocket
from tests.helpers import ROOT, Recorder

PEERS = ROOT / "tests" / "peers"


class NodePeer:
    def __init__(self, proc: subprocess.Popen, port: int) -> None:
        self.proc, self.port = proc, port
        self.url = f"ws://127.0.0.1:{port}"
        self.lines: list[str] = []

    def read_line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        self.lines.append(line)
        return line


@pytest.fixture(scope="module")
def node_peer() -> Iterator[NodePeer]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are required in CI (.ci/run installs them)")
        pytest.skip("node/npm are not installed: the Node.js ws peer cannot run")
    if not (PEERS / "node_modules" / "ws").is_dir():
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent"],
            cwd=PEERS,
            check=True,
            timeout=300,
        )
    proc = subprocess.Popen(
        [node, str(PEERS / "ws_echo_server.js"), "300000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    try:
        yield NodePeer(proc, port)
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def ws():
    sock = createWebSocket()
    yield sock
    if sock.readyState in (0, 1):
        sock.close().result(10)


def test_text_and_binary_keep_their_types(ws, node_peer):
    rec = Recorder(ws)
    ws.connect(node_peer.url).result(10)
    assert "permessage-deflate" in ws.extensions
    ws.send("text").result(10)
    ws.send(b"\x00\xffbinary").result(10)
    rec.wait("dataEnd", 2)
    assert rec.values("message") == ["text", b"\x00\xffbinary"]


def test_one_mib_binary_echo_in_pieces(ws, node_peer):
    data = os.urandom(1024 * 1024)
    parts: list[bytes] = []
    ws.on("message", parts.append)
    rec = Recorder(ws)
    ws.connect(node_peer.url).result(10)
    ws.send(data).result(10)
    rec.wait("dataEnd", timeout=30)
    assert len(parts) == 256 and all(len(p) == 4096 for p in parts)
    assert hashlib.sha256(b"".join(parts)).digest() == hashlib.sha256(data).digest()


def test_fragmented_message_is_one_message(ws, node_peer):
    rec = Recorder(ws)
    ws.connect(node_peer.url, {"wholeMessages": True}).result(10)
    ws.send("frag").result(10)
    rec.wait("dataEnd")
    assert rec.values("message") == ["part one, part two, end"]


def test_large_text_from_the_peer_in_valid_pieces(ws, node_peer):
    rec = Recorder(ws)
    ws.connect(node_peer.url).result(10)
    ws.send("big 10240").result(10)
    rec.wait("dataEnd")
    assert [len(p) for p in rec.values("message")] == [4096, 4096, 2048]


def test_headers_and_subprotocol(ws, node_peer):
    rec = Recorder(ws)
    ws.connect(node_peer.url, {"header": {"X-Token": "abc"}, "protocol": "chat"}).result(10)
    assert ws.protocol == "chat"
    ws.send("headers").result(10)
    rec.wait("dataEnd")
    headers = json.loads(rec.values("message")[0])
    assert headers["x-token"] == "abc"
    assert headers["sec-websocket-protocol"] == "chat"


def test_close_codes_both_ways(ws, node_peer):
    rec = Recorder(ws)
    ws.connect(node_peer.url).result(10)
    ws.send("kick").result(10)
    rec.wait("close")
    assert rec.values("close") == [CloseResult(4001, "kicked")]
    ws.connect(node_peer.url).result(10)
    ws.close({"code": 4100, "reason": "from python"}).result(10)
    # The peer prints one line per closed connection; earlier tests' come first.
    for _ in range(50):
        if node_peer.read_line() == "closed 4100 from python":
            break
    else:
        pytest.fail(f"the peer did not report our close: {node_peer.lines}")
