"""``python -m ohws_jupyter serve`` as a real subprocess on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Recorder
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ohws_jupyter import CloseResult, createWebSocket
from ohws_jupyter.__main__ import build_parser, main

TIMEOUT = 10
ROOT = Path(__file__).resolve().parent.parent


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "ohws_jupyter", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = _spawn(*getattr(request, "param", ()))
    try:
        # readline blocks until the first line; the process prints it as soon as it listens.
        url = proc.stdout.readline().strip() if proc.stdout else ""
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=TIMEOUT)


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT + 20)
    return proc.returncode, out, err


def test_serve_prints_url_echoes_and_stops_cleanly_on_sigint(
    serve: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = serve
    assert url.startswith("ws://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
    with connect(url, open_timeout=TIMEOUT) as theirs:
        theirs.send("hello")
        assert theirs.recv(TIMEOUT) == "hello"
        ws = createWebSocket()
        rec = Recorder(ws)
        ws.connect(url).result(TIMEOUT)
        ws.send(b"\x01\x02")
        rec.wait("message")
        assert rec.values("message") == [b"\x01\x02"]
        code, out, err = _stop(proc)
        with pytest.raises(ConnectionClosed) as closed:
            theirs.recv(TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    rec.wait("close")
    assert rec.values("close") == [CloseResult(1001, "server stopping")]
    assert code == 0, err
    assert out == ""  # the URL was the only line on stdout
    lines = err.splitlines()
    assert any("= connect 127.0.0.1:" in line for line in lines)
    assert any("text 5 chars: 'hello'" in line for line in lines)
    assert any("binary 2 bytes: 01 02" in line for line in lines)
    assert any("= stopped" in line for line in lines)
    assert all(line[:2].isdigit() and line[2] == ":" for line in lines)  # timestamps


@pytest.mark.parametrize("serve", [("--mode", "lab", "--port", "0")], indirect=True)
def test_serve_lab_mode(serve: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = serve
    with connect(url, open_timeout=TIMEOUT) as conn:
        conn.send("/bytes 3")
        assert conn.recv(TIMEOUT) == b"\x00\x01\x02"
        conn.send("/close 4001 kicked")
        with pytest.raises(ConnectionClosed) as closed:
            conn.recv(TIMEOUT)
    assert closed.value.rcvd.code == 4001 and closed.value.rcvd.reason == "kicked"
    code, _, err = _stop(proc)
    assert code == 0, err


def test_sigterm_stops_cleanly_too() -> None:
    proc = _spawn("--mode", "broadcast", "--quiet")
    try:
        url = proc.stdout.readline().strip() if proc.stdout else ""
        with connect(url, open_timeout=TIMEOUT) as conn:
            conn.send("room")
            assert conn.recv(TIMEOUT) == "room"
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                conn.recv(TIMEOUT)
        assert closed.value.rcvd.code == 1001
        _, err = proc.communicate(timeout=TIMEOUT + 20)
        assert proc.returncode == 0, err
        assert "room" not in err  # --quiet logs no messages
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)


@contextlib.contextmanager
def _spawn_and_url() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = _spawn()
    try:
        yield proc, (proc.stdout.readline().strip() if proc.stdout else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)


def test_port_in_use_exits_with_a_message() -> None:
    with _spawn_and_url() as (first, url):
        port = url.rsplit(":", 1)[1]
        proc = _spawn("--port", port)
        out, err = proc.communicate(timeout=TIMEOUT + 20)
        assert proc.returncode == 2
        assert out == ""
        assert "Port already in use" in err and port in err
        _stop(first)


def test_parser_has_subcommands_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["serve"])
    assert (args.host, args.port, args.mode) == ("127.0.0.1", 0, "echo")
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "--mode {echo,broadcast,lab}" in text and "/noping" in text
    with pytest.raises(SystemExit) as bad:
        main(["serve", "--mode", "chaos"])
    assert bad.value.code == 2
