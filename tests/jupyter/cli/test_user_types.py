"""What ``mypy --strict`` tells a user of the package: each call form has its own return
type, and an option dict with a misspelled key or a wrong type is an error before it runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.helpers import ROOT

api = pytest.importorskip("mypy.api")

GOOD = """
    from typing import Any, assert_type

    from ohws_jupyter import (
        Promise,
        WebSocketConnection,
        createWebSocket,
        createWebSocketServer,
    )


    async def client() -> None:
        ws = createWebSocket()
        assert_type(await ws.connect("ws://127.0.0.1:9", {"header": {"X-Token": "t"}}), bool)
        assert_type(ws.connect("ws://127.0.0.1:9", lambda err, value: None), None)
        assert_type(await ws.send("hi"), bool)
        assert_type(ws.send(b"hi", lambda err, ok: None), None)
        assert_type(await ws.close({"code": 1000, "reason": "bye"}), bool)
        ws.onOpen(lambda err, value: None)
        ws.on("message", lambda err, value: None)
        assert_type(ws.once("close"), Promise[Any])


    async def server(client: WebSocketConnection) -> None:
        server = createWebSocketServer()
        assert_type(await server.start({"serverPort": 0, "mode": "echo"}), bool)
        assert_type(await server.send("hi", {"clientIP": "127.0.0.1", "clientPort": 1}), bool)
        assert_type(server.close(client, {"code": 1000}, lambda err, ok: None), None)
        assert_type(await server.stop(), bool)
        server.onConnect(lambda connection: None)
"""

BAD = """
    from ohws_jupyter import createWebSocket, createWebSocketServer

    ws = createWebSocket()
    ws.connect("ws://127.0.0.1:9", {"heder": {"X-Token": "t"}})
    ws.close({"code": "1000"})
    createWebSocketServer().start({"serverPort": "8080"})
    ws.on("mesage", lambda err, value: None)
"""


def check(tmp_path: Path, source: str) -> list[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source), encoding="utf-8")
    out, err, _ = api.run(
        [
            "--strict",
            # assert_type(call, None) is how the callback forms are checked here.
            "--disable-error-code=func-returns-value",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-incremental",
            str(script),
        ]
    )
    assert not err, err
    return [line for line in out.splitlines() if ": error:" in line]


@pytest.fixture
def in_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    # The package as this checkout has it, not another copy installed elsewhere.
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MYPYPATH", str(ROOT))


def test_each_call_form_has_its_own_return_type(tmp_path: Path, in_checkout: None) -> None:
    assert check(tmp_path, GOOD) == []


def test_a_wrong_option_dict_is_an_error(tmp_path: Path, in_checkout: None) -> None:
    errors = check(tmp_path, BAD)
    lines = sorted({int(line.split(":")[1]) for line in errors})
    # A misspelled key, a code as text, a port as text, a misspelled event.
    assert lines == [5, 6, 7, 8], "\n".join(errors)
